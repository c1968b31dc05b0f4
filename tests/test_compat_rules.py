"""MC501-MC505 beyond their VALID/INVALID examples (tests/test_rule_examples.py runs those):
the edges of each rule's detection, fix text, selection, and the helpers they export."""

from __future__ import annotations

import textwrap

import pytest

from mcore_lint.engine import check_source
from mcore_lint.fix import fix_source
from mcore_lint.rules.registry import rule_by_code, select_rules
from mcore_lint.target import Target


def _src(code: str) -> str:
    return textwrap.dedent(code).strip("\n") + "\n"


def _check(code: str, rule: str, target: str | None = None) -> list:
    t = Target.parse(None, target) if target and target[:1] in "<>=" else Target.parse(target)
    return [f for f in check_source(_src(code), "t.py", [rule_by_code(rule)], t) if f.code == rule]


def _fix(code: str, rule: str, target: str | None = None, unsafe: bool = False) -> str:
    t = Target.parse(None, target) if target and target[:1] in "<>=" else Target.parse(target)
    result = fix_source(_src(code), "t.py", [rule_by_code(rule)], t, unsafe=unsafe)
    assert result.error is None, result.error
    return result.text


# ----------------------------------------------------------------------------- MC501
@pytest.mark.parametrize("expr", [
    "megatron.core.__shortversion__ < '0.10'",
    "megatron.core.package_info.__version__ >= '0.13.0rc0'",
    "'0.12' <= megatron.core.__version__",
    "importlib.metadata.version('Megatron_Core') > '0.9'",
])
def test_mc501_sources_of_the_version(expr):
    code = f"""
        import importlib.metadata
        import megatron.core
        import megatron.core.package_info
        ok = {expr}
    """
    (f,) = _check(code, "MC501")
    assert "compared with the string" in f.message
    fixed = _fix(code, "MC501")
    assert "Version(" in fixed and "from packaging.version import Version" in fixed
    assert _check(fixed, "MC501") == []


@pytest.mark.parametrize("expr", [
    "megatron.core.__version__ == '0.14.0'",            # equality is not an ordering
    "megatron.core.__version__ >= other_string",        # no literal: may be a Version already
    "importlib.metadata.version('torch') >= '2.1'",     # another package
    "len(megatron.core.__version__) > 3",
])
def test_mc501_leaves_other_comparisons_alone(expr):
    code = f"""
        import importlib.metadata
        import megatron.core
        ok = {expr}
    """
    assert _check(code, "MC501") == []


def test_mc501_parsed_variable_compared_with_a_string():
    code = """
        import megatron.core
        from packaging.version import Version as V
        mcore = V(megatron.core.__version__)
        if mcore >= "0.13" and mcore < V("0.15"):
            pass
    """
    (f,) = _check(code, "MC501")
    assert "raises TypeError" in f.message and f.location.row == 4
    assert 'if mcore >= V("0.13") and mcore < V("0.15"):' in _fix(code, "MC501")


def test_mc501_variable_rebound_elsewhere_is_not_trusted():
    code = """
        import megatron.core
        v = megatron.core.__version__
        def f(v):
            return v >= "0.14"
    """
    assert _check(code, "MC501") == []


def test_mc501_message_gives_a_concrete_wrong_answer():
    (f,) = _check('import megatron.core\nx = megatron.core.__version__ >= "0.14"', "MC501")
    assert '`"0.9.0" >= "0.14"` is True as strings but False as releases' in f.message
    (g,) = _check('import megatron.core\nx = megatron.core.__version__ >= "main"', "MC501")
    assert "character by character" in g.message


# ----------------------------------------------------------------------------- MC502
def test_mc502_parenthesised_or_keeps_one_pair_of_parentheses():
    code = """
        import megatron.core
        try:
            pass
        except (ImportError or ModuleNotFoundError) as exc:
            raise
    """
    assert "except (ImportError, ModuleNotFoundError) as exc:" in _fix(code, "MC502")


def test_mc502_bare_except_only_around_a_megatron_import_in_that_try():
    code = """
        import megatron.core
        try:
            try:
                from megatron.core import parallel_state
            except ImportError:
                parallel_state = None
            import yaml
        except:
            yaml = None
    """
    assert _check(code, "MC502") == []
    code2 = """
        try:
            import megatron.core.parallel_state as ps
        except:
            ps = None
    """
    (f,) = _check(code2, "MC502")
    assert f.fix is not None and f.fix.applicability.value == "display-only"
    assert (f.location.row, f.location.column, f.end_location.column) == (3, 1, 7)  # the `except` keyword
    assert _fix(code2, "MC502") == _src(code2)


def test_mc502_attribute_exception_names():
    code = """
        import megatron.core
        import subprocess
        try:
            pass
        except subprocess.CalledProcessError or OSError:
            pass
    """
    (f,) = _check(code, "MC502")
    assert "catches only `subprocess.CalledProcessError`, never `OSError`" in f.message


# ----------------------------------------------------------------------------- MC503
TE_BLOCK = """
    try:
        from megatron.core.transformer.custom_layers.transformer_engine import TENorm{extra}
        HAVE_TE = True
    except ImportError:
        HAVE_TE = False
        warnings.warn("Transformer Engine not found")
"""


def test_mc503_a_warning_does_not_make_the_fallback_right():
    (f,) = _check("import warnings\n" + textwrap.dedent(TE_BLOCK.format(extra="")), "MC503", "0.17.1")
    assert "0.17.1" in f.message and "`HAVE_TE = False`" in f.message
    assert f.fix is not None and f.fix.applicability.value == "unsafe"
    assert f.extra["moved_to"] == ["megatron.core.extensions.transformer_engine.TENorm"]


def test_mc503_span_names_the_failing_releases_only():
    (f,) = _check(TE_BLOCK.format(extra=""), "MC503", ">=0.15,<0.18")
    assert f.extra["releases"] == ["0.17.0", "0.17.1"]
    assert "megatron-core 0.17.0-0.17.1" in f.message


def test_mc503_one_of_several_names_is_split_out():
    fixed = _fix(TE_BLOCK.format(extra=", TELinear as Linear"), "MC503", "0.17.1", unsafe=True)
    assert ("    from megatron.core.extensions.transformer_engine import TELinear as Linear\n"
            "    from megatron.core.extensions.transformer_engine import TENorm\n") in fixed
    assert "custom_layers" not in fixed
    assert _check(fixed, "MC503", "0.17.1") == []


def test_mc503_module_import_with_alias_and_one_line_try():
    code = """
        try:
            import megatron.core.transformer.custom_layers.transformer_engine as te
        except ImportError:
            te = None
    """
    (f,) = _check(code, "MC503", "0.17.1")
    assert "`megatron.core.extensions.transformer_engine`" in f.message
    assert "import megatron.core.extensions.transformer_engine as te" in _fix(code, "MC503", "0.17.1", unsafe=True)
    one_line = """
        try: from megatron.core.transformer.custom_layers.transformer_engine import TENorm
        except ImportError: TENorm = None
    """
    (g,) = _check(one_line, "MC503", "0.17.1")
    assert g.fix is None


def test_mc503_not_when_the_name_is_really_gone_or_never_existed():
    gone = """
        try:
            from megatron.core.parallel_state import get_pipeline_model_parallel_split_rank
        except ImportError:
            get_pipeline_model_parallel_split_rank = None
    """
    assert _check(gone, "MC503", "0.16.1") == []
    typo = """
        try:
            from megatron.core.extensions.transformer_engine import TENormm
        except ImportError:
            TENormm = None
    """
    assert _check(typo, "MC503", "0.16.1") == []


# ----------------------------------------------------------------------------- MC504
def test_mc504_is_off_by_default_and_selected_by_code():
    mc504 = rule_by_code("MC504")
    assert mc504 not in select_rules(None)
    assert mc504 not in select_rules(["MC5"])  # a prefix keeps rules that are off by default off
    assert mc504 in select_rules(["MC504"]) and mc504 in select_rules(["ALL"])
    assert mc504 in select_rules(None, extend_select=["MC504"])


def test_mc504_decorators_come_from_the_release():
    code = """
        from megatron.core.models.common.embeddings.rotary_pos_embedding import RotaryEmbedding
        out = RotaryEmbedding.forward(rope, 128)
    """
    (f,) = _check(code, "MC504", "0.16.1")
    assert "`megatron.core.models.common.embeddings.rotary_pos_embedding.RotaryEmbedding.forward` is marked " \
           "`@internal_api` in megatron-core 0.16.1" in f.message
    assert (f.location.row, f.location.column) == (2, 7)
    assert _check(code, "MC504", "0.12.3") == []  # not marked before the decorator existed


def test_mc504_private_modules_dunders_and_megatron_itself():
    code = """
        import megatron.core
        from megatron.core._rank_utils import safe_get_rank
        print(megatron.core.__version__, safe_get_rank())
    """
    (f,) = _check(code, "MC504")
    assert f.extra["symbol"] == "megatron.core._rank_utils" and f.location.row == 2
    own = check_source(_src(code), "m.py", [rule_by_code("MC504")], Target(), module="megatron.core.foo")
    assert own == []
    # the 0.16+ wheels have no megatron/__init__.py: the module name is "core.foo", the path tells
    by_path = check_source(_src(code), "site/megatron/core/foo.py", [rule_by_code("MC504")], Target(),
                           module="core.foo")
    assert by_path == []
    two = _check("from megatron.core._rank_utils import safe_get_rank, log_single_rank", "MC504")
    assert len(two) == 1  # one finding per import statement of a private module


# ----------------------------------------------------------------------------- MC505
def test_mc505_method_patch_with_another_self_name_fits():
    code = """
        from megatron.core.models.gpt.gpt_model import GPTModel
        def forward(model, *args, **kwargs):
            return None
        GPTModel.forward = forward
    """
    assert _check(code, "MC505", "0.16.1") == []


def test_mc505_replacement_that_is_another_megatron_function():
    code = """
        from megatron.core import parallel_state as ps
        ps.get_data_parallel_rank = ps.get_tensor_model_parallel_rank
    """
    (f,) = _check(code, "MC505", "0.16.1")
    assert "the replacement is `get_tensor_model_parallel_rank()`" in f.message
    assert "`get_data_parallel_rank(with_context_parallel=False" in f.message
    swapped = code.replace("get_data_parallel_rank = ps.get_tensor_model_parallel_rank",
                           "get_tensor_model_parallel_rank = ps.get_data_parallel_rank")
    assert _check(swapped, "MC505", "0.16.1") == []  # accepts every call the target accepts


def test_mc505_decorated_or_unknown_replacements_are_not_guessed():
    code = """
        import functools
        from megatron.core import parallel_state as ps
        from elsewhere import patched
        @functools.lru_cache
        def cached(x, y):
            return 1
        ps.is_pipeline_first_stage = cached
        ps.is_pipeline_last_stage = patched
    """
    assert _check(code, "MC505", "0.16.1") == []


def test_mc505_gone_target_over_a_span_and_never_existing_names():
    code = """
        from megatron.core import parallel_state as ps
        ps.is_inside_encoder = lambda: False
        ps.my_helper = lambda: 1
    """
    (f,) = _check(code, "MC505", ">=0.13,<0.15")
    assert f.extra["releases"] == ["0.14.0"] and "(present in 0.9.0-0.13.1)" in f.message


def test_mc505_incompatibility_reasons():
    from mcore_lint.rules.mc505_monkey_patch_drift import incompatibility

    t = [["self", "pk", None, None], ["x", "pk", None, None], ["flag", "pk", "False", None],
         ["scale", "ko", "1.0", None]]
    assert incompatibility(t, [["self", "pk", None, None], ["x", "pk", None, None], ["flag", "pk", "False", None],
                               ["scale", "ko", "1.0", None]], True) is None
    assert incompatibility(t, [["s", "pk", None, None], ["y", "pk", None, None], ["a", "va", None, None],
                               ["k", "vk", None, None]], True) is None
    # an optional parameter under another name: a keyword call fails without **kwargs ...
    assert incompatibility(t, [["self", "pk", None, None], ["x", "pk", None, None], ["other", "pk", "1", None],
                               ["scale", "ko", "1.0", None]], True) == "a call passing `flag=` fails"
    # ... and lands on the replacement's own `flag` when it has one elsewhere
    assert incompatibility(t, [["self", "pk", None, None], ["x", "pk", None, None], ["other", "pk", "1", None],
                               ["flag", "ko", "False", None], ["scale", "ko", "1.0", None]], True) == \
        "`flag` passed positionally lands on `other`"
    # a required parameter under another name is passed by position: fits
    assert incompatibility([["config", "pk", None, None]], [["c", "pk", None, None]], False) is None
    assert incompatibility(t, [["self", "pk", None, None], ["x", "pk", None, None], ["flag", "pk", "False", None]],
                           True) == "a call passing `scale=` fails"
    assert incompatibility(t, [["self", "pk", None, None], ["x", "pk", None, None], ["flag", "pk", "False", None],
                               ["scale", "ko", "1.0", None], ["extra", "ko", None, None]], True) == \
        "the replacement requires `extra`, which callers of the original need not pass"


def test_mc503_a_move_the_facts_do_not_list_is_found_in_the_index():
    """`convert_schedule_table_to_order` left pipeline_parallel.schedules (0.12.3) for
    transformer.cuda_graphs with the same signature; no facts row: the index tells."""
    from mcore_compat import facts

    old = "megatron.core.pipeline_parallel.schedules.convert_schedule_table_to_order"
    assert facts.symbol_candidates(old) == [old]
    code = """
        try:
            from megatron.core.pipeline_parallel.schedules import convert_schedule_table_to_order
        except ImportError:
            convert_schedule_table_to_order = None
    """
    assert _check(code, "MC503", "0.12.3") == []
    (f,) = _check(code, "MC503", "0.16.1")
    assert f.extra["moved_to"] == ["megatron.core.transformer.cuda_graphs.convert_schedule_table_to_order"]
    assert "from megatron.core.transformer.cuda_graphs import convert_schedule_table_to_order" in \
        _fix(code, "MC503", "0.16.1", unsafe=True)

"""The group-threading codemod (mcore_lint.groups) and rules MC301/MC302 on golden fixtures.

Goldens: ``fixtures/groups/*_before.py`` run through the engine's fix loop with MC301+MC302
(unsafe fixes) must give the committed ``*_after.py`` (target 0.16.1) and ``*_after_0_12.py``
(target 0.12.3) exactly, compile, and be unchanged by a second run. Behaviour of those files
under a real 8-rank megatron run is checked in tests/dist/checks_groups.py.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import libcst as cst
import pytest

from mcore_lint.fix import apply_edits, fix_source
from mcore_lint.groups import DEFAULT_PRESET, Options, edits_from_diff, expand, fix_source as standalone, thread_groups
from mcore_lint.rules.registry import rule_by_code
from mcore_lint.target import Target

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "groups"
GOLDENS = [(name, target, suffix) for name in ("checkpointing", "loss")
           for target, suffix in (("0.16.1", "after"), ("0.12.3", "after_0_12"))]
RULES = [rule_by_code("MC301"), rule_by_code("MC302")]


def _src(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


def run(code: str, target: str | None = "0.16.1", select=DEFAULT_PRESET, **kw) -> str:
    return standalone(_src(code), Options(select=tuple(select), target=target, **kw))


@pytest.mark.parametrize("name,target,suffix", GOLDENS, ids=[f"{n}-{t}" for n, t, _ in GOLDENS])
def test_golden_fixture(name, target, suffix):
    before = (FIXTURES / f"{name}_before.py").read_text()
    want = (FIXTURES / f"{name}_{suffix}.py").read_text()
    result = fix_source(before, f"{name}.py", RULES, Target.parse(target), unsafe=True)
    assert result.error is None, result.error
    assert result.text == want
    compile(result.text, f"{name}_{suffix}.py", "exec")
    again = fix_source(result.text, f"{name}.py", RULES, Target.parse(target), unsafe=True)
    assert again.text == result.text and not again.fixed
    # the standalone codemod (same transform, same import scheduler) agrees with the engine
    assert standalone(before, Options(select=DEFAULT_PRESET, target=target)) == want


def test_golden_checkpointing_shape():
    """Spot checks of the spec the golden encodes (so a regenerated golden cannot drift)."""
    after = (FIXTURES / "checkpointing_after.py").read_text()
    tree = ast.parse(after)
    fns = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    params = lambda f: [a.arg for a in (*fns[f].args.args, *fns[f].args.kwonlyargs)]  # noqa: E731
    assert params("get_rng_state")[-4:] == ["tp_group", "pp_group", "dp_group", "dp_cp_group"]
    assert fns["save_checkpoint"].args.kwonlyargs[-3].arg == "pp_group"  # keyword-only after `*`
    assert params("_build_sharded_state_dict_metadata")[-1] == "dp_cp_group"
    assert "tp_group" not in params("generate_state_dict")  # not selected, no group used
    assert " and " not in "".join(l for l in after.splitlines() if l.strip().startswith("if ") and "is None" in l)
    assert ('get_rng_state("torch_dist",\n                              tp_group=tp_group, pp_group=pp_group, '
            'dp_group=dp_group,\n                              dp_cp_group=dp_cp_group)') in after
    assert "metadata['dp_cp_group'] = dp_cp_group" in after
    assert "from megatron.core.utils import get_pg_rank, get_pg_size" in after
    # the per-group fallback is inserted once per group, after the docstring
    assert after.count("if dp_cp_group is None:") == 3


def test_mc401_case_in_loss_fixture_is_left_alone():
    before = (FIXTURES / "loss_before.py").read_text()
    after = (FIXTURES / "loss_after.py").read_text()
    tail = lambda s: s[s.index("def log_metrics"):]  # noqa: E731
    assert tail(before) == tail(after)


def test_keyword_only_when_star_args_and_before_double_star():
    out = run("""
        from megatron.core import parallel_state

        def loss_func(*tensors, scale=1.0, **kwargs):
            return parallel_state.get_data_parallel_world_size()

        def average_losses_across_data_parallel_group(losses, **kwargs):
            return parallel_state.get_data_parallel_rank()
        """)
    assert ("def loss_func(*tensors, scale=1.0,\n"
            "              dp_group: Optional[torch.distributed.ProcessGroup] = None, **kwargs):") in out
    assert ("def average_losses_across_data_parallel_group(losses,\n"
            "                                              dp_group: Optional[torch.distributed.ProcessGroup] = None,"
            " **kwargs):") in out
    compile(out, "x", "exec")


def test_multiline_signature_with_trailing_comma_keeps_layout():
    out = run("""
        from megatron.core import mpu

        def loss_func(
            loss,
            mask,
        ):
            return loss / mpu.get_data_parallel_world_size()
        """)
    assert "    mask,\n    dp_group: Optional[torch.distributed.ProcessGroup] = None,\n):" in out


def test_existing_partial_threading_is_not_duplicated():
    code = """
        from megatron.core import mpu
        from megatron.core.utils import get_pg_rank

        def save_checkpoint(tp_group=None):
            if tp_group is None:
                tp_group = mpu.get_tensor_model_parallel_group()
            return get_pg_rank(tp_group), mpu.get_pipeline_model_parallel_rank()
        """
    out = run(code)
    assert out.count("if tp_group is None:") == 1
    assert "if pp_group is None:\n        pp_group = mpu.get_pipeline_model_parallel_group()" in out
    assert "return get_pg_rank(tp_group), get_pg_rank(pp_group)" in out
    assert run(out) == out


def test_unconditional_local_group_becomes_a_guarded_fallback():
    out = run("""
        from megatron.core import mpu

        def save_checkpoint(model):
            tp_group = mpu.get_tensor_model_parallel_group()
            return tp_group.rank(), mpu.get_tensor_model_parallel_world_size()
        """)
    assert "tp_group: Optional[torch.distributed.ProcessGroup] = None" in out
    assert "    if tp_group is None:\n        tp_group = mpu.get_tensor_model_parallel_group()\n    return" in out
    assert "get_pg_size(tp_group)" in out


def test_double_star_call_site_is_reported_not_threaded():
    result = thread_groups(_src("""
        from megatron.core import mpu

        def get_rng_state():
            return mpu.get_tensor_model_parallel_rank()

        def save(kwargs):
            return get_rng_state(**kwargs)
        """), Options(select=("get_rng_state",), target="0.16.1"))
    assert "get_rng_state(**kwargs)" in result.code
    assert any("passes **kwargs" in n for n in result.notes)


def test_call_site_in_unselected_caller_passes_group_in_scope():
    out = run("""
        from megatron.core import mpu

        def get_rng_state():
            return mpu.get_tensor_model_parallel_rank()

        def train(tp_group):
            return get_rng_state()

        def evaluate():
            return get_rng_state()
        """, select=("get_rng_state",))
    assert "def train(tp_group):\n    return get_rng_state(tp_group=tp_group)" in out
    assert "def evaluate():\n    return get_rng_state()" in out


def test_module_defining_get_pg_rank_gets_no_self_import():
    result = thread_groups(_src("""
        from megatron.core import parallel_state

        def get_pg_rank(group=None):
            return 0 if group is None else group.rank()

        def make_sharded_tensor_for_checkpoint(tensor, key, replica_id=None, **kwargs):
            return parallel_state.get_data_parallel_rank(with_context_parallel=True)
        """), Options(select=DEFAULT_PRESET, target="0.16.1"))
    assert not [r for r in result.imports if r.name == "get_pg_rank"]
    assert "get_pg_rank(dp_cp_group)" in result.code


def test_shadowed_module_name_and_unconvertible_calls_are_left_alone():
    code = _src("""
        from megatron.core import mpu

        def loss_func(loss, mpu=None):
            return mpu.get_data_parallel_world_size()

        def average_losses_across_data_parallel_group(losses):
            return mpu.get_data_parallel_rank(partial_data_parallel=True)
        """)
    assert thread_groups(code, Options(select=DEFAULT_PRESET, target="0.16.1")).code == code


def test_relative_import_of_mpu_resolves_with_module_name():
    out = run("""
        from ..core import mpu

        def loss_func(loss):
            return loss / mpu.get_data_parallel_world_size()
        """, module_name="megatron.training.utils")
    assert "get_pg_size(dp_group)" in out
    assert run("""
        from ..core import mpu

        def loss_func(loss):
            return loss / mpu.get_data_parallel_world_size()
        """, module_name=None).count("get_pg_size") == 0


def test_nested_functions_are_not_rewritten():
    out = run("""
        from megatron.core import mpu

        def save_checkpoint(model):
            def _log():
                return mpu.get_tensor_model_parallel_rank()
            return _log(), mpu.get_pipeline_model_parallel_rank()
        """)
    assert "return mpu.get_tensor_model_parallel_rank()" in out
    assert "get_pg_rank(pp_group)" in out


def test_unknown_target_uses_mcore_compat_and_no_metadata_key():
    out = run("""
        from megatron.core import mpu

        def _build_sharded_state_dict_metadata(args):
            metadata = {}
            return metadata

        def loss_func(loss):
            return loss / mpu.get_data_parallel_world_size()
        """, target=None)
    assert "from mcore_compat import get_pg_size" in out
    assert "dp_cp_group" not in out


def test_pg_collection_parameter_supplies_groups():
    out = run("""
        from megatron.core import parallel_state

        def forward(x, pg_collection=None):
            return x * parallel_state.get_tensor_model_parallel_world_size()
        """, select=())
    assert 'tp_group = getattr(pg_collection, "tp", None)' in out
    assert "return x * get_pg_size(tp_group)" in out


def test_preset_expansion_and_unknown_preset():
    assert expand(["@default", "my_loss"])[-1] == "my_loss"
    assert "save_checkpoint" in expand(["@default"])
    with pytest.raises(ValueError, match="@nope.*@default"):
        expand(["@nope"])


@pytest.mark.parametrize("old,new", [
    ("a\nb\nc\n", "a\nB\nc\n"),
    ("a\nb\n", "x\na\nb\ny\n"),
    ("a\nb", "a\nb\nc"),
    ("a\nb\nc\n", "c\n"),
    ("", "x\n"),
])
def test_edits_from_diff_reproduce_the_new_text(old, new):
    assert apply_edits(old, edits_from_diff(old, new)) == new


def test_unparsable_input_raises_with_its_position():
    with pytest.raises(cst.ParserSyntaxError) as err:
        thread_groups("from megatron.core import mpu\n\ndef f(:\n")
    assert "3:" in str(err.value) or err.value.raw_line == 3


def test_getters_in_the_authors_own_group_branches_are_not_rewritten():
    """megatron/core/utils.py log_on_each_pipeline_stage (43a0c335): the global calls *are* the
    fallback of `if tp_group is None and dp_cp_group is None`; MC301 must leave them."""
    code = _src("""
        from megatron.core import parallel_state

        def log_on_each_pipeline_stage(logger, *args, tp_group=None, dp_cp_group=None, **kwargs):
            if tp_group is None and dp_cp_group is None:
                tp_rank = parallel_state.get_tensor_model_parallel_rank()
                dp_cp_rank = parallel_state.get_data_parallel_rank(with_context_parallel=True)
            else:
                tp_rank, dp_cp_rank = tp_group.rank(), dp_cp_group.rank()
            replica = dp_cp_group.rank() if dp_cp_group else parallel_state.get_data_parallel_rank(True)
            return tp_rank, dp_cp_rank, replica
        """)
    result = thread_groups(code, Options(target="0.16.1"))
    assert result.code == code and not result.ignored


def test_content_metadata_holding_a_group_is_cleaned_before_saving():
    out = run("""
        from megatron.core import dist_checkpointing, mpu

        def _build_sharded_state_dict_metadata(args):
            metadata = {}
            return metadata

        def save_checkpoint(state_dict, path, args):
            md = _build_sharded_state_dict_metadata(args)
            dist_checkpointing.save(state_dict, path, content_metadata=md)
        """)
    assert "content_metadata=_clean_metadata_for_serialization(md)" in out
    assert "from megatron.core.dist_checkpointing.utils import _clean_metadata_for_serialization" in out
    assert "md = _build_sharded_state_dict_metadata(args, dp_cp_group=dp_cp_group)" in out
    assert run(out) == out


def test_before_0_16_metadata_gets_no_group_and_nothing_is_cleaned():
    code = """
        from megatron.core import dist_checkpointing, mpu

        def _build_sharded_state_dict_metadata(args):
            metadata = {}
            return metadata

        def save_checkpoint(state_dict, path, args):
            md = _build_sharded_state_dict_metadata(args)
            dist_checkpointing.save(state_dict, path, content_metadata=md)
        """
    assert run(code, target="0.15.3") == _src(code)


def test_one_line_bodies_are_left_alone_with_a_note():
    code = _src("""
        from megatron.core import mpu

        def loss_func(loss, dp_group=None): return loss / mpu.get_data_parallel_world_size()
        """)
    result = thread_groups(code, Options(select=DEFAULT_PRESET, target="0.16.1"))
    assert result.code == code and not result.ignored
    assert any("one-line body" in n for n in result.notes)


@pytest.mark.parametrize("code", [
    # megatron-core 0.16.1 datasets/data_schedule.py: the pg_collection fallback itself
    """
    from megatron.core import parallel_state

    class Scheduler:
        def __init__(self, pg_collection=None):
            if pg_collection is None:
                self.dp_group = parallel_state.get_data_parallel_group()
            else:
                self.dp_group = pg_collection.dp
    """,
    # 0.16.1 tensor_parallel/layers.py: early return on the explicit path, global after it
    """
    from megatron.core.parallel_state import get_tensor_model_parallel_rank

    def param_is_not_tensor_parallel_duplicate(param, tp_group=None):
        if tp_group is not None:
            return tp_group.rank() == 0
        return get_tensor_model_parallel_rank() == 0
    """,
    # 0.16.1 pipeline_parallel/schedules.py: the object's group or the global one
    """
    from megatron.core import parallel_state

    def get_pp_rank_microbatches(n, p2p_communicator=None):
        if p2p_communicator is not None:
            size = p2p_communicator.pp_group.size()
        else:
            size = parallel_state.get_pipeline_model_parallel_world_size()
        return size
    """,
])
def test_explicit_or_global_branches_written_by_the_author_are_not_findings(code):
    src = _src(code)
    result = thread_groups(src, Options(target="0.16.1"))
    assert result.code == src and not result.ignored


# ----------------------------------------------------------------------------- properties

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_STATEMENTS = [
    "r = mpu.get_tensor_model_parallel_rank()",
    "s = mpu.get_data_parallel_world_size()",
    "g = mpu.get_pipeline_model_parallel_group()",
    "c = mpu.get_data_parallel_rank(with_context_parallel=True)",
    "if x:\n        z = mpu.get_context_parallel_rank()",
    "tp_group = mpu.get_tensor_model_parallel_group()",
    "w = [mpu.get_expert_model_parallel_world_size() for _ in range(2)]",
]
_NAMES = ["loss_func", "get_rng_state", "save_checkpoint", "helper", "average_losses_across_data_parallel_group"]
_SIGNATURES = ["x", "x, tp_group=None", "x, *args", "x, **kwargs", "x, *, dp_group=None", "x,\n    y=1,\n"]


@st.composite
def _modules(draw):
    names = draw(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=4, unique=True))
    out = ["from megatron.core import mpu", ""]
    for name in names:
        sig = draw(st.sampled_from(_SIGNATURES))
        body = draw(st.lists(st.sampled_from(_STATEMENTS), max_size=4))
        calls = draw(st.lists(st.sampled_from(names), max_size=2))
        out.append(f"def {name}({sig}):")
        if draw(st.booleans()):
            out.append('    """Doc."""')
        out.extend(f"    {stmt}" for stmt in body)
        out.extend(f"    {callee}(0)" for callee in calls)
        out.append("    return 0")
        out.append("")
    return "\n".join(out) + "\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_modules(), st.sampled_from(["0.12.3", "0.16.1"]))
def test_random_modules_compile_converge_and_use_per_group_fallbacks(code, target):
    options = Options(select=DEFAULT_PRESET, target=target)
    out = standalone(code, options)
    compile(out, "generated.py", "exec")
    assert standalone(out, options) == out, "a second run changed the output"
    for line in out.splitlines():
        if line.strip().startswith("if ") and line.strip().endswith("is None:"):
            assert " and " not in line and " or " not in line, line
    tree = ast.parse(out)
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        for arg, default in zip(fn.args.kwonlyargs, fn.args.kw_defaults):
            if arg.annotation is not None:
                assert isinstance(default, ast.Constant) and default.value is None


def test_threaded_keyword_goes_before_the_closing_line_break():
    """megatron-bridge 0.6.2 training/checkpointing.py: a call whose `)` is on its own line."""
    out = run("""
        from megatron.core import mpu

        def _build_sharded_state_dict_metadata(a, b):
            metadata = {}
            return metadata

        def load(pg_collection):
            return _build_sharded_state_dict_metadata(
                1, 2
            )
        """)
    assert ('    return _build_sharded_state_dict_metadata(\n'
            '        1, 2, dp_cp_group=getattr(pg_collection, "dp_cp", None)\n    )') in out

"""Signature rules MC201-MC204 and their shared call binding (mcore_lint.calls), beyond the
rules' own VALID/INVALID examples (tests/test_rule_examples.py runs those): which calls are
sites, what a release's signature is, how arguments bind, messages and fix safety across
target spans. Real API index (shipped data), no torch."""

from __future__ import annotations

import ast
import textwrap

import pytest

import mcore_lint.calls as calls
from mcore_lint.calls.binding import VARARG
from mcore_lint.calls.signatures import Param, Signature
from mcore_lint.engine import check_source, parse
from mcore_lint.findings import Applicability
from mcore_lint.fix import fix_source
from mcore_lint.rules.registry import rule_by_code
from mcore_lint.semantic import build_model
from mcore_lint.target import Target


def _model(src: str, module: str | None = None, is_package: bool = False):
    src = textwrap.dedent(src).strip("\n") + "\n"
    return build_model(parse(src, "t.py"), src, "t.py", module, is_package)


def _sites(src: str, **kw):
    return calls.call_sites(_model(src, **kw))


def _check(code: str, src: str, target: Target, module: str | None = None):
    src = textwrap.dedent(src).strip("\n") + "\n"
    return check_source(src, "t.py", [rule_by_code(code)], target, module=module)


SPAN = Target.parse  # Target.parse(None, ">=0.14,<0.16")


# ------------------------------------------------------------------------------ call sites
def test_sites_cover_import_styles_and_methods():
    sites = _sites("""
        import megatron.core.parallel_state as ps
        from megatron.core import mpu, tensor_parallel
        from megatron.core.transformer.transformer_config import TransformerConfig as TC
        import functools
        from functools import partial
        ps.get_data_parallel_group()
        mpu.get_data_parallel_rank()
        tensor_parallel.layers.ColumnParallelLinear(1, 2, config=c, init_method=i)
        TC(num_layers=1)
        functools.partial(ps.get_data_parallel_world_size, with_context_parallel=True)
        partial(TC, num_layers=2)
        tensor_parallel.ColumnParallelLinear(1, 2).forward(x)
        tensor_parallel.ColumnParallelLinear.forward(layer, x)
    """)
    got = [(s.qualname.rsplit(".", 2)[-2:], s.style) for s in sites]
    assert got == [
        (["parallel_state", "get_data_parallel_group"], "call"),
        (["parallel_state", "get_data_parallel_rank"], "call"),
        (["layers", "ColumnParallelLinear"], "call"),
        (["transformer_config", "TransformerConfig"], "call"),
        (["parallel_state", "get_data_parallel_world_size"], "partial"),
        (["transformer_config", "TransformerConfig"], "partial"),
        (["tensor_parallel", "ColumnParallelLinear"], "call"),
        (["ColumnParallelLinear", "forward"], "bound"),
        (["ColumnParallelLinear", "forward"], "call"),
    ]
    assert sites[1].qualname == "megatron.core.parallel_state.get_data_parallel_rank"  # mpu alias


def test_relative_imports_inside_megatron_are_sites():
    sites = _sites("""
        from ..parallel_state import get_data_parallel_group
        from . import layers
        get_data_parallel_group(with_context_parallel=True)
        layers.RowParallelLinear(1, 2)
    """, module="megatron.core.tensor_parallel.mappings")
    assert [s.qualname for s in sites] == ["megatron.core.parallel_state.get_data_parallel_group",
                                          "megatron.core.tensor_parallel.layers.RowParallelLinear"]


def test_not_sites_self_methods_rebound_partial_two_bases_shadowed():
    sites = _sites("""
        from megatron.core.transformer.module import MegatronModule
        from megatron.core import parallel_state as ps
        def partial(f, *a, **k):
            return f
        partial(ps.get_data_parallel_group, nope=1)
        class Two(MegatronModule, object):
            def __init__(self, config):
                super().__init__(config=config, bogus=1)
        class One(MegatronModule):
            def __init__(self, config):
                super().__init__(config=config)
                self.sharded_state_dict(bogus=1)
                def inner():
                    super().__init__(bogus=2)
        def f(ps):
            ps.get_data_parallel_group(nope=1)
    """)
    assert [(s.qualname.rsplit(".", 1)[-1], s.style) for s in sites] == [("MegatronModule", "init")]


def test_ambiguous_binding_is_not_a_site():
    sites = _sites("""
        try:
            from megatron.core import parallel_state as ps
        except ImportError:
            ps = None
        ps.get_data_parallel_group(nope=1)
    """)
    assert all(s.guarded or s.ref is None or not s.ref.ambiguous for s in sites)
    assert [s for s in sites if not s.guarded] == []


@pytest.mark.parametrize("src", [
    """
    from megatron.core import parallel_state as ps
    try:
        ps.get_data_parallel_group(nope=1)
    except TypeError:
        pass
    """,
    """
    import inspect
    from megatron.core import parallel_state as ps
    if "nope" in inspect.signature(ps.get_data_parallel_group).parameters:
        ps.get_data_parallel_group(nope=1)
    """,
    """
    from megatron.core import parallel_state as ps
    if hasattr(ps, "nope"):
        ps.get_data_parallel_group(nope=1)
    """,
    """
    import megatron.core
    from megatron.core import parallel_state as ps
    if megatron.core.__version__ >= "0.19":
        ps.get_data_parallel_group(nope=1)
    """,
])
def test_guards_mark_sites(src):
    sites = _sites(src)
    assert sites and all(s.guarded for s in sites)
    assert _check("MC201", src, Target.parse("0.16.1")) == []


def test_except_valueerror_is_not_a_guard():
    src = """
        from megatron.core import parallel_state as ps
        try:
            ps.get_data_parallel_group(nope=1)
        except ValueError:
            pass
    """
    assert [s.guarded for s in _sites(src)] == [False]
    assert len(_check("MC201", src, Target.parse("0.16.1"))) == 1


# ------------------------------------------------------------------------------ signatures
def _sig(release, qualname, style="call"):
    return calls.signature_in(calls.index(), release, qualname, style)


def test_signature_kinds():
    idx_sig = _sig("0.16.1", "megatron.core.tensor_parallel.layers.RowParallelLinear")
    assert isinstance(idx_sig, Signature)
    assert [p.name for p in idx_sig.params][:4] == ["input_size", "output_size", "config", "init_method"]
    assert idx_sig.param("init_method").kind == "ko" and idx_sig.param("init_method").required
    # bound method drops self; through the class it is kept
    bound = _sig("0.16.1", "megatron.core.tensor_parallel.layers.RowParallelLinear.forward", "bound")
    unbound = _sig("0.16.1", "megatron.core.tensor_parallel.layers.RowParallelLinear.forward", "call")
    assert [p.name for p in bound.params] == ["input_"]
    assert [p.name for p in unbound.params] == ["self", "input_"]
    # dataclass with inherited fields (ModelParallelConfig's tensor_model_parallel_size)
    cfg = _sig("0.16.1", "megatron.core.transformer.TransformerConfig")
    assert cfg.param("tensor_model_parallel_size") and cfg.param("num_layers")
    # moved / missing names are MISSING, **kwargs callees and unknowable ones UNKNOWN
    assert _sig("0.16.1", "megatron.core.parallel_state.no_such_function") is calls.MISSING
    assert _sig("0.16.1", "megatron.core.process_groups_config.ProcessGroupCollection") is calls.UNKNOWN
    assert _sig("0.16.1", "megatron.core.transformer.spec_utils.build_module") is calls.UNKNOWN
    # the constructor of a class whose __init__ comes from outside megatron (torch) is unknown
    assert _sig("0.16.1", "megatron.core.transformer.enums.AttnBackend") is calls.UNKNOWN


def test_static_and_class_methods():
    idx = calls.index()
    view = idx.view("0.16.1")
    static = next(q for q, r in view.items() if r["k"] == "method" and r.get("d") == ["staticmethod"]
                  and r["p"] and not any(p[1] == "vk" for p in r["p"]))
    classm = next(q for q, r in view.items() if r["k"] == "method" and r.get("d") == ["classmethod"]
                  and len(r["p"]) > 1 and not any(p[1] == "vk" for p in r["p"]))
    s_call, s_bound = _sig("0.16.1", static, "call"), _sig("0.16.1", static, "bound")
    assert s_call.params == s_bound.params and s_call.params[0].name == view[static]["p"][0][0]
    c_call = _sig("0.16.1", classm, "call")
    assert [p.name for p in c_call.params] == [p[0] for p in view[classm]["p"][1:]]


# ------------------------------------------------------------------------------ binding
def _site(src):
    (site,) = _sites(src)
    return site


def _fake(*params, release="0.0"):
    return Signature(release, "x.f", tuple(Param(*p) for p in params))


def test_bind_positional_keyword_missing_duplicate_varargs():
    site = _site("""
        from megatron.core import parallel_state as ps
        ps.f(1, 2, 3, b=4, z=5)
    """)
    sig = _fake(("a", "po", None), ("b", "pk", None), ("c", "pk", "1"), ("d", "ko", None), ("e", "ko", "2"))
    b = calls.bind(site, sig)
    assert [p.name if p else None for p in b.positional] == ["a", "b", "c"]
    assert b.unknown_keywords == ["z"] and b.duplicates == ["b"]
    assert [p.name for p in b.missing] == ["d"]
    assert not b.ok and "`d` missing" in b.problems() and "no keyword `z`" in b.problems()
    sig2 = _fake(("a", "pk", None), ("rest", "va", None))
    b2 = calls.bind(site, sig2)
    assert b2.positional[1] is VARARG and b2.too_many_positional == 0
    sig3 = _fake(("a", "pk", None))
    assert calls.bind(site, sig3).too_many_positional == 2


def test_positional_only_by_keyword_is_unknown_and_star_calls_unbound():
    site = _site("""
        from megatron.core import parallel_state as ps
        ps.f(a=1)
    """)
    assert calls.bind(site, _fake(("a", "po", None))).unknown_keywords == ["a"]
    star = _site("""
        from megatron.core import parallel_state as ps
        ps.f(*args)
    """)
    assert calls.bind(star, _fake(("a", "pk", None))) is None


# ------------------------------------------------------------------------------ rules
def test_mc201_target_decides():
    src = """
        from megatron.core.transformer.transformer_layer import TransformerLayer
        layer = TransformerLayer(config, submodules, model_comm_pgs=pgs)
    """
    assert _check("MC201", src, Target.parse("0.14.0")) == []
    assert len(_check("MC201", src, Target.parse("0.16.1"))) == 1
    # a span that mixes releases: rejected only in 0.15.x; pg_collection is not in 0.14 -> unsafe
    (f,) = _check("MC201", src, Target.parse(None, ">=0.14,<0.16"))
    assert "in megatron-core 0.15.0-0.15.3" in f.message and f.fix.applicability == Applicability.UNSAFE
    (g,) = _check("MC201", src, Target.parse(None, ">=0.15,<0.17"))
    assert g.fix.applicability == Applicability.SAFE
    # no finding and no fix when the new keyword is already passed: the message still tells
    both = src.replace("model_comm_pgs=pgs", "model_comm_pgs=pgs, pg_collection=pgs")
    (h,) = _check("MC201", both, Target.parse("0.16.1"))
    assert h.fix is None


def test_mc201_keyword_position_and_fix_text():
    src = """
        from megatron.core.transformer.transformer_layer import TransformerLayer
        layer = TransformerLayer(
            config,
            submodules,
            model_comm_pgs=pgs,  # keep this comment
        )
    """
    (f,) = _check("MC201", src, Target.parse("0.16.1"))
    assert (f.location.row, f.location.column) == (5, 5)
    text = textwrap.dedent(src).strip("\n") + "\n"
    fixed = fix_source(text, "t.py", [rule_by_code("MC201")], Target.parse("0.16.1")).text
    assert "    pg_collection=pgs,  # keep this comment\n" in fixed


def test_mc202_counts_positional_and_keyword():
    ok = """
        from megatron.core.distributed import DistributedDataParallel
        DistributedDataParallel(config, ddp_config, module)
        DistributedDataParallel(config, ddp_config=ddp_config, module=module)
    """
    assert _check("MC202", ok, Target.parse("0.16.1")) == []
    bad = """
        from megatron.core.distributed import DistributedDataParallel
        DistributedDataParallel(config, module=module)
    """
    (f,) = _check("MC202", bad, Target.parse(None, ">=0.16"))
    assert "`ddp_config` in megatron-core 0.16.0-0.19.2" in f.message
    assert f.fix is not None and f.fix.applicability == Applicability.DISPLAY_ONLY and not f.fix.edits


def test_mc203_unsafe_when_keyword_disappears():
    src = """
        from megatron.core import parallel_state as ps
        ranks = ps.default_embedding_ranks(pp_ranks, 3)
    """
    (f,) = _check("MC203", src, Target.parse(None, ">=0.13,<0.15"))
    assert "is `split_rank` in megatron-core 0.13.0 but no parameter in 0.14.0" in f.message
    assert f.fix.applicability == Applicability.UNSAFE
    text = textwrap.dedent(src).strip("\n") + "\n"
    assert fix_source(text, "t.py", [rule_by_code("MC203")], Target.parse(None, ">=0.13,<0.15")).text == text
    fixed = fix_source(text, "t.py", [rule_by_code("MC203")], Target.parse(None, ">=0.13,<0.15"), unsafe=True).text
    assert "default_embedding_ranks(pp_ranks, split_rank=3)" in fixed
    assert _check("MC203", src, Target.parse("0.13.0")) == []


def test_mc204_literal_defaults_only_and_numbers_equal():
    from mcore_lint.rules.mc204_default_changed_meaning import literal, same_value

    assert same_value(0, 0.0) and not same_value(1, True) and not same_value(None, False)
    assert literal("ModelType.encoder_or_decoder") is not None and literal("'full'") == "full"
    src = """
        from megatron.core import parallel_state as ps
        ps.is_pipeline_first_stage(False)
        ps.is_pipeline_last_stage(vp_stage=0)
    """
    (f,) = _check("MC204", src, Target.parse(None, ">=0.12,<0.14"))
    assert f.location.row == 3 and "`ignore_virtual`" in f.message


def test_mc203_in_place_rename_with_deprecated_alias_is_not_flagged():
    # 0.12.0 renamed BertModel.forward's 6th parameter inference_params -> inference_context and
    # kept inference_params as a keyword-only alias: the positional slot means the same.
    src = """
        from megatron.core.models.bert.bert_model import BertModel
        BertModel.forward(model, input_ids, attention_mask, None, None, params)
    """
    assert _check("MC203", src, Target.parse(None, ">=0.11,<0.13")) == []


def test_methods_through_a_local_instance_bound_once():
    sites = _sites("""
        from megatron.core.tensor_parallel import ColumnParallelLinear
        def once(cfg, x):
            layer = ColumnParallelLinear(4, 8)
            layer.forward(x)
        def rebound(cfg, x):
            layer = ColumnParallelLinear(4, 8)
            layer = other
            layer.forward(x)
        def loop(cfg, xs):
            layer = ColumnParallelLinear(4, 8)
            for layer in xs:
                layer.forward(1)
        def patched(cfg, x):
            layer = ColumnParallelLinear(4, 8)
            layer.forward = other
            layer.forward(x)
            layer.sharded_state_dict()
        def closure(cfg, x):
            layer = ColumnParallelLinear(4, 8)
            def swap():
                nonlocal layer
                layer = None
            layer.forward(x)
        layer = ColumnParallelLinear(4, 8)
        layer.forward(1)
    """)
    bound = [(s.call.lineno, s.qualname.rsplit(".", 1)[-1]) for s in sites if s.style == "bound"]
    assert bound == [(4, "forward"), (17, "sharded_state_dict")]

"""Shim part 2 under a real 8-rank gloo run (contract: tests/dist/harness.py).

* The reviewed fact "``is_pipeline_first_stage/last_stage(ignore_virtual=...)`` defaulted to
  False up to 0.12 and to True from 0.13" is checked against megatron's real answers with
  virtual pipeline stages, and the shim's answer is one release-independent formula: the same
  on 0.12 and 0.16 (and every other release of the run).
* ``mcore_compat.call`` forwards ``vp_stage``/``ignore_virtual`` to the installed predicate
  the way each release takes them.
* ``mcore_compat.call`` builds a real ``TransformerLayer`` under tensor parallelism 2 with
  ``pg_collection=`` (passed as ``model_comm_pgs=`` on 0.13-0.14): a collection holding a
  *copy* of the TP group reaches the layer's linear layers where the release takes one; on
  releases without the parameter, megatron's global groups are equivalent and the call works.
"""

from __future__ import annotations

from typing import Any

from tests.dist.harness import Context


def _formula(ctx: Context, first: bool, vp_stage: int | None) -> bool:
    """The 0.13+ meaning: physical stage, or model chunk ``vp_stage`` when given."""
    ps, lay = ctx.ps, ctx.layout
    rank = ps.get_pipeline_model_parallel_rank()
    on_stage = rank == 0 if first else rank == lay.pp - 1
    if vp_stage is None or lay.vpp is None:
        return on_stage
    return on_stage and vp_stage == (0 if first else lay.vpp - 1)


def check_changed_default_fact_matches_megatron(ctx: Context) -> None:
    """facts.changed_default says which ignore_virtual the release assumes when it is not
    passed; megatron's no-argument answer must equal its answer with that value, in every
    virtual stage."""
    from mcore_compat import facts

    ps, lay = ctx.ps, ctx.layout
    if lay.vpp is None:
        return
    saved = ps.get_virtual_pipeline_model_parallel_rank()
    try:
        for name in ("is_pipeline_first_stage", "is_pipeline_last_stage"):
            row = facts.changed_default(f"megatron.core.parallel_state.{name}", "ignore_virtual")
            ctx.expect(row is not None, f"no changed_default fact for {name}")
            if row is None:
                return
            assumed = row.default_in(ctx.release) == "True"
            fn = getattr(ps, name)
            for k in range(lay.vpp):
                ps.set_virtual_pipeline_model_parallel_rank(k)
                if assumed:
                    explicit = fn(ignore_virtual=True)
                else:  # before 0.13 the virtual stage is read from the global virtual rank
                    explicit = fn(ignore_virtual=False)
                ctx.expect_equal(fn(), explicit, f"{name}() vs {name}(ignore_virtual={assumed}), "
                                                 f"virtual rank {k}")
                physical = fn(ignore_virtual=True)
                chunk = _formula(ctx, name.endswith("first_stage"), k)
                # the flip is observable: on some rank/stage the two meanings differ
                ctx.expect_equal(fn(ignore_virtual=False) if not ctx.at_least("0.13") else
                                 fn(ignore_virtual=False, vp_stage=k), chunk,
                                 f"{name}(ignore_virtual=False) at virtual rank {k}")
                ctx.expect_equal(physical, _formula(ctx, name.endswith("first_stage"), None),
                                 f"{name}(ignore_virtual=True)")
    finally:
        ps.set_virtual_pipeline_model_parallel_rank(saved)


def check_shim_stage_meaning_is_the_same_formula_on_every_release(ctx: Context) -> None:
    """mcore_compat.parallel_state's predicates answer the 0.13+ formula on every release:
    default (physical stage), ignore_virtual=True, and ignore_virtual=False with vp_stage."""
    from mcore_compat import parallel_state as shim

    lay = ctx.layout
    answers: dict[str, Any] = {}
    for first in (True, False):
        fn = shim.is_pipeline_first_stage if first else shim.is_pipeline_last_stage
        answers[f"{fn.__name__}()"] = (fn(), _formula(ctx, first, None))
        answers[f"{fn.__name__}(ignore_virtual=True)"] = (fn(ignore_virtual=True), _formula(ctx, first, None))
        for k in range(lay.vpp or 0):
            answers[f"{fn.__name__}(False, vp_stage={k})"] = (fn(ignore_virtual=False, vp_stage=k),
                                                               _formula(ctx, first, k))
    for what, (got, want) in answers.items():
        ctx.expect_equal(got, want, what)


def check_call_forwards_stage_keywords(ctx: Context) -> None:
    """call(ps.is_pipeline_first_stage, ignore_virtual=..., vp_stage=...): vp_stage=None is
    dropped where the release lacks it (its default); a real vp_stage is refused there,
    naming the releases that accept it; elsewhere the answer is the formula."""
    import mcore_compat as mc

    ps, lay = ctx.ps, ctx.layout
    takes_vp = ctx.at_least("0.13")
    for first in (True, False):
        fn = ps.is_pipeline_first_stage if first else ps.is_pipeline_last_stage
        ctx.expect_equal(mc.call(fn, ignore_virtual=True, vp_stage=None), _formula(ctx, first, None),
                         f"call({fn.__name__}, ignore_virtual=True, vp_stage=None)")
        if lay.vpp is None:
            continue
        for k in range(lay.vpp):
            if takes_vp:
                ctx.expect_equal(mc.call(fn, ignore_virtual=False, vp_stage=k), _formula(ctx, first, k),
                                 f"call({fn.__name__}, ignore_virtual=False, vp_stage={k})")
                continue
            try:
                mc.call(fn, ignore_virtual=False, vp_stage=k)
            except TypeError as exc:
                ctx.expect("vp_stage" in str(exc) and "0.13.0 and later" in str(exc)
                           and ctx.release in str(exc), f"TypeError message: {exc}")
            else:
                ctx.expect(False, f"call({fn.__name__}, vp_stage={k}) accepted on {ctx.release}")


def _tp_copy(ctx: Context) -> Any:
    """A new group object with exactly this rank's TP ranks (every rank creates all of them,
    in the same order, as new_group requires)."""
    ps, dist = ctx.ps, ctx.dist
    mine = sorted(dist.get_process_group_ranks(ps.get_tensor_model_parallel_group()))
    tp = ctx.layout.tp
    copy = None
    for start in range(0, ctx.world_size, tp):
        # TP groups are consecutive ranks for megatron's default order (tp first)
        ranks = list(range(start, start + tp))
        group = dist.new_group(ranks)
        if ranks == mine:
            copy = group
    return copy


def check_call_builds_transformer_layer_with_pg_collection(ctx: Context) -> None:
    import mcore_compat as mc

    lay = ctx.layout
    if lay.name != "tp2-pp2":
        return
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec

    TransformerConfig = mc.import_symbol("megatron.core.transformer.transformer_config.TransformerConfig")
    TransformerLayer = mc.import_symbol("megatron.core.transformer.transformer_layer.TransformerLayer")
    cfg = mc.make_config(TransformerConfig, num_layers=2, hidden_size=16, num_attention_heads=2,
                         tensor_model_parallel_size=lay.tp, use_cpu_initialization=True)
    spec = get_gpt_layer_local_spec()

    def build(**kw: Any) -> Any:
        return mc.call(TransformerLayer, config=cfg, submodules=spec.submodules, layer_number=1, **kw)

    # global groups: fine on every release (passed, or dropped as equivalent to the default)
    layer = build(pg_collection=mc.pg_collection_from_mpu())
    qkv = layer.self_attention.linear_qkv
    ctx.expect_equal(tuple(qkv.weight.shape), (3 * 16 // lay.tp, 16), "linear_qkv shard shape (tp=2)")
    # a copy of the TP group: used where the release takes a collection, refused elsewhere
    tp_copy = _tp_copy(ctx)
    ctx.expect(tp_copy is not None, "no TP copy group for this rank")
    coll_cls = type(mc.pg_collection_from_mpu())
    base = mc.pg_collection_from_mpu()
    fields = {k: v for k, v in vars(base).items() if not k.startswith("_")}
    fields["tp"] = tp_copy
    custom = coll_cls(**fields)
    takes = ctx.at_least("0.13")
    try:
        layer = build(pg_collection=custom)
    except TypeError as exc:
        ctx.expect(not takes, f"refused on {ctx.release}: {exc}")
        ctx.expect("pg_collection" in str(exc) and "0.15.0 and later" in str(exc), f"message: {exc}")
        return
    ctx.expect(takes, f"a non-global collection was accepted on {ctx.release}, which has no such parameter")
    got = getattr(layer.self_attention.linear_qkv, "tp_group", None)
    ctx.expect(got is tp_copy, f"linear_qkv.tp_group is not the passed TP group on {ctx.release}")

"""Shim checks (issue 3), run on every rank of every layout by the shared harness.

Each compares the shim's answer with upstream megatron-core's on the same rank (group
membership through ``torch.distributed.get_process_group_ranks``), or, for names the release
does not have, with the value the layout implies. Soft assertions (``ctx.expect``) keep the
ranks in lockstep; see harness.py for the contract.
"""

from __future__ import annotations

import warnings
from typing import Any

from tests.dist import harness
from tests.dist.harness import Context

# Explicit groups made once per run (torch groups outlive megatron's destroy_model_parallel);
# every rank creates them in the same order, as new_group requires.
_GROUPS: dict[str, Any] = {}


def _groups(ctx: Context) -> dict[str, Any]:
    if not _GROUPS:
        dist, r = ctx.dist, ctx.rank
        quads = [dist.new_group([0, 1, 2, 3]), dist.new_group([4, 5, 6, 7])]
        pairs = [dist.new_group([i, i + 4]) for i in range(4)]
        _GROUPS["quad"] = quads[r // 4]  # ranks 4q..4q+3; my rank there: r % 4
        _GROUPS["pair"] = pairs[r % 4]   # ranks (i, i+4); my rank there: r // 4
        _GROUPS["low2"] = dist.new_group([0, 1])  # NON_GROUP_MEMBER on ranks 2..7
    return _GROUPS


def _ranks(ctx: Context, group: Any) -> list[int] | None:
    return None if group is None else list(ctx.dist.get_process_group_ranks(group))


def _upstream_group(ctx: Context, field: str) -> Any:
    """Upstream's group for a ParallelGroups field, where the release has the getter."""
    ps = ctx.ps
    if field == "dp":
        return ps.get_data_parallel_group()
    if field == "dp_cp":
        return ps.get_data_parallel_group(with_context_parallel=True)
    if field == "embd":
        return ps._EMBEDDING_GROUP  # None on middle stages; the getter asserts there before 0.13
    if field == "pos_embd":
        return ps._POSITION_EMBEDDING_GROUP
    name = {"tp": "get_tensor_model_parallel_group", "pp": "get_pipeline_model_parallel_group",
            "cp": "get_context_parallel_group", "ep": "get_expert_model_parallel_group",
            "expt_tp": "get_expert_tensor_parallel_group",
            "expt_dp": "get_expert_data_parallel_group", "mp": "get_model_parallel_group",
            "tp_cp": "get_tensor_and_context_parallel_group",
            "tp_ep": "get_expert_tensor_and_model_parallel_group"}[field]
    fn = getattr(ps, name, None)
    return fn() if fn is not None else None


def _outcome(ctx: Context, fn: Any, op: str) -> Any:
    try:
        value = fn()
    except Exception as exc:  # noqa: BLE001 - compared by type
        return ("raised", type(exc).__name__)
    return ("value", _ranks(ctx, value) if op == "group" else value)


def _expected_size(ctx: Context, field: str) -> int:
    lay = ctx.layout
    return {"tp": lay.tp, "pp": lay.pp, "cp": lay.cp, "dp": lay.dp, "dp_cp": lay.dp * lay.cp,
            "ep": lay.ep, "expt_tp": lay.tp, "expt_dp": ctx.world_size // (lay.tp * lay.ep * lay.pp),
            "mp": lay.tp * lay.pp, "tp_cp": lay.tp * lay.cp, "tp_ep": lay.tp * lay.ep}[field]


def check_layout_sizes(ctx: Context) -> None:
    """Upstream's own sizes match the layout the harness asked for (the harness works)."""
    ps = ctx.ps
    ctx.expect_equal(ps.get_tensor_model_parallel_world_size(), ctx.layout.tp, "tp size")
    ctx.expect_equal(ps.get_pipeline_model_parallel_world_size(), ctx.layout.pp, "pp size")
    ctx.expect_equal(ps.get_context_parallel_world_size(), ctx.layout.cp, "cp size")
    ctx.expect_equal(ps.get_data_parallel_world_size(), ctx.layout.dp, "dp size")


def check_resolve_groups_match_upstream(ctx: Context) -> None:
    """resolve_groups() with nothing passed: every field is upstream's group (same members)."""
    from mcore_compat import resolve_groups

    g = resolve_groups()
    for field in ("tp", "pp", "cp", "dp", "dp_cp", "ep", "expt_tp", "expt_dp", "mp", "tp_cp",
                  "embd", "pos_embd", "tp_ep"):
        got = _ranks(ctx, getattr(g, field))
        up = _upstream_group(ctx, field)
        if up is not None:
            ctx.expect_equal(got, _ranks(ctx, up), f"resolve_groups().{field} ranks vs upstream")
        if field not in ("embd", "pos_embd"):
            ctx.expect(got is not None and ctx.rank in got,
                       f"{field}: rank {ctx.rank} not in its own group {got}")
            ctx.expect_equal(g.size(field), _expected_size(ctx, field), f"{field} size")
            ctx.expect_equal(g.rank(field), (got or []).index(ctx.rank) if got else None,
                             f"{field} rank = position in the group")


def check_drop_in_getters_equal_upstream(ctx: Context) -> None:
    """Every wrapped getter called bare equals upstream's same getter on this release; the
    ones upstream lacks (new names on old releases) equal what the layout implies."""
    from mcore_compat import parallel_state as shim

    ps = ctx.ps
    for name, field, op, _ in shim._SIMPLE:
        up_fn = getattr(ps, name, None)
        if up_fn is not None:  # same value, or the same exception type (embd off its stages)
            ctx.expect_equal(_outcome(ctx, getattr(shim, name), op),
                             _outcome(ctx, up_fn, op), f"{name}() vs upstream")
            continue
        ours = getattr(shim, name)()
        if op == "world_size":
            ctx.expect_equal(ours, _expected_size(ctx, field), f"{name}() (added name)")
        elif op == "group":
            ctx.expect_equal(len(_ranks(ctx, ours)), _expected_size(ctx, field),
                             f"{name}() (added name) size")
        elif op == "rank":
            grp = _ranks(ctx, getattr(shim, name.replace("_rank", "_group"))())
            ctx.expect_equal(ours, grp.index(ctx.rank) if grp else None, f"{name}() (added)")
        elif op == "src_rank":
            grp = _ranks(ctx, shim.WRAPPED[{"ep": "get_expert_model_parallel_group",
                                            "mp": "get_model_parallel_group"}[field]]())
            ctx.expect_equal(ours, grp[0] if grp else None, f"{name}() (added)")
    for wcp in (False, True):
        for name in ("get_data_parallel_group", "get_data_parallel_rank",
                     "get_data_parallel_world_size", "get_data_parallel_src_rank"):
            ours, up = getattr(shim, name)(wcp), getattr(ps, name)(with_context_parallel=wcp)
            if name.endswith("group"):
                ours, up = _ranks(ctx, ours), _ranks(ctx, up)
            ctx.expect_equal(ours, up, f"{name}(with_context_parallel={wcp}) vs upstream")
    # keyword of another release asking for the default: dropped (0.19's with_gtp_remat=True)
    ctx.expect_equal(shim.get_data_parallel_rank(with_gtp_remat=True),
                     ps.get_data_parallel_rank(), "get_data_parallel_rank(with_gtp_remat=True)")
    try:
        shim.get_data_parallel_rank(with_gtp_remat=False)
        ctx.expect(False, "with_gtp_remat=False accepted on a release without it")
    except TypeError as exc:
        ctx.expect("with_gtp_remat" in str(exc) and ctx.release in str(exc)
                   and "0.19.0" in str(exc),
                   f"TypeError does not name keyword, release {ctx.release} and 0.19.0: {exc}")


def check_pass_through_names_are_upstream_objects(ctx: Context) -> None:
    """Every name the drop-in does not wrap is the installed release's own object."""
    from mcore_compat import parallel_state as shim

    ps = ctx.ps
    for name in ("initialize_model_parallel", "destroy_model_parallel",
                 "model_parallel_is_initialized", "set_virtual_pipeline_model_parallel_rank",
                 "get_virtual_pipeline_model_parallel_world_size", "RankGenerator",
                 "get_tensor_and_data_parallel_group", "get_data_parallel_group_gloo"):
        if hasattr(ps, name):
            ctx.expect(getattr(shim, name) is getattr(ps, name), f"{name} is not upstream's")
    wrapped = set(shim.WRAPPED)
    ctx.expect(not any(getattr(shim, n) is getattr(ps, n, None) for n in wrapped),
               "a wrapped getter is upstream's object")
    ctx.expect(set(dir(ps)) <= set(dir(shim)), "dir(shim) misses upstream names")


def check_explicit_groups_answer_from_them(ctx: Context) -> None:
    """Given a group, the drop-in answers from it; the other fields stay upstream's."""
    from mcore_compat import parallel_state as shim
    from mcore_compat import resolve_groups

    gr = _groups(ctx)
    quad, pair, r = gr["quad"], gr["pair"], ctx.rank
    ctx.expect_equal(shim.get_tensor_model_parallel_world_size(tp_group=quad), 4, "tp size(quad)")
    ctx.expect_equal(shim.get_tensor_model_parallel_rank(tp_group=quad), r % 4, "tp rank(quad)")
    ctx.expect_equal(shim.get_tensor_model_parallel_src_rank(tp_group=quad), r // 4 * 4,
                     "tp src rank(quad)")
    ctx.expect_equal(shim.get_pipeline_model_parallel_rank(pp_group=pair), r // 4, "pp rank(pair)")
    ctx.expect_equal(shim.get_pipeline_model_parallel_next_rank(pp_group=pair), (r + 4) % 8,
                     "pp next rank(pair)")
    ctx.expect_equal(shim.get_pipeline_model_parallel_last_rank(pp_group=pair), r % 4 + 4,
                     "pp last rank(pair)")
    ctx.expect_equal(shim.is_pipeline_first_stage(pp_group=pair), r < 4, "first stage(pair)")
    ctx.expect_equal(shim.is_pipeline_last_stage(pp_group=pair), r >= 4, "last stage(pair)")
    ctx.expect_equal(shim.get_data_parallel_world_size(dp_group=quad), 4, "dp size(quad)")
    ctx.expect_equal(shim.get_data_parallel_rank(True, dp_cp_group=pair), r // 4,
                     "dp-cp rank(pair)")
    ctx.expect_equal(shim.get_context_parallel_global_ranks(cp_group=pair), [r % 4, r % 4 + 4],
                     "cp global ranks(pair)")
    ctx.expect_equal(shim.get_expert_data_parallel_world_size(expt_dp_group=quad), 4,
                     "expt dp size(quad)")
    # through pg_collection, and explicit beats pg_collection
    pgc = resolve_groups(tp_group=pair)
    ctx.expect_equal(shim.get_tensor_model_parallel_rank(pg_collection=pgc), r // 4,
                     "tp rank via pg_collection")
    ctx.expect_equal(shim.get_tensor_model_parallel_rank(tp_group=quad, pg_collection=pgc),
                     r % 4, "explicit tp_group wins over pg_collection")
    # one explicit group leaves every other field upstream's (upstream's joint check does not)
    g = resolve_groups(tp_group=quad)
    ctx.expect_equal(_ranks(ctx, g.tp), _ranks(ctx, quad), "resolve_groups(tp_group=quad).tp")
    for field in ("pp", "cp", "dp", "dp_cp", "ep", "expt_dp"):
        up = _upstream_group(ctx, field)
        if up is not None:
            ctx.expect_equal(_ranks(ctx, getattr(g, field)), _ranks(ctx, up),
                             f"resolve_groups(tp_group=quad).{field} stays upstream's")
    g = resolve_groups(dp_group=pair)
    ctx.expect_equal(g.size("pp"), ctx.layout.pp, "pp size with only dp_group given")
    ctx.expect_equal(g.size("dp"), 2, "dp size with dp_group=pair")


def check_non_member_group_error(ctx: Context) -> None:
    """A group without the calling rank raises ValueError naming the rank."""
    from mcore_compat import get_pg_size, parallel_state as shim, resolve_groups

    low2 = _groups(ctx)["low2"]
    if ctx.rank < 2:
        ctx.expect_equal(resolve_groups(tp_group=low2).size("tp"), 2, "member of [0, 1]")
        return
    for label, call in (("resolve_groups", lambda: resolve_groups(tp_group=low2)),
                        ("get_tensor_model_parallel_rank",
                         lambda: shim.get_tensor_model_parallel_rank(tp_group=low2)),
                        ("get_pg_size", lambda: get_pg_size(low2))):
        try:
            call()
            ctx.expect(False, f"{label}: no error for a group without rank {ctx.rank}")
        except ValueError as exc:
            ctx.expect(f"rank {ctx.rank}" in str(exc) and "NON_GROUP_MEMBER" in str(exc),
                       f"{label}: message does not name rank {ctx.rank}: {exc}")


def check_loss_average(ctx: Context) -> None:
    """average_losses_across_data_parallel_group == the seed's fixed trainer code / size."""
    import torch

    from mcore_compat import average_losses_across_data_parallel_group

    ps, r = ctx.ps, ctx.rank
    loss = torch.tensor(float(r) + 0.5)
    got = average_losses_across_data_parallel_group([loss, 2 * loss])
    # the seed's "after" code (sum over the upstream DP group), divided by the size
    ref = loss.clone()
    if ps.get_data_parallel_world_size() > 1:
        ctx.dist.all_reduce(ref, group=ps.get_data_parallel_group())
    ref /= ps.get_data_parallel_world_size()
    members = _ranks(ctx, ps.get_data_parallel_group())
    want = sum(m + 0.5 for m in members) / len(members)
    ctx.expect(abs(float(got[0]) - want) < 1e-6 and abs(float(got[1]) - 2 * want) < 1e-6,
               f"average over DP {members}: got {got.tolist()}, want {[want, 2 * want]}")
    ctx.expect(abs(float(ref) - want) < 1e-6, f"upstream reference {float(ref)} != {want}")
    ctx.expect_equal(float(loss), r + 0.5, "input loss modified")
    quad = _groups(ctx)["quad"]
    got = average_losses_across_data_parallel_group(loss, dp_group=quad)
    want = sum(m + 0.5 for m in range(r // 4 * 4, r // 4 * 4 + 4)) / 4
    ctx.expect(abs(float(got[0]) - want) < 1e-6, f"dp_group=quad: {got.tolist()} != {want}")


def check_stage_predicates(ctx: Context) -> None:
    """One meaning on every release: ignore_virtual=True unless passed; equal to upstream with
    ignore_virtual passed explicitly; with virtual stages, the chunk formula."""
    from mcore_compat import parallel_state as shim

    ps, lay = ctx.ps, ctx.layout
    pp_rank = ps.get_pipeline_model_parallel_rank()
    first, last = pp_rank == 0, pp_rank == lay.pp - 1
    ctx.expect_equal(shim.is_pipeline_first_stage(), first, "is_pipeline_first_stage()")
    ctx.expect_equal(shim.is_pipeline_last_stage(), last, "is_pipeline_last_stage()")
    ctx.expect_equal(shim.is_pipeline_first_stage(), ps.is_pipeline_first_stage(ignore_virtual=True),
                     "first stage vs upstream(ignore_virtual=True)")
    ctx.expect_equal(shim.is_pipeline_last_stage(), ps.is_pipeline_last_stage(ignore_virtual=True),
                     "last stage vs upstream(ignore_virtual=True)")
    if lay.vpp is None:
        ctx.expect_equal(shim.is_pipeline_first_stage(ignore_virtual=False),
                         ps.is_pipeline_first_stage(ignore_virtual=False),
                         "first stage(ignore_virtual=False) vs upstream")
        return
    saved = ps.get_virtual_pipeline_model_parallel_rank()
    try:
        for k in range(lay.vpp):
            want_f, want_l = first and k == 0, last and k == lay.vpp - 1
            ctx.expect_equal(shim.is_pipeline_first_stage(ignore_virtual=False, vp_stage=k),
                             want_f, f"first stage(ignore_virtual=False, vp_stage={k})")
            ctx.expect_equal(shim.is_pipeline_last_stage(ignore_virtual=False, vp_stage=k),
                             want_l, f"last stage(ignore_virtual=False, vp_stage={k})")
            ps.set_virtual_pipeline_model_parallel_rank(k)
            ctx.expect_equal(shim.is_pipeline_first_stage(ignore_virtual=False), want_f,
                             f"first stage(ignore_virtual=False), global virtual rank {k}")
            if not ctx.at_least("0.13"):  # before 0.13 upstream reads the global virtual rank
                ctx.expect_equal(ps.is_pipeline_last_stage(ignore_virtual=False), want_l,
                                 f"upstream last stage(ignore_virtual=False), virtual rank {k}")
            else:
                ctx.expect_equal(ps.is_pipeline_last_stage(ignore_virtual=False, vp_stage=k),
                                 want_l, f"upstream last stage(False, vp_stage={k})")
    finally:
        ps.set_virtual_pipeline_model_parallel_rank(saved)


def check_pg_helpers_match_megatron_utils(ctx: Context) -> None:
    """get_pg_size / rank / src_rank equal megatron.core.utils' where it has them."""
    from megatron.core import utils

    import mcore_compat as mc

    for field in ("tp", "pp", "dp", "cp"):
        grp = _upstream_group(ctx, field)
        ranks = _ranks(ctx, grp)
        ctx.expect_equal((mc.get_pg_size(grp), mc.get_pg_rank(grp), mc.get_pg_src_rank(grp)),
                         (len(ranks), ranks.index(ctx.rank), ranks[0]), f"pg helpers on {field}")
        for name in ("get_pg_size", "get_pg_rank", "get_pg_src_rank"):
            up = getattr(utils, name, None)  # 0.13+ / 0.16+
            if up is not None:
                ctx.expect_equal(getattr(mc, name)(grp), up(grp), f"{name}({field}) vs utils")
                ctx.expect_equal(getattr(mc, name)(None), up(None), f"{name}(None) vs utils")


def check_pg_collection(ctx: Context) -> None:
    """pg_collection_from_mpu() holds upstream's groups; resolve_groups reads it; the
    pre-0.15 collection converts to ModelCommProcessGroups / GradCommProcessGroups."""
    import mcore_compat as mc

    pgc = mc.pg_collection_from_mpu()
    cls = mc.groups._pg_collection_class()
    ctx.expect(isinstance(pgc, cls), f"{type(pgc)} is not {cls}")
    ctx.expect_equal(cls.__module__.startswith("megatron"), ctx.at_least("0.15"),
                     f"upstream ProcessGroupCollection used ({cls.__module__})")
    for field in ("tp", "pp", "cp", "dp", "dp_cp", "ep", "expt_tp", "expt_dp", "mp", "tp_cp"):
        up = _upstream_group(ctx, field)
        if up is not None:
            ctx.expect_equal(_ranks(ctx, getattr(pgc, field, None)), _ranks(ctx, up),
                             f"pg_collection_from_mpu().{field}")
    g = mc.resolve_groups(pg_collection=pgc)
    ctx.expect_equal(_ranks(ctx, g.dp_cp), _ranks(ctx, _upstream_group(ctx, "dp_cp")),
                     "resolve_groups(pg_collection=...).dp_cp")
    back = g.to_pg_collection()
    ctx.expect(isinstance(back, cls), f"to_pg_collection() gave {type(back)}, not {cls}")
    for field in ("tp", "dp", "expt_dp"):
        ctx.expect_equal(_ranks(ctx, getattr(back, field, None)), _ranks(ctx, getattr(g, field)),
                         f"ParallelGroups.to_pg_collection().{field}")
    # the loss average reads pg_collection.dp like every other fallback
    quad = _groups(ctx)["quad"]
    via = mc.average_losses_across_data_parallel_group(
        ctx.torch.tensor(float(ctx.rank)), pg_collection=mc.resolve_groups(dp_group=quad))
    want = sum(range(ctx.rank // 4 * 4, ctx.rank // 4 * 4 + 4)) / 4
    ctx.expect(abs(float(via[0]) - want) < 1e-6, f"loss via pg_collection.dp: {via.tolist()}")
    if not ctx.at_least("0.15") and ctx.at_least("0.12"):
        mcp = pgc.model_comm_pgs()
        ctx.expect_equal(type(mcp).__name__, "ModelCommProcessGroups", "model_comm_pgs() type")
        ctx.expect_equal(_ranks(ctx, mcp.tp), _ranks(ctx, ctx.ps.get_tensor_model_parallel_group()),
                         "model_comm_pgs().tp")
        gcp = pgc.grad_comm_pgs()
        ctx.expect_equal(_ranks(ctx, gcp.dp), _ranks(ctx, ctx.ps.get_data_parallel_group()),
                         "grad_comm_pgs().dp")


def check_removed_names(ctx: Context) -> None:
    """Removed names: our answer equals the real function where the release still has it;
    where it removed them, the drop-in answers and warns once."""
    from mcore_compat import parallel_state as shim

    ps = ctx.ps
    pp_rank = ps.get_pipeline_model_parallel_rank()
    cases = {
        "get_pipeline_model_parallel_split_rank": ((), None),
        "is_pipeline_stage_before_split": ((), True),
        "is_pipeline_stage_after_split": ((), True),
        "is_pipeline_stage_at_split": ((), True),
        "is_inside_encoder": ((), ctx.layout.pp == 1 or pp_rank == 0),
        "is_inside_decoder": ((), True),
        "get_pipeline_model_parallel_decoder_start": ((), None),
        "is_unitialized": ((), False),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (args, want) in cases.items():
            ours = shim.REMOVED[name](*args)
            ctx.expect_equal(ours, want, f"{name}() emulation")
            # the emulation's target is the last release with the name (0.13.1/0.16.1);
            # 0.9.0's is_inside_encoder answered True on every stage (it passes through there)
            if hasattr(ps, name) and (name != "is_inside_encoder" or ctx.at_least("0.10")):
                ctx.expect_equal(ours, getattr(ps, name)(*args), f"{name}() vs upstream")
            if hasattr(ps, name):
                ctx.expect(getattr(shim, name) is getattr(ps, name), f"{name} not passed through")
        if hasattr(ps, "get_data_modulo_expert_parallel_group") and ctx.at_least("0.10"):
            ctx.expect_equal(_ranks(ctx, shim.REMOVED["get_data_modulo_expert_parallel_group"]()),
                             _ranks(ctx, ps.get_data_modulo_expert_parallel_group()),
                             "get_data_modulo_expert_parallel_group() vs upstream alias")
        if hasattr(ps, "get_tensor_and_expert_parallel_group"):  # 0.9.0
            ctx.expect_equal(shim.get_expert_tensor_and_model_parallel_world_size(),
                             ps.get_tensor_and_expert_parallel_world_size(),
                             "expert tensor-and-model size (added name) vs 0.9.0's")
            gloo = shim.get_expert_data_parallel_group_gloo()  # added name, 0.9's with-CP one
            ctx.expect_equal(_ranks(ctx, gloo), _ranks(ctx, shim.get_expert_data_parallel_group()),
                             "get_expert_data_parallel_group_gloo() (added name) members")
            if ctx.layout.cp == 1:
                ctx.expect_equal(shim.get_expert_data_parallel_rank(),
                                 ps.get_data_modulo_expert_parallel_rank(),
                                 "expert DP rank (added name) vs 0.9.0's data_modulo rank")
    if not ctx.at_least("0.14"):
        return
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        shim._warned.discard("is_inside_decoder")
        ctx.expect_equal(shim.is_inside_decoder(), True, "is_inside_decoder() on a new release")
        shim.is_inside_decoder()
    dep = [w for w in seen if issubclass(w.category, DeprecationWarning)
           and "is_inside_decoder" in str(w.message)]
    ctx.expect_equal(len(dep), 1, "DeprecationWarnings for two calls of a removed name")
    ctx.expect(dep and "0.14.0" in str(dep[0].message), f"warning text: {dep}")


def check_not_initialized_error(ctx: Context) -> None:
    """With dist up but megatron destroyed: errors name the group; explicit groups still work.
    (Runs in one layout only; re-initialises the layout afterwards.)"""
    if ctx.layout.name != harness.LAYOUTS[0].name:
        return
    import mcore_compat as mc
    from mcore_compat import parallel_state as shim
    from mcore_compat._dist import ModelParallelNotInitializedError

    ps = ctx.ps
    quad, pair = _groups(ctx)["quad"], _groups(ctx)["pair"]
    ps.destroy_model_parallel()
    try:
        for label, call, word in (
                ("resolve_groups()", lambda: mc.resolve_groups(), "tensor-parallel group"),
                ("get_data_parallel_world_size()", lambda: shim.get_data_parallel_world_size(),
                 "data-parallel group"),
                ("resolve_groups(tp_group=quad)", lambda: mc.resolve_groups(tp_group=quad),
                 "pipeline-parallel group")):
            try:
                call()
                ctx.expect(False, f"{label}: no error without initialize_model_parallel")
            except ModelParallelNotInitializedError as exc:
                ctx.expect(word in str(exc), f"{label}: message lacks {word!r}: {exc}")
        ctx.expect_equal(shim.get_tensor_model_parallel_rank(tp_group=quad), ctx.rank % 4,
                         "explicit group without megatron init")
        if ctx.at_least("0.13"):  # upstream's check_initialized=False: None, not an error
            ctx.expect_equal(shim.get_pipeline_model_parallel_group(check_initialized=False),
                             None, "get_pipeline_model_parallel_group(check_initialized=False)")
        ctx.expect_equal(_ranks(ctx, shim.get_tensor_model_parallel_group(
            tp_group=quad, check_initialized=False)), _ranks(ctx, quad),
            "tp_group= with check_initialized=False")
        g = mc.resolve_groups(tp_group=quad, pp_group=pair, cp_group=pair, dp_group=quad,
                              dp_cp_group=quad, ep_group=pair, expt_tp_group=pair,
                              expt_dp_group=quad)
        ctx.expect_equal((g.size("tp"), g.size("ep"), g.mp), (4, 2, None),
                         "all explicit groups without megatron init")
    finally:
        ps.initialize_model_parallel(**ctx.layout.init_kwargs(),
                                     distributed_timeout_minutes=harness.GLOO_TIMEOUT_S / 60)


def check_expert_groups_match_rank_layout(ctx: Context) -> None:
    """The expert groups the shim resolves (on 0.9.0 from the data_modulo_expert /
    tensor_and_expert names) have the members of 0.10+'s expert RankGenerator, as modelled by
    mcore_compat.layout.RankLayout: one meaning on every release."""
    import mcore_compat as mc
    from mcore_compat.layout import RankLayout

    lay = ctx.layout
    model = RankLayout(ctx.world_size, tp=lay.tp, pp=lay.pp, cp=lay.cp, ep=lay.ep, vpp=lay.vpp)
    g = mc.resolve_groups()
    for field, token in (("expt_dp", "dp"), ("ep", "ep"), ("expt_tp", "tp"), ("tp_ep", "tp-ep")):
        ctx.expect_equal(_ranks(ctx, getattr(g, field)),
                         list(model.group_of(token, ctx.rank, expert=True)),
                         f"{field} members vs RankLayout expert {token!r}")


def check_embedding_group_predicate(ctx: Context) -> None:
    """is_rank_in_embedding_group: 0.13+ meaning everywhere (ignore_virtual=True unless passed),
    equal to upstream with ignore_virtual explicit, and the virtual-chunk rule with vp_stage."""
    from mcore_compat import parallel_state as shim

    ps, lay, r = ctx.ps, ctx.layout, ctx.rank
    ranks = _ranks(ctx, ps._EMBEDDING_GROUP) or []
    ctx.expect_equal(shim.is_rank_in_embedding_group(), r in ranks, "is_rank_in_embedding_group()")
    if ps._EMBEDDING_GLOBAL_RANKS == ranks or r in ranks:  # upstream's list is not stale
        ctx.expect_equal(shim.is_rank_in_embedding_group(),
                         ps.is_rank_in_embedding_group(ignore_virtual=True), "vs upstream(True)")
    quad = _groups(ctx)["quad"]
    ctx.expect_equal(shim.is_rank_in_embedding_group(embd_group=quad), True, "embd_group=quad")
    if lay.vpp is None:
        return
    pp_rank = ps.get_pipeline_model_parallel_rank()
    for k in range(lay.vpp):
        want = r in ranks and ((r != ranks[0] or (pp_rank == 0 and k == 0))
                               and (r != ranks[-1] or (pp_rank == lay.pp - 1 and k == lay.vpp - 1)))
        ctx.expect_equal(shim.is_rank_in_embedding_group(False, k), want,
                         f"is_rank_in_embedding_group(False, vp_stage={k})")
        if ctx.at_least("0.13"):
            ctx.expect_equal(ps.is_rank_in_embedding_group(ignore_virtual=False, vp_stage=k), want,
                             f"upstream is_rank_in_embedding_group(False, vp_stage={k})")

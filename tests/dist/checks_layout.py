"""Layout checks (issue 5): the groups megatron really created equal RankLayout's.

Runs on every rank of every harness layout, right after ``initialize_model_parallel`` (default
order ``tp-cp-ep-dp-pp``): each process-group getter's ranks, read back with
``torch.distributed.get_process_group_ranks``, must equal ``RankLayout.group_of`` for the same
kind, and megatron's rank getters must equal ``RankLayout.coords``. Expert groups are compared
on releases that build the separate expert generator (megatron-core 0.10+: 0.9 carves EP out of
DP instead, a layout this model does not describe).
"""

from __future__ import annotations

from tests.dist.harness import Context


def _layout(ctx: Context):
    from mcore_compat.layout import RankLayout

    lay = ctx.layout
    return RankLayout(ctx.world_size, tp=lay.tp, pp=lay.pp, cp=lay.cp, ep=lay.ep, vpp=lay.vpp)


def _ranks(ctx: Context, group) -> list[int]:
    if isinstance(group, (list, tuple)):  # some releases return a list of pipeline groups
        group = group[0]
    return list(ctx.dist.get_process_group_ranks(group))


def check_layout_dense_groups_equal_megatron(ctx: Context) -> None:
    """TP, PP, DP, DP-CP, CP, TP-PP (model), TP-DP, TP-DP-CP, TP-CP groups of this rank."""
    ps, layout, rank = ctx.ps, _layout(ctx), ctx.rank
    getters = {
        "tp": lambda: ps.get_tensor_model_parallel_group(),
        "pp": lambda: ps.get_pipeline_model_parallel_group(),
        "dp": lambda: ps.get_data_parallel_group(),
        "dp-cp": lambda: ps.get_data_parallel_group(with_context_parallel=True),
        "cp": lambda: ps.get_context_parallel_group(),
        "tp-pp": lambda: ps.get_model_parallel_group(),
        "tp-dp": lambda: ps.get_tensor_and_data_parallel_group(with_context_parallel=False),
        "tp-dp-cp": lambda: ps.get_tensor_and_data_parallel_group(with_context_parallel=True),
        "tp-cp": lambda: ps.get_tensor_and_context_parallel_group(),
    }
    for token, get in getters.items():
        ctx.expect_equal(_ranks(ctx, get()), layout.group_of(token, rank), f"{token} group of rank {rank}")


def check_layout_expert_groups_equal_megatron(ctx: Context) -> None:
    """EP, expert-TP, TP-EP, TP-EP-PP and expert-DP groups (expert generator, 0.10+)."""
    ps = ctx.ps
    if not hasattr(ps, "get_expert_tensor_parallel_group"):
        return  # megatron-core < 0.10: no separate expert generator
    layout, rank = _layout(ctx), ctx.rank
    getters = {
        "ep": lambda: ps.get_expert_model_parallel_group(),
        "tp": lambda: ps.get_expert_tensor_parallel_group(),
        "tp-ep": lambda: ps.get_expert_tensor_and_model_parallel_group(),
        "tp-ep-pp": lambda: ps.get_expert_tensor_model_pipeline_parallel_group(),
        "dp": lambda: ps.get_expert_data_parallel_group(),
    }
    for token, get in getters.items():
        ctx.expect_equal(
            _ranks(ctx, get()), layout.group_of(token, rank, expert=True),
            f"expert {token} group of rank {rank}",
        )


def check_layout_coords_equal_megatron_ranks(ctx: Context) -> None:
    """megatron's per-axis rank getters equal RankLayout.coords, sizes equal RankLayout.sizes."""
    ps, layout = ctx.ps, _layout(ctx)
    c = layout.coords(ctx.rank)
    ctx.expect_equal(ps.get_tensor_model_parallel_rank(), c["tp"], "tp rank")
    ctx.expect_equal(ps.get_pipeline_model_parallel_rank(), c["pp"], "pp rank")
    ctx.expect_equal(ps.get_data_parallel_rank(), c["dp"], "dp rank")
    ctx.expect_equal(ps.get_context_parallel_rank(), c["cp"], "cp rank")
    ctx.expect_equal(ps.get_data_parallel_world_size(), layout.sizes.dp, "dp size")
    if hasattr(ps, "get_expert_tensor_parallel_rank"):
        ctx.expect_equal(ps.get_expert_model_parallel_rank(), c["ep"], "ep rank")
        ctx.expect_equal(ps.get_expert_tensor_parallel_rank(), c["etp"], "expert tp rank")
        ctx.expect_equal(ps.get_expert_data_parallel_rank(), c["edp"], "expert dp rank")
    if ctx.layout.vpp is not None:
        ctx.expect_equal(
            ps.get_virtual_pipeline_model_parallel_world_size(), layout.sizes.vpp, "vpp size")

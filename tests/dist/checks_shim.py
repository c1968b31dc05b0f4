"""Shim checks (issue 3) run on every rank of every layout by the shared harness."""

from __future__ import annotations

from tests.dist.harness import Context


def check_layout_sizes(ctx: Context) -> None:
    """Upstream's own sizes match the layout the harness asked for (the harness works)."""
    ps = ctx.ps
    ctx.expect_equal(ps.get_tensor_model_parallel_world_size(), ctx.layout.tp, "tp size")
    ctx.expect_equal(ps.get_pipeline_model_parallel_world_size(), ctx.layout.pp, "pp size")
    ctx.expect_equal(ps.get_context_parallel_world_size(), ctx.layout.cp, "cp size")
    ctx.expect_equal(ps.get_data_parallel_world_size(), ctx.layout.dp, "dp size")

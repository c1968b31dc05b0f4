"""Checks that misbehave on purpose, for the harness self-test (tests/dist/test_harness.py).

Not collected by the normal run: the harness only globs ``tests/dist/checks_*.py``.
Layout 1 exercises soft failures, a raise, and a collective a peer never joins (gloo timeout);
layout 2 a rank that never returns (the run deadline kills it).
"""

from __future__ import annotations

import time

from tests.dist.harness import LAYOUTS, Context


def check_a_soft_failure(ctx: Context) -> None:
    if ctx.layout.name == LAYOUTS[0].name:
        ctx.expect(ctx.rank != 3, f"rank {ctx.rank} disagrees on purpose")


def check_b_peer_never_joins(ctx: Context) -> None:
    """Ranks 1-7 all-reduce over a group of all 8; rank 0 raises first: they must time out
    (not hang), and the run goes on with the next layout."""
    if ctx.layout.name != LAYOUTS[0].name:
        return
    group = ctx.dist.new_group(list(range(ctx.world_size)))  # collective: every rank joins
    if ctx.rank == 0:
        raise ValueError("rank 0 fails before the collective")
    ctx.dist.all_reduce(ctx.torch.ones(1), group=group)


def check_c_after_a_raise(ctx: Context) -> None:
    """Skipped in layout 1 (a peer raised); passes in the others that still run."""


def check_d_rank_never_returns(ctx: Context) -> None:
    if ctx.layout.name == LAYOUTS[1].name and ctx.rank == 2:
        time.sleep(3600)

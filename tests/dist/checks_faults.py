"""The shim under faults (issue 12), run on every rank by the shared harness (contract: harness.py).

One rank passes a process group it does not belong to. It must get the shim's ``ValueError``
(naming its rank) *before* entering any collective, while the ranks that do belong to that
group finish their collective, and nobody hangs: the following world-wide collective completes
quickly on every rank. Second fault: the rank a two-rank group waits for passes the wrong
group instead; its peer gets a bounded gloo timeout error (not a hang), then everyone
carries on. Only the first layout runs these (groups made here are independent of the layout).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from tests.dist.harness import Context

FAULTY = 5  # the rank that passes a group it is not in
#: Seconds the peer of the faulty rank waits in its collective before gloo gives up.
PEER_TIMEOUT_S = 3.0
#: A world collective after the fault must finish well within the harness's gloo timeout.
AFTER_FAULT_MAX_S = 10.0

_GROUPS: dict[str, Any] = {}


def _groups(ctx: Context) -> dict[str, Any]:
    if not _GROUPS:  # every rank creates every group, same order (new_group's rule)
        _GROUPS["low"] = ctx.dist.new_group([0, 1, 2])
        _GROUPS["pair"] = ctx.dist.new_group([4, FAULTY], timeout=timedelta(seconds=PEER_TIMEOUT_S))
    return _GROUPS


def _world_flags(ctx: Context, mine: list[float]) -> tuple[list[float], float]:
    """Sum of every rank's flags over the world group, and how long it took."""
    t = ctx.torch.tensor(mine, dtype=ctx.torch.float64)
    start = time.monotonic()
    ctx.dist.all_reduce(t)
    return t.tolist(), time.monotonic() - start


def check_foreign_group_errors_on_that_rank_only(ctx: Context) -> None:
    """Rank 5 averages a loss over [0, 1, 2]: ValueError there; 0-2 get their average; no hang."""
    if ctx.layout.name != "tp2-pp2":
        return
    from mcore_compat import average_losses_across_data_parallel_group

    low = _groups(ctx)["low"]
    loss = ctx.torch.tensor(float(ctx.rank) + 1.0)
    raised = averaged_ok = 0.0
    if ctx.rank in (0, 1, 2):
        got = average_losses_across_data_parallel_group([loss], dp_group=low)
        averaged_ok = float(abs(float(got[0]) - 2.0) < 1e-6)  # mean of 1, 2, 3
        ctx.expect(averaged_ok == 1.0, f"average over [0, 1, 2]: got {got.tolist()}, want [2.0]")
    elif ctx.rank == FAULTY:
        start = time.monotonic()
        try:
            average_losses_across_data_parallel_group([loss], dp_group=low)
            ctx.expect(False, f"rank {FAULTY}: no error for a group without it")
        except ValueError as exc:
            raised = 1.0
            ctx.expect(f"rank {FAULTY}" in str(exc), f"error does not name rank {FAULTY}: {exc}")
            ctx.expect(time.monotonic() - start < 1.0, "the error came after waiting (entered a collective?)")
    flags, took = _world_flags(ctx, [raised, averaged_ok])
    ctx.expect(flags == [1.0, 3.0], f"world saw errors/averages {flags}, want exactly rank {FAULTY}'s error and 3 averages")
    ctx.expect(took < AFTER_FAULT_MAX_S, f"world collective after the fault took {took:.1f} s (a rank hung?)")


def check_peer_of_faulty_rank_times_out_instead_of_hanging(ctx: Context) -> None:
    """Rank 4 averages over [4, 5] but rank 5 passes [0, 1, 2]: rank 5 gets the ValueError at
    once, rank 4 a gloo error after ~PEER_TIMEOUT_S, and every rank then meets again."""
    if ctx.layout.name != "tp2-pp2":
        return
    from mcore_compat import average_losses_across_data_parallel_group

    groups = _groups(ctx)
    loss = ctx.torch.tensor(1.0)
    raised = timed_out = 0.0
    if ctx.rank == 4:
        start = time.monotonic()
        try:
            average_losses_across_data_parallel_group([loss], dp_group=groups["pair"])
            ctx.expect(False, "rank 4 finished a collective its peer never entered")
        except RuntimeError as exc:  # gloo: Timed out waiting ... for recv
            waited = time.monotonic() - start
            timed_out = 1.0
            ctx.expect(waited < PEER_TIMEOUT_S + 20, f"rank 4 waited {waited:.1f} s for a {PEER_TIMEOUT_S} s timeout")
            ctx.expect("imeout" in str(exc) or "timed out" in str(exc).lower(), f"rank 4: unexpected error {exc}")
    elif ctx.rank == FAULTY:
        try:
            average_losses_across_data_parallel_group([loss], dp_group=groups["low"])
        except ValueError:
            raised = 1.0
    flags, took = _world_flags(ctx, [raised, timed_out])
    ctx.expect(flags == [1.0, 1.0], f"world saw [errors, timeouts] = {flags}, want [1, 1]")
    ctx.expect(took < AFTER_FAULT_MAX_S + PEER_TIMEOUT_S, f"world collective after the fault took {took:.1f} s")

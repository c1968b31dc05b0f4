"""The shared harness itself: failures come back per rank, a raise skips the rest of its
layout, a collective a peer never joins times out, and a rank that never returns is killed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.dist import harness

SELFTEST = Path(__file__).resolve().parent / "selftest"


@pytest.mark.dist
@pytest.mark.real
def test_harness_reports_failures_and_never_hangs(monkeypatch):
    t0 = time.monotonic()
    res = harness.run_release("0.16.1", timeout=25, env_extra={
        "MCORE_COMPAT_DIST_CHECKS_DIR": str(SELFTEST), "MCORE_COMPAT_DIST_GLOO_TIMEOUT": "3"})
    wall = time.monotonic() - t0
    assert wall < 60, f"run took {wall:.0f} s despite a 25 s deadline"
    lay1, lay2 = harness.LAYOUTS[0].name, harness.LAYOUTS[1].name
    m = "checks_selftest"

    soft = res.failures_of(m, "check_a_soft_failure")
    assert soft == [f"[0.16.1 {lay1} rank 3] FAILED: rank 3 disagrees on purpose"], soft

    hang = res.failures_of(m, "check_b_peer_never_joins")
    assert any("rank 0] FAILED: raised ValueError: rank 0 fails before" in x for x in hang), hang
    # the 7 ranks waiting for rank 0 got a gloo timeout instead of hanging
    waited = {r["rank"]: " ".join(r["messages"]) for r in res.records[(m, "check_b_peer_never_joins")]
              if r["layout"] == lay1 and r["rank"] != 0}
    assert sorted(waited) == [1, 2, 3, 4, 5, 6, 7], waited
    assert all("raised" in msg and "Timed out" in msg for msg in waited.values()), waited

    after = res.failures_of(m, "check_c_after_a_raise")
    assert len(after) == 1, after
    assert after[0].startswith(f"[0.16.1 {lay1} ranks [0, 1, 2, 3, 4, 5, 6, 7]] skipped: not run: "
                               "checks_selftest.check_b_peer_never_joins raised on 8 rank(s)"), after

    # rank 2 never returned in layout 2: killed at the deadline, named with where it was
    killed = [e for e in res.errors if e.startswith("rank 2:")]
    assert killed and "killed after the 25 s run timeout" in killed[0], res.errors
    assert f"check_d_rank_never_returns on layout {lay2}" in killed[0], res.errors
    assert res.missing(m, "check_d_rank_never_returns")[:1] == [f"{lay2}/rank 2"]
    # what the pytest test of a check shows for this run
    monkeypatch.setattr(harness, "results_for", lambda release: res)
    with pytest.raises(AssertionError, match=r"(?s)rank 3 disagrees on purpose.*run errors: "
                                             r".*rank 2: killed"):
        harness.assert_check_passed("0.16.1", m, "check_a_soft_failure")

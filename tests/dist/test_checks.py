"""One pytest test per (megatron-core release, check function) of the shared harness.

Every ``check_*`` of every ``tests/dist/checks_*.py`` module is collected here; all of a
release's checks run in one batched worker (8 forked gloo ranks, all layouts), see harness.py.
"""

from __future__ import annotations

import pytest

from tests.dist import harness
from tools.downloads import SHIM_TEST_RELEASES

CHECKS = harness.discover_checks()


@pytest.mark.dist
@pytest.mark.real
@pytest.mark.parametrize("release", SHIM_TEST_RELEASES)
@pytest.mark.parametrize("module,check", CHECKS, ids=[f"{m}.{c}" for m, c in CHECKS])
def test_check(release: str, module: str, check: str) -> None:
    harness.assert_check_passed(release, module, check)

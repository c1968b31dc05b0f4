"""The shipped index equals what ``tools/build_api_index.py`` produces from the real wheels.

Two releases are regenerated from the downloaded wheels (an old 3.11 wheel and a new
3.12-only one, so both download paths and both eras of the source tree are covered) and each
release's view is compared record by record with the shipped file.
"""

from __future__ import annotations

import json

import pytest

from mcore_compat import api_index
from tools.build_api_index import main, scan_release
from tools.downloads import megatron_core

pytestmark = pytest.mark.real


RELEASES = ("0.9.0", "0.17.1")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """The generator's whole pipeline (download, scan, encode, write) for two releases."""
    out = tmp_path_factory.mktemp("index") / "api_index.jsonl"
    assert main([*RELEASES, "--out", str(out)]) == 0
    return api_index.load(out)


@pytest.mark.parametrize("release", RELEASES)
def test_shipped_index_matches_generator(release, regenerated):
    fresh = regenerated.view(release)
    shipped = api_index.load().view(release)
    missing = sorted(fresh.keys() - shipped.keys())
    extra = sorted(shipped.keys() - fresh.keys())
    differ = sorted(q for q in fresh.keys() & shipped.keys() if fresh[q] != shipped[q])
    assert not (missing or extra or differ), (
        f"shipped index is stale for {release}: {len(missing)} missing e.g. {missing[:3]}, "
        f"{len(extra)} extra e.g. {extra[:3]}, {len(differ)} differ e.g. {differ[:3]}; "
        "regenerate with `python -m tools.build_api_index`"
    )
    assert len(fresh) > 4000
    # the same view as a direct scan (encode/decode lose nothing)
    assert fresh == json.loads(json.dumps(scan_release(megatron_core(release))))

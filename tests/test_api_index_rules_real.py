"""MC102/MC103/MC104 on real megatron-core sources downloaded from PyPI.

Precision: a release's own source checked against that same release yields nothing except the
real megatron bugs listed (with line and why) in ``fixtures/real/mc102_known.toml``; this
exercises relative imports, re-exports, ``mpu``, compiled modules and dynamic modules inside
megatron. Recall: 0.12.0's source checked against 0.16.1 reports the names 0.16.1 removed,
cross-checked against the reviewed facts (``mcore_compat.facts``) and the research notes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mcore_lint.engine import check_source
from mcore_lint.rules import all_rules
from mcore_lint.semantic import module_name_for
from mcore_lint.target import Target
from tools.downloads import megatron_core

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.real

ROOT = Path(__file__).resolve().parents[1]
_FIXTURE = tomllib.loads((ROOT / "fixtures" / "real" / "mc102_known.toml").read_text())
KNOWN = _FIXTURE["known"]
DOWNSTREAM = _FIXTURE["downstream"]
CODES = ("MC102", "MC103", "MC104")


def _check_tree(root: Path, paths, target: str) -> list:
    rules = [r for r in all_rules() if r.code in CODES]
    found = []
    for path in paths:
        module, is_pkg = module_name_for(path)
        text = path.read_text(encoding="utf-8")
        found += check_source(text, str(path.relative_to(root)), rules, Target.parse(target),
                              module=module, is_package=is_pkg)
    return found


def _check_release(source_release: str, target: str) -> list:
    root = megatron_core(source_release)
    return _check_tree(root, sorted((root / "megatron" / "core").rglob("*.py")), target)


@pytest.mark.parametrize("release", ["0.9.0", "0.16.1", "0.17.1"])
def test_own_source_against_own_release_finds_only_real_bugs(release):
    found = {(f.code, f.filename, f.location.row) for f in _check_release(release, release)}
    known = {(k["code"], k["file"], k["line"]) for k in KNOWN if k["release"] == release}
    assert found - known == set(), f"false positives on megatron-core {release}: {sorted(found - known)}"
    assert known - found == set(), f"known real bugs no longer found: {sorted(known - found)}"


@pytest.fixture(scope="module")
def upgrade_findings():
    return _check_release("0.12.0", "0.16.1")


def test_upgrade_0_12_to_0_16_reports_removed_names(upgrade_findings):
    from mcore_compat import facts

    by_name: dict[str, set[str]] = {}
    for f in upgrade_findings:
        name = f.message.split("`")[1]
        by_name.setdefault(name, set()).add(f.code)
    # removals without replacement (facts [[removed]], research §1.2): MC103
    for removed in ("is_inside_encoder", "is_inside_decoder", "get_pipeline_model_parallel_decoder_start"):
        q = f"megatron.core.parallel_state.{removed}"
        assert facts.removed_symbol(q) is not None
        assert by_name.get(q) == {"MC103"}, (q, by_name.get(q))
    # reviewed renames (facts [[symbol]]): MC104 with a safe fix to the new name
    for old in ("get_moe_layer_wise_logging_tracker", "get_inter_partial_data_parallel_group"):
        q = f"megatron.core.parallel_state.{old}"
        row = facts.moved_symbol(q) or facts.renamed_symbol(q)
        assert row is not None
        hits = [f for f in upgrade_findings if f.message.startswith(f"`{q}` was renamed to `{row.new}`")]
        assert hits and all(f.code == "MC104" and f.fix.applicability.value == "safe" for f in hits)
    assert by_name.get("megatron.core.distributed.custom_fsdp") == {"MC104"}
    # nothing 0.12.0 uses that 0.16.1 still has is reported: every name is really missing there
    from mcore_compat.api_index import load

    idx = load()
    for name in by_name:
        assert idx.resolve("0.16.1", name).missing, name
        assert not idx.resolve("0.12.0", name).missing, name


@pytest.mark.parametrize("part, target", [("megatron-bridge-0.6.2", "0.19.2"), ("nemo-2.2.1", "0.12.0")])
def test_downstream_code_finds_only_known_problems(part, target):
    """Released downstream code against a megatron-core release it supports: nothing but the
    calls listed in the fixture (functions no megatron-core release defines)."""
    from tools.corpus import files, site_root

    found = {(f.code, f.filename, f.location.row) for f in _check_tree(site_root(part), files(part), target)}
    known = {(k["code"], k["file"], k["line"]) for k in DOWNSTREAM if k["part"] == part and k["target"] == target}
    assert found == known
    from mcore_compat.api_index import load

    idx = load()
    for k in DOWNSTREAM:  # "real": no indexed release has these names
        assert idx.releases_with(k["name"]) == [], k["name"]

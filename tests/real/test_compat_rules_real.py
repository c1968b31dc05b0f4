"""MC501-MC505 on real downstream code from PyPI (the shared corpus, tools/corpus.py).

One lint run per corpus part with all five rules (MC504 selected explicitly: it is off by
default): megatron-bridge 0.6.2 against the span >=0.16.1, nemo-toolkit 2.2.1 (nlp + lightning)
against >=0.11.0. Every finding is listed in fixtures/real/compat_rules_downstream.toml with a
one-line human verdict, none a false positive, and every listed finding is still found.

The corpus has no string version compare (MC501) and no drifting monkey patch (MC505): those
two rules are also run on real files of the corpus with the bug put in (the real code around
it unchanged), and MC503's unsafe fix is applied to nemo's real file.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import pytest

from mcore_lint.engine import check_source
from mcore_lint.fix import fix_source
from mcore_lint.rules.registry import rule_by_code
from mcore_lint.semantic import module_name_for
from mcore_lint.target import Target
from tests.helpers import lint_corpus_part
from tools import corpus

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.real

ROOT = Path(__file__).resolve().parents[2]
VERDICTS = tomllib.loads((ROOT / "fixtures/real/compat_rules_downstream.toml").read_text(encoding="utf-8"))["finding"]
CODES = ("MC501", "MC502", "MC503", "MC504", "MC505")
RULES = [rule_by_code(c) for c in CODES]
RUNS = {"megatron-bridge-0.6.2": ">=0.16.1", "nemo-2.2.1": ">=0.11.0"}


@lru_cache(maxsize=None)
def _lint(part: str, target: str) -> tuple:
    return tuple(lint_corpus_part(part, RULES, target, lambda path, site: module_name_for(path)))


def _name(f) -> str:
    """The fixture's ``name`` of a finding: the symbol, or the kind of MC502 finding."""
    e = f.extra
    if f.code == "MC502":
        return f"or: {e['caught']}" if e.get("caught") else "bare except"
    return e.get("symbol") or e.get("target") or e.get("version") or ""


def _real_file(part: str, inside: str) -> tuple[str, str, str | None, bool]:
    path = corpus.site_root(part) / inside
    module, is_pkg = module_name_for(path)
    return path.read_text(encoding="utf-8"), inside, module, is_pkg


def test_every_verdict_is_real_and_names_a_rule_of_this_issue():
    assert VERDICTS
    for v in VERDICTS:
        assert v["verdict"].startswith("real: "), v
        assert "false positive" not in v["verdict"].lower(), v
        assert v["code"] in CODES and v["part"] in RUNS and v["target"] == RUNS[v["part"]], v


@pytest.mark.parametrize("part", sorted(RUNS))
def test_downstream_findings_all_have_a_verdict(part):
    target = RUNS[part]
    found = _lint(part, target)
    got = {(f.filename, f.location.row, f.code, _name(f)) for f in found}
    listed = {(v["file"], v["line"], v["code"], v["name"]) for v in VERDICTS if v["part"] == part}
    assert got - listed == set(), f"findings without a verdict on {part}: {sorted(got - listed)}"
    assert listed - got == set(), f"listed findings no longer found on {part}: {sorted(listed - got)}"
    assert len(got) == len(found), "two findings share a fixture key"
    for f in found:  # messages name what they are about
        assert _name(f).split(".")[-1].replace("or: ", "").replace("bare except", "except:") in f.message


def test_nemo_silent_fsdp_fallback_and_except_or_are_found():
    """The two bugs of research/downstream-compat.md seen in NeMo 2.2.1 itself."""
    found = _lint("nemo-2.2.1", RUNS["nemo-2.2.1"])
    by_code = {}
    for f in found:
        by_code.setdefault(f.code, []).append(f)
    assert {f.filename for f in by_code["MC503"]} == {"nemo/lightning/megatron_parallel.py",
                                                      "nemo/lightning/_strategy_lib.py"}
    assert all("0.14.0-0.19.2" in f.message and "megatron.core.distributed.fsdp" in f.message
               for f in by_code["MC503"])
    (or_finding,) = [f for f in by_code["MC502"] if f.extra.get("caught")]
    assert or_finding.fix is not None and or_finding.fix.edits[0].content == "(ImportError, ModuleNotFoundError)"


def test_mc503_unsafe_fix_on_nemo_megatron_parallel():
    text, name, module, is_pkg = _real_file("nemo-2.2.1", "nemo/lightning/megatron_parallel.py")
    rule = [rule_by_code("MC503")]
    assert not check_source(text, name, rule, Target.parse("0.13.1"), module=module, is_package=is_pkg)
    result = fix_source(text, name, rule, Target.parse("0.17.1"), unsafe=True, module=module, is_package=is_pkg)
    assert result.error is None and len(result.fixed) == 1 and result.remaining == []
    assert "    from megatron.core.distributed.fsdp import FullyShardedDataParallel\n" in result.text
    assert "custom_fsdp import" not in result.text
    assert result.text.count("\n") == text.count("\n")  # one line changed in place
    safe_only = fix_source(text, name, rule, Target.parse("0.17.1"), unsafe=False, module=module, is_package=is_pkg)
    assert safe_only.text == text


def test_mc501_on_bridge_packed_seq_utils_with_a_string_compare():
    """bridge compares `PkgVersion(megatron.core.__version__)`; written as strings, the gate
    is wrong for 0.9.x and the fix restores the Version compare with bridge's own alias."""
    inside = "megatron/bridge/training/utils/packed_seq_utils.py"
    text, name, module, is_pkg = _real_file("megatron-bridge-0.6.2", inside)
    rule = [rule_by_code("MC501")]
    assert check_source(text, name, rule, Target(), module=module, is_package=is_pkg) == []
    good_assign = "mcore_version = PkgVersion(megatron.core.__version__)"
    good_compare = "if mcore_version < _MIN_MCORE_THD_CP_VERSION or"
    assert good_assign in text and good_compare in text
    bad = text.replace(good_assign, "mcore_version = megatron.core.__version__").replace(
        good_compare, 'if mcore_version < "0.18.0" or')
    (f,) = check_source(bad, name, rule, Target(), module=module, is_package=is_pkg)
    assert f.location.row == text[:text.index(good_compare)].count("\n") + 1
    assert '"0.9.0" >= "0.18.0"' in f.message or "as strings but" in f.message
    fixed = fix_source(bad, name, rule, Target(), module=module, is_package=is_pkg)
    assert 'if PkgVersion(mcore_version) < PkgVersion("0.18.0") or' in fixed.text
    assert fixed.text.count("from packaging.version import") == 1  # reused bridge's import
    # half done: the version parsed, the bound a string -> TypeError on every release
    half = text.replace(good_compare, 'if mcore_version < "0.18.0" or')
    (g,) = check_source(half, name, rule, Target(), module=module, is_package=is_pkg)
    assert "raises TypeError" in g.message
    assert 'if mcore_version < PkgVersion("0.18.0") or' in fix_source(
        half, name, rule, Target(), module=module, is_package=is_pkg).text


def test_mc505_on_nemo_te_kwargs_patch_with_a_drifted_replacement():
    """NeMo replaces `_get_extra_te_kwargs(config)` with a one-argument wrapper (fits); a
    wrapper that requires a second argument breaks every megatron call of it."""
    text, name, module, is_pkg = _real_file("nemo-2.2.1", "nemo/lightning/_strategy_lib.py")
    rule = [rule_by_code("MC505")]
    target = Target.parse("0.16.1")
    assert check_source(text, name, rule, target, module=module, is_package=is_pkg) == []
    good = "def _get_extra_te_kwargs_meta(c):"
    assert good in text
    bad = text.replace(good, "def _get_extra_te_kwargs_meta(c, device):")
    (f,) = check_source(bad, name, rule, target, module=module, is_package=is_pkg)
    assert "`_get_extra_te_kwargs(config)` in megatron-core 0.16.1" in f.message
    assert "`_get_extra_te_kwargs_meta(c, device)`" in f.message and "requires `device`" in f.message
    assert f.fix is not None and fix_source(bad, name, rule, target, module=module, is_package=is_pkg).text == bad

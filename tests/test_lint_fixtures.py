"""The bundled before/after pairs (fixtures/mc101/): `mcore-fix` turns each *_before.py into
exactly its *_after.py, the result compiles, a second run changes nothing and `mcore-lint`
on it is clean."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mcore_lint.engine import check_source
from mcore_lint.fix import fix_source
from mcore_lint.rules import rule_by_code, select_rules

ROOT = Path(__file__).resolve().parents[1]
PAIRS = sorted((ROOT / "fixtures" / "mc101").glob("*_before.py"))


def test_there_are_pairs():
    assert len(PAIRS) >= 2
    for before in PAIRS:
        assert before.with_name(before.name.replace("_before.py", "_after.py")).exists()


@pytest.mark.parametrize("before", PAIRS, ids=lambda p: p.stem)
def test_fix_turns_before_into_after(before, tmp_path):
    after = before.with_name(before.name.replace("_before.py", "_after.py"))
    rules = [rule_by_code("MC101")]
    src = before.read_text(encoding="utf-8")
    assert check_source(src, before.name, rules), "fixture shows no MC101"
    result = fix_source(src, before.name, rules)
    assert result.error is None
    assert result.text == after.read_text(encoding="utf-8")
    compile(result.text, str(after), "exec")
    again = fix_source(result.text, after.name, rules)
    assert again.text == result.text and not again.fixed
    assert check_source(result.text, after.name, select_rules()) == []  # every default rule


def test_cli_fixes_a_copy_of_the_fixtures(tmp_path):
    from click.testing import CliRunner

    from mcore_lint.cli import fix_command, lint_command

    work = tmp_path / "fixtures"
    shutil.copytree(ROOT / "fixtures" / "mc101", work)
    for p in work.glob("*_after.py"):
        p.unlink()
    r = CliRunner().invoke(fix_command, [str(work), "--no-cache", "--select", "MC101"],
                               catch_exceptions=False)
    assert r.exit_code == 0, r.output
    for before in PAIRS:
        assert (work / before.name).read_text(encoding="utf-8") == before.with_name(
            before.name.replace("_before.py", "_after.py")).read_text(encoding="utf-8")
    r = CliRunner().invoke(lint_command, [str(work), "--no-cache"], catch_exceptions=False)
    assert r.exit_code == 0 and r.stdout == "All checks passed!\n"


def test_readme_documents_every_rule():
    """The README's rules section is generated (tools/gen_rule_docs.py); every rule is there."""
    from mcore_lint.rules import all_rules

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [r.code for r in all_rules() if f"### {r.code} {r.name}\n" not in readme]
    assert not missing, f"README lacks {missing}: run `.venv/bin/python -m tools.gen_rule_docs`"

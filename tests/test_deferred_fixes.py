"""Deferred fixes: a text report does not build MC301/MC302's rewrite, everything else still sees it.

``mcore-lint`` with a text, GitHub or statistics report prints no edits, so the explicit-group
rules decide their findings on the plan alone (no libcst positions, no rewritten text) and
return a fix marked ``deferred``. The findings must be the same as with edits, and a later run
that prints or applies edits (JSON/SARIF, ``mcore-fix``) must not be answered from a cache entry
holding only deferred fixes.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from mcore_lint.cli import fix_command, lint_command
from mcore_lint.engine import check_source
from mcore_lint.rules.registry import configured
from mcore_lint.target import Target

SOURCE = textwrap.dedent('''
    import torch
    from megatron.core import parallel_state as mpu


    def rank_name(path, tp_group=None):
        """Directory of this rank."""
        return f"{path}/mp_rank_{mpu.get_tensor_model_parallel_rank():02d}"


    class Reporter:
        def __init__(self, dp_group=None):
            self.dp_group = dp_group

        @torch.no_grad()
        def report(self, loss, scale=mpu.get_data_parallel_world_size):
            torch.distributed.all_reduce(loss, group=mpu.get_data_parallel_group())
            size = mpu.get_data_parallel_world_size()
            return loss / mpu.get_data_parallel_world_size() / size


    def loss_func(loss):
        torch.distributed.all_reduce(loss, group=mpu.get_data_parallel_group())
        return loss / mpu.get_data_parallel_world_size()
''')


def _findings(edits: bool, target: str):
    rules = [configured("MC301", ()), configured("MC302", ())]
    return check_source(SOURCE, "t.py", rules, Target.parse(target), edits=edits)


@pytest.mark.parametrize("target", ["0.12.3", "0.16.1"])
def test_same_findings_with_and_without_edits(target):
    full, plan = _findings(True, target), _findings(False, target)
    assert {f.code for f in full} == {"MC301", "MC302"}
    assert len(full) >= 5
    assert [(f.code, f.message, f.location, f.end_location) for f in plan] == [
        (f.code, f.message, f.location, f.end_location) for f in full]
    for f in full:
        assert f.fix is not None and not f.fix.deferred and f.fix.edits
    for f in plan:
        assert f.fix is not None and f.fix.deferred and not f.fix.edits and not f.fix.imports
        assert f.fix.applicability.value == "unsafe"


@pytest.fixture
def proj(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    (tmp_path / "pyproject.toml").write_text('[tool.mcore-compat]\ntarget-version = "0.16.1"\n'
                                             'extend-select = ["MC302"]\n')
    (tmp_path / "train.py").write_text(SOURCE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(cmd, *args):
    return CliRunner().invoke(cmd, list(args), catch_exceptions=False)


def test_text_run_then_json_run_prints_the_edits(proj):
    text = _run(lint_command, "train.py")
    assert text.exit_code == 1 and "MC301" in text.stdout and "MC302" in text.stdout
    assert any((proj / ".mcore_lint_cache").rglob("*.json"))
    rows = json.loads(_run(lint_command, "train.py", "--output-format", "json").stdout)
    groups = [r for r in rows if r["code"] in ("MC301", "MC302")]
    assert groups and all(r["fix"]["edits"] for r in groups)
    # and the entry now cached holds the edits: a second JSON run gives the same answer
    again = json.loads(_run(lint_command, "train.py", "--output-format", "json").stdout)
    assert again == rows


def test_text_run_then_fix_applies_the_fix(proj):
    assert _run(lint_command, "train.py").exit_code == 1
    before = (proj / "train.py").read_text()
    r = _run(fix_command, "train.py", "--unsafe-fixes")
    after = (proj / "train.py").read_text()
    assert after != before, r.stdout
    assert "get_pg_rank(tp_group)" in after
    assert "MC301" not in _run(lint_command, "train.py", "--select", "MC301").stdout


def test_fix_without_unsafe_defers_what_it_cannot_apply(proj):
    """``mcore-fix`` without ``--unsafe-fixes`` never applies MC301/MC302's (unsafe) fixes, so
    with a text report it does not build them; the cached deferred entries are then re-checked
    by a run that applies them or prints them."""
    from mcore_lint.fix.loop import fix_source
    from mcore_lint.rules.registry import configured as rule

    rules = [rule("MC301", ()), rule("MC302", ())]
    safe_only = fix_source(SOURCE, "t.py", rules, Target.parse("0.16.1"), edits=False)
    assert not safe_only.changed and safe_only.remaining
    assert all(f.fix.deferred for f in safe_only.remaining)
    printed = fix_source(SOURCE, "t.py", rules, Target.parse("0.16.1"), edits=True)
    assert all(f.fix.edits and not f.fix.deferred for f in printed.remaining)
    assert [(f.code, f.location) for f in printed.remaining] == [
        (f.code, f.location) for f in safe_only.remaining]
    unsafe = fix_source(SOURCE, "t.py", rules, Target.parse("0.16.1"), unsafe=True, edits=False)
    assert unsafe.changed and "get_pg_rank(tp_group)" in unsafe.text

    before = (proj / "train.py").read_text()
    r = _run(fix_command, "train.py", "--diff")
    assert (proj / "train.py").read_text() == before and "get_pg_rank" not in r.stdout
    rows = json.loads(_run(fix_command, "train.py", "--output-format", "json").stdout)
    assert (proj / "train.py").read_text() == before  # nothing it may apply
    groups = [row for row in rows if row["code"] in ("MC301", "MC302")]
    assert groups and all(row["fix"]["edits"] for row in groups)
    r = _run(fix_command, "train.py", "--unsafe-fixes")
    assert "get_pg_rank(tp_group)" in (proj / "train.py").read_text(), r.stdout

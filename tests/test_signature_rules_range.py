"""``mcore-lint supported-range``: the range per file and for the tree, the breaking uses at
each edge, the pin, the three formats, and bad input (exit 2, the other files still reported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcore_lint.calls import index
from mcore_lint.calls.supported_range import analyze
from mcore_lint.commands.supported_range import command

# initialize_model_parallel took encoder_pipeline_model_parallel_size in 0.9.0-0.13.1 (API
# index); ModelCommProcessGroups exists in 0.12.0-0.14.0.
ENCODER = """
    from megatron.core import parallel_state as ps
    ps.initialize_model_parallel(tensor_model_parallel_size=2, encoder_pipeline_model_parallel_size=1)
"""
GROUPS = """
    from megatron.core.process_groups_config import ModelCommProcessGroups
    pgs = ModelCommProcessGroups()
"""
GUARDED = """
    try:
        from megatron.core.process_groups_config import ProcessGroupCollection
    except ImportError:
        ProcessGroupCollection = None
    import torch
"""


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "proj"
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def test_ranges_edges_and_pin(tmp_path):
    root = _tree(tmp_path, {"a.py": ENCODER, "b.py": GROUPS, "c.py": GUARDED, "d.py": "x = 1\n"})
    report = analyze([root])
    assert report.checked == 4
    by_name = {Path(s.name).name: s for s in report.files}
    assert set(by_name) == {"a.py", "b.py"}  # c.py only has a guarded use, d.py none
    a, b = by_name["a.py"], by_name["b.py"]
    assert (a.first, a.last) == ("0.9.0", "0.13.1")
    assert a.below.release == "0.8.0" and a.above.release == "0.14.0"
    (brk,) = a.above.breaks
    assert brk.kind == "call" and brk.row == 2 and "no keyword `encoder_pipeline_model_parallel_size`" in brk.why
    assert (b.first, b.last) == ("0.12.0", "0.14.0")
    assert {x.kind for x in b.below.breaks} == {"name"}
    tree = report.tree
    assert (tree.first, tree.last) == ("0.12.0", "0.13.1")
    assert tree.pin() == "megatron-core>=0.12.0,<0.14.0"
    assert tree.below.release == "0.11.0" and tree.above.release == "0.14.0"
    assert [Path(x.file).name for x in tree.above.breaks] == ["a.py"]


def test_no_release_and_open_upper_end(tmp_path):
    root = _tree(tmp_path, {
        "old.py": "from megatron.core.parallel_state import get_tensor_and_expert_parallel_group\n",
        "new.py": "from megatron.core.process_groups_config import ProcessGroupCollection\n",
    })
    report = analyze([root])
    by_name = {Path(s.name).name: s for s in report.files}
    assert by_name["new.py"].above is None and by_name["new.py"].pin() == "megatron-core>=0.15.0"
    assert report.tree.first is None and report.tree.pin() is None
    out = CliRunner().invoke(command, [str(root)])
    assert out.exit_code == 0, out.output
    assert "no release works for every file" in out.output


def test_formats(tmp_path):
    root = _tree(tmp_path, {"a.py": ENCODER})
    runner = CliRunner()
    text = runner.invoke(command, [str(root)])
    assert text.exit_code == 0
    assert "range: 0.9.0-0.13.1    suggested pin: megatron-core>=0.9.0,<0.14.0" in text.output
    assert "above: megatron-core 0.14.0 breaks 1 use:" in text.output
    js = runner.invoke(command, [str(root), "--format", "json"])
    data = json.loads(js.output)
    assert data["tree"]["range"] == ["0.9.0", "0.13.1"] and data["tree"]["pin"] == "megatron-core>=0.9.0,<0.14.0"
    assert data["tree"]["above"]["breaks"][0]["row"] == 2
    assert data["indexed_releases"] == list(index().releases)
    out = tmp_path / "range.html"
    h = runner.invoke(command, [str(root), "--format", "html", "-o", str(out)])
    assert h.exit_code == 0 and h.output == ""
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "megatron-core&gt;=0.9.0,&lt;0.14.0" in page
    assert "<script" not in page and "http" not in page  # self-contained


def test_bad_input(tmp_path):
    root = _tree(tmp_path, {"a.py": ENCODER, "broken.py": "def f(:\n"})
    res = CliRunner().invoke(command, [str(root)])
    assert res.exit_code == 2
    assert "0.9.0-0.13.1" in res.output  # the good file is still reported
    assert "broken.py" in res.output and "syntax error" in res.output
    missing = CliRunner().invoke(command, [str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "nope: no such file or directory" in missing.output


def test_wired_into_mcore_lint(tmp_path):
    root = _tree(tmp_path, {"a.py": ENCODER})
    exe = Path(sys.executable).with_name("mcore-lint")
    if not exe.exists():
        pytest.skip("console script not installed")
    res = subprocess.run([str(exe), "supported-range", str(root), "--format", "json"], capture_output=True,
                         text=True, env={**os.environ, "NO_COLOR": "1"}, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["tree"]["range"] == ["0.9.0", "0.13.1"]


def test_type_checking_imports_do_not_break(tmp_path):
    root = _tree(tmp_path, {"t.py": """
        from typing import TYPE_CHECKING
        from megatron.core import parallel_state
        if TYPE_CHECKING:
            from megatron.core.optimizer.optimizer_param_scheduler import OptimizerParamScheduler
        def f(s: "OptimizerParamScheduler") -> None:
            parallel_state.get_data_parallel_group()
    """})
    (span,) = analyze([root]).files
    assert (span.first, span.last) == ("0.5.0", index().newest) and span.below is None and span.above is None


def test_tree_without_megatron_uses(tmp_path):
    root = _tree(tmp_path, {"a.py": "import torch\nx = 1\n"})
    res = CliRunner().invoke(command, [str(root)])
    assert res.exit_code == 0 and "no unguarded megatron.core use found" in res.output


def test_call_breaks_point_where_the_rules_report(tmp_path):
    """A call over several lines: the unknown keyword breaks at its own line, where MC201
    reports it (not at the call's first line), so the two agree on every line."""
    from mcore_lint.engine import check_source
    from mcore_lint.rules.registry import rule_by_code
    from mcore_lint.target import Target

    src = """
        from megatron.core import parallel_state as ps
        ps.initialize_model_parallel(
            tensor_model_parallel_size=2,
            encoder_pipeline_model_parallel_size=1,
        )
    """
    root = _tree(tmp_path, {"a.py": src})
    (span,) = analyze([root]).files
    assert span.above.release == "0.14.0"
    assert [(b.row, b.column) for b in span.above.breaks] == [(4, 5)]
    found = check_source((root / "a.py").read_text(), "a.py", [rule_by_code("MC201")], Target.parse("0.14.0"))
    assert [(f.location.row, f.location.column) for f in found] == [(4, 5)]

"""The runner freezes the garbage collector's view only in processes it owns.

``gc.freeze()`` after the rules are set up saves every worker's per-file collections a walk over
the modules' objects, but it is a process-wide change: a program that calls
``mcore_lint.runner.run`` as a library must find its collector as it was.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

from mcore_lint import runner
from mcore_lint.settings import resolve_settings

SOURCE = "from megatron.core import tensor_parallel\n\nx = tensor_parallel.get_data_parallel_world_size()\n"


def test_library_run_does_not_freeze(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    (tmp_path / "t.py").write_text(SOURCE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "_SETUP", {})  # a fresh rule set: set-up (and the freeze) runs
    monkeypatch.setattr(runner, "OWN_PROCESS", False)  # as in a program that imports the runner
    before = gc.get_freeze_count()
    settings = resolve_settings([tmp_path], target_version="0.16.1", use_cache=False)
    result = runner.run([tmp_path / "t.py"], settings, runner.Options(use_cache=False))
    assert [f.code for f in result.findings] == ["MC101"]
    assert gc.get_freeze_count() == before


def test_command_line_run_freezes_after_setup(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "t.py").write_text(SOURCE)
    code = textwrap.dedent("""
        import gc, sys
        from mcore_lint.cli import lint_main
        before = gc.get_freeze_count()
        try:
            lint_main(["--no-cache", "--target-version", "0.16.1", "t.py"])
        except SystemExit as e:
            print(e.code, before, gc.get_freeze_count())
        from mcore_lint import runner
        assert runner.OWN_PROCESS is False  # reset for whatever runs next in this process
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    status, before, after = map(int, out.stdout.split()[-3:])
    assert status == 1 and before == 0 and after > 10_000, out.stdout + out.stderr

"""Fast checks of the benchmark's measuring parts (no downloads): timing, memory, errors, targets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.floor import main as floor_main
from bench.floor import python_files
from bench.measure import BenchError, Measurement, measure, run_once
from bench.suite import ROWS, Config, Results
from bench.table import markdown, targets
from tools.corpus import PartStats


def test_tree_memory_sees_a_grandchild_allocation(tmp_path: Path) -> None:
    # The parent allocates nothing; its child holds ~120 MB. A per-process figure of the parent
    # would miss it; the tree sum must not.
    code = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'import time; b = bytearray(120 * 2**20); b[::4096] = b\"x\" * len(b[::4096]); time.sleep(0.6)'])")
    pss: list[float] = []
    elapsed, cpu, tree_mb, proc_mb = run_once([sys.executable, "-c", code], tmp_path, sample=True, pss=pss)
    assert tree_mb >= 120
    assert 120 <= pss[0] <= tree_mb  # private pages: PSS counts them fully, never more than RSS
    assert proc_mb >= 120  # wait4's rusage covers the reaped grandchild too
    assert elapsed >= 0.6
    assert 0 < cpu < elapsed  # it mostly sleeps


def test_failing_command_is_named_with_exit_code_and_stderr(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "import sys; sys.stderr.write('boom-7\\n'); sys.exit(7)"]
    with pytest.raises(BenchError) as info:
        run_once(cmd, tmp_path)
    msg = str(info.value)
    assert "exited 7" in msg and "boom-7" in msg and str(tmp_path) in msg


def test_accepted_exit_code_and_repetitions(tmp_path: Path) -> None:
    seen: list[int] = []
    m = measure("x", [sys.executable, "-c", "raise SystemExit(1)"], tmp_path, reps=3, ok_codes=(0, 1),
                before=seen.append)
    assert seen == [0, 1, 2, 3]  # warm-up, then 3 timed runs
    assert len(m.times) == 3 and m.median > 0
    assert len(m.cpu) == 3 and m.cpu_median > 0


def test_slow_row_counts_its_first_run_and_stops_early(tmp_path: Path) -> None:
    seen: list[int] = []
    m = measure("slow", [sys.executable, "-c", "import time; time.sleep(0.3)"], tmp_path, reps=5,
                before=seen.append, slow_s=0.2, slow_runs=2)
    assert seen == [0, 1] and len(m.times) == 2 and min(m.times) >= 0.3


def test_floor_counts_files_and_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.py").write_text("x = 1\ny = 2\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("def f():\n    return 3\n")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "c.py").write_text("ignored = True\n")
    (tmp_path / "notes.txt").write_text("not python\n")
    assert [p.name for p in python_files([str(tmp_path)])] == ["a.py", "b.py"]
    assert floor_main(["parse", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == ["2", "4"]


def test_floor_parse_fails_on_bad_syntax(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("def (:\n")
    with pytest.raises(SyntaxError):
        floor_main(["parse", str(tmp_path)])


def _results(times: dict[str, float], peak: float = 100.0) -> Results:
    cfg = Config.make(quick=False)
    res = Results(cfg, [PartStats("p", 1000, 100_000, 1)], [PartStats("p", 50, 5_000, 1)])
    for key, t in times.items():
        res.rows[key] = Measurement(key, [t, t * 1.1, t * 0.9], tree_peak_mb=peak * 1.2,
                                    tree_pss_peak_mb=peak, process_peak_mb=peak)
    res.facts.update(fix_files_rewritten=0, fix_k_files_rewritten=50)
    return res


def test_targets_pass_and_miss_follow_the_numbers() -> None:
    good = {"parse": 4.0, "lint-cold": 5.0, "lint-warm": 0.2, "lint-touched": 0.22, "fix-diff": 5.2,
            "fix-diff-k": 6.0, "sub-lint-cold": 0.3, "sub-torchfix": 30.0, "sub-fixit": 12.0}
    shim = {"shim_get_tensor_model_parallel_rank_us": 0.5, "upstream_get_tensor_model_parallel_rank_us": 0.45,
            "resolve_groups_all_us": 12.0}
    verdicts = [v for _, _, v in targets(_results(good), shim)]
    assert verdicts == ["PASS"] * len(verdicts)
    bad = dict(good, **{"lint-cold": 7.0, "sub-fixit": 6.0, "lint-warm": 0.9})
    by_name = {t: v for t, _, v in targets(_results(bad, peak=400), shim)}
    assert by_name["mcore-lint cold ≤ 1.5 × read+ast.parse (wall)"] == "MISS"  # 7 / 4 = 1.75
    assert by_name["≥ 30 × faster than Fixit (same files, wall)"] == "MISS"  # 6 / 0.3 = 20
    assert by_name["≥ 30 × faster than torchfix (same files, wall)"] == "PASS"  # 100
    assert by_name["warm re-check ≤ 0.5 s"] == "MISS"
    assert by_name["peak memory ≤ 300 MB (mcore-lint cold, PSS of the whole process tree)"] == "MISS"


def test_table_shows_every_row_and_why_one_is_missing() -> None:
    res = _results({"parse": 4.0, "read": 1.0})
    res.notes["ruff"] = "not run: ruff missing"
    doc = markdown(res, None, "skipped")
    for _, label, _ in ROWS:
        assert label in doc
    assert "not run: ruff missing" in doc
    assert "| read all files (1 process) | 1.000 | 0.900 | 0.00 | 100 | 120 | 100 |" in doc

"""CI runs the benchmark once, in its reduced size, to prove it works end to end.

Not a timed test: it checks that every row was measured on the real downloaded corpus, that the
table file lists them, and that the numbers are sane (positive, from the files the corpus module
counts, ordered where the order cannot flip: torchfix and Fixit are >10x slower than ast.parse).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.suite import ROWS, Config
from tools.corpus import BENCH_PARTS, stats

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.real
def test_quick_benchmark_measures_every_row(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = (tmp_path / "latest-quick.md").read_text()
    data = json.loads((tmp_path / "latest-quick.json").read_text())

    for key, label, _ in ROWS:
        assert label in doc
        row = data["rows"][key]
        assert all(math.isfinite(t) and 0 < t < 600 for t in row["times"]), (key, row)
        assert 0 < row["tree_pss_peak_mb"] <= row["tree_peak_mb"] < 4000, (key, row)
    assert proc.stdout.strip() == doc.strip()  # printed table is the written one

    # Sizes are the corpus module's (the quick sample of issue 11's parts).
    stride = Config.make(quick=True).corpus_stride
    assert [p["part"] for p in data["corpus"]] == list(BENCH_PARTS)
    for part in data["corpus"]:
        assert part["files"] == stats(part["part"], stride=stride).files > 0
        assert part["lines"] == stats(part["part"], stride=stride).lines

    rows = {k: v["median"] for k, v in data["rows"].items()}
    assert rows["read"] < rows["parse"]
    assert rows["sub-torchfix"] > 10 * rows["sub-parse"]
    assert rows["sub-fixit"] > 10 * rows["sub-parse"]
    assert data["facts"]["fix_k_files_rewritten"] >= data["facts"]["fix_k"] > 0
    assert data["facts"]["ruff_banned_names"] > 50

    shim = data["shim"]
    for key, value in shim.items():
        if key.endswith("_us"):
            assert 0 < value < 10_000, (key, value)
    verdicts = {t["verdict"] for t in data["targets"]}
    assert verdicts <= {"PASS", "MISS"}, data["targets"]  # every target was measured

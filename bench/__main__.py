"""``python -m bench`` (``make bench``): run the benchmark, print the table, write bench/results/.

Options: ``--quick`` (small sample, one repetition: what CI runs), ``--reps N``,
``--peer-reps N`` (torchfix/Fixit), ``--jobs N`` (passed to mcore-lint; default: its own),
``--no-shim``, ``--profile`` (also profile a cold single-process mcore-lint run with pyinstrument
on a 1-in-PROFILE_STRIDE sample of the corpus into ``bench/results/profile-cold.txt``; a sample
because one process on the whole corpus takes minutes and the shape is the same),
``--keep`` (keep the working copy), ``--out DIR``.
Exit 0 when every row was measured (targets missed are reported, not failures), 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tools` lives at the repository root
    sys.path.insert(0, str(ROOT))

from bench import shim as shim_bench  # noqa: E402
from bench.suite import ROWS, Config, run  # noqa: E402
from tools.corpus import BENCH_PARTS, copy_tree  # noqa: E402
from bench.table import as_json, markdown  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PROFILE_STRIDE = 10


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def profile_cold(snap: Path, corpus_dir: Path, out: Path) -> Path:
    """pyinstrument text profile of ``mcore-lint --no-cache --jobs 1`` (the benchmarked
    snapshot) over ``corpus_dir``."""
    cmd = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(out), str(snap / "mcore-lint.py"),
           "--no-cache", "--jobs", "1", "--select", "ALL", "--exit-zero", str(corpus_dir)]
    env = dict(os.environ, PYTHONPATH=str(snap))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=corpus_dir.parent, env=env)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"profiling failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sample, one repetition (CI)")
    ap.add_argument("--reps", type=int, help="timed repetitions per row (default 5; quick 1)")
    ap.add_argument("--peer-reps", type=int, help="repetitions for torchfix/Fixit (default 3; quick 1)")
    ap.add_argument("--jobs", type=int, help="--jobs for mcore-lint (default: its own default)")
    ap.add_argument("--no-shim", action="store_true", help="skip the runtime-shim micro-benchmark")
    ap.add_argument("--profile", action="store_true", help="profile a cold mcore-lint run (pyinstrument)")
    ap.add_argument("--keep", action="store_true", help="keep the working copy of the corpus")
    ap.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default {RESULTS})")
    args = ap.parse_args(argv)
    for name in ("reps", "peer_reps", "jobs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")

    cfg = Config.make(args.quick, args.reps, args.peer_reps)
    cfg.jobs = args.jobs
    when = datetime.now(timezone.utc)
    work = Path(tempfile.mkdtemp(prefix="mcore-bench-")) / "w"
    try:
        res = run(work, cfg, _log)
        shim, shim_note = None, ""
        if args.no_shim:
            shim_note = "skipped (--no-shim)"
        else:
            _log("  shim micro-benchmark")
            try:
                shim = shim_bench.run()
            except Exception as exc:  # noqa: BLE001 - reported in the table
                shim_note = str(exc)
                _log(f"    FAILED: {exc}")
        args.out.mkdir(parents=True, exist_ok=True)
        if args.profile:
            try:
                sample = work / "profile" / "corpus"
                stats = copy_tree(sample, BENCH_PARTS, stride=PROFILE_STRIDE)
                out = profile_cold(work / "snapshot", sample, args.out / "profile-cold.txt")
                res.facts["profile"] = (f"{out} (mcore-lint --no-cache --jobs 1 --select ALL on 1-in-"
                                        f"{PROFILE_STRIDE} files: {sum(s.files for s in stats)} files, "
                                        f"{sum(s.lines for s in stats):,} lines)")
            except Exception as exc:  # noqa: BLE001
                res.notes["profile"] = f"failed: {exc}"
        doc = markdown(res, shim, shim_note, when)
        stem = f"bench-{when:%Y%m%d-%H%M%S}{'-quick' if cfg.quick else ''}"
        latest = "latest-quick" if cfg.quick else "latest"
        for name in (stem, latest):
            (args.out / f"{name}.md").write_text(doc)
            (args.out / f"{name}.json").write_text(as_json(res, shim, when))
        print(doc)
        _log(f"written: {args.out / (stem + '.md')} (and .json, {latest}.md)")
    finally:
        if args.keep:
            _log(f"working copy kept: {work}")
        else:
            shutil.rmtree(work.parent, ignore_errors=True)
    missing = [key for key, _, _ in ROWS if key not in res.rows]
    if missing or shim is None and not args.no_shim:
        _log(f"not measured: {', '.join(missing) or ''}{' shim' if shim is None and not args.no_shim else ''}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The rows of the benchmark, run in one go on one copy of the corpus.

Why one run: the targets are ratios (cold lint vs ``ast.parse``, us vs each peer), and on a
shared 2-core machine only numbers taken minutes apart under the same load compare. Every row is
a subprocess on a private copy of the corpus (``tools.corpus.copy_tree``), so caches and touched
files never reach the shared download cache.

Two file sets: ``corpus`` (issue 11's whole corpus, or its 1-in-40 sample with ``--quick``) for
the floor, ruff and every ``mcore-lint``/``mcore-fix`` row; ``subset`` (1-in-10, or 1-in-200
with ``--quick``) where torchfix and Fixit run (they take minutes on the whole corpus), with
``ast.parse`` and cold ``mcore-lint`` on the very same files so their ratios compare like with
like. torchfix and Fixit get no warm-up run (their time is all CPU in libcst; a warm-up would only
add minutes), so their memory is sampled in their first timed run.

``mcore-lint``/``mcore-fix`` run from a snapshot of ``lint/`` and ``mcore_compat/`` copied into
the working folder at the start (the committed state, ``git archive HEAD``; launched with
``PYTHONPATH`` = the snapshot, ahead of the editable install): the cache key includes the
linter's own source files, so an engineer editing ``lint/`` during a half-hour run would
otherwise turn the warm rows cold, and the rows would measure different linters. The commit is
recorded.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench.measure import BenchError, Measurement, measure
from bench.peers import peers_env, ruff_executable, write_ruff_config
from tools.corpus import BENCH_PARTS, PartStats, copy_tree

ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR_NAME = ".mcore_lint_cache"

#: (key, label, file set) of every row, in table order. The CI test checks all are present.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("read", "read all files (1 process)", "corpus"),
    ("parse", "read + ast.parse (1 process): the floor", "corpus"),
    ("ruff", "ruff check, TID251 banned-api (MC101 names)", "corpus"),
    ("lint-cold", "mcore-lint, cold (no cache)", "corpus"),
    ("lint-warm", "mcore-lint, warm (nothing changed)", "corpus"),
    ("lint-touched", "mcore-lint, one file touched", "corpus"),
    ("fix-diff", "mcore-fix --diff, cold", "corpus"),
    ("fix-diff-k", "mcore-fix --diff, cold, K files to rewrite", "corpus"),
    ("sub-parse", "read + ast.parse (1 process)", "subset"),
    ("sub-lint-cold", "mcore-lint, cold", "subset"),
    ("sub-torchfix", "torchfix (default rules, default -j)", "subset"),
    ("sub-fixit", "Fixit lint (built-in rules)", "subset"),
)

#: The seed's broken loss averaging (shared/seeds/sft-trainer-parallel-state-fix.md, "Before"),
#: appended to K real files to give mcore-fix K files with one MC101 fix each.
BROKEN_SNIPPET = '''

def _bench_broken_loss_average(loss):
    import torch
    from megatron.core import tensor_parallel

    if tensor_parallel.get_data_parallel_world_size() > 1:
        torch.distributed.all_reduce(loss, group=tensor_parallel.get_data_parallel_group())
    return loss
'''


#: torchfix and Fixit run on every SUBSET_STRIDE-th file of the corpus (full runs).
SUBSET_STRIDE = 10


@dataclass
class Config:
    """How big a run is."""

    quick: bool
    reps: int
    peer_reps: int
    fix_k: int
    corpus_stride: int | None
    subset_stride: int
    jobs: int | None = None  # None: mcore-lint's default --jobs

    @classmethod
    def make(cls, quick: bool, reps: int | None = None, peer_reps: int | None = None) -> "Config":
        if quick:
            return cls(True, reps or 1, peer_reps or 1, 2, 40, 200)
        # subset 1-in-10 (~215 files, ~64k lines): on the 1-in-50 subset of the first runs every
        # tool's time was mostly process start-up, so the peer ratios said little about linting
        return cls(False, reps or 5, peer_reps or 3, 50, None, SUBSET_STRIDE)


@dataclass
class Results:
    """Everything the table needs: sizes, measurements by row key, notes, tool versions."""

    config: Config
    corpus: list[PartStats]
    subset: list[PartStats]
    rows: dict[str, Measurement] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)

    @staticmethod
    def total(stats: list[PartStats]) -> tuple[int, int]:
        return sum(s.files for s in stats), sum(s.lines for s in stats)


def mcore_lint_problem(snap: Path, env: dict[str, str]) -> str | None:
    """None if the snapshot's ``mcore-lint`` and ``mcore-fix`` run, else why not."""
    for tool in ("mcore-lint", "mcore-fix"):
        proc = subprocess.run([sys.executable, str(snap / f"{tool}.py"), "--help"], capture_output=True,
                              text=True, env=env)
        if proc.returncode != 0:
            return f"{tool} --help exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[:200]}"
    return None


LAUNCHER = """import sys
sys.argv[0] = {name!r}
from mcore_lint.cli import {func}
{func}()
"""


def snapshot(work: Path) -> tuple[Path, str]:
    """Copy the linter (and the shim package it reads the API index from) into ``work/snapshot``
    with one launcher script per command; returns (snapshot folder, where it came from).

    The committed state (``git archive HEAD``) is used: engineers edit ``lint/`` while a run
    goes on, and a half-edited working tree may not even import. Outside a git checkout the
    working tree is copied.
    """
    snap = work / "snapshot"
    snap.mkdir(parents=True)
    proc = subprocess.run(["git", "archive", "--format=tar", "HEAD", "lint", "mcore_compat"], cwd=ROOT,
                          capture_output=True)
    if proc.returncode == 0:
        with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
            tar.extractall(snap / "_src", filter="data")
        os.replace(snap / "_src" / "lint", snap / "mcore_lint")
        os.replace(snap / "_src" / "mcore_compat", snap / "mcore_compat")
        shutil.rmtree(snap / "_src")
        origin = f"git HEAD {_git('rev-parse', '--short', 'HEAD')} ({_git('log', '-1', '--format=%cI')})"
    else:
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(ROOT / "lint", snap / "mcore_lint", ignore=ignore)
        shutil.copytree(ROOT / "mcore_compat", snap / "mcore_compat", ignore=ignore)
        origin = f"working tree {ROOT} (git archive failed: {proc.stderr.decode(errors='replace').strip()[:200]})"
    for name, func in (("mcore-lint", "lint_main"), ("mcore-fix", "fix_main")):
        (snap / f"{name}.py").write_text(LAUNCHER.format(name=name, func=func))
    return snap, origin


def _git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else f"(git {' '.join(args)} failed)"


def _remove_caches(top: Path) -> None:
    for found in list(top.rglob(CACHE_DIR_NAME)):
        shutil.rmtree(found, ignore_errors=True)


def _typical_file(root: Path) -> Path:
    """The median-sized file: what "one touched file" should cost."""
    files = sorted(root.rglob("*.py"), key=lambda p: (p.stat().st_size, str(p)))
    return files[len(files) // 2]


def _inject(root: Path, k: int) -> list[Path]:
    """Append the broken snippet to K files spread over the tree; returns them."""
    files = sorted(root.rglob("*.py"))
    step = max(1, len(files) // k)
    chosen = files[::step][:k]
    for path in chosen:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(BROKEN_SNIPPET)
    return chosen


def _count_diff_files(cmd: list[str], cwd: Path, env: dict[str, str]) -> int:
    """How many files ``mcore-fix --diff`` would rewrite (``+++`` headers in its diff)."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    return sum(1 for line in proc.stdout.splitlines() if line.startswith("+++ "))


def run(work: Path, cfg: Config, log: Callable[[str], None]) -> Results:
    """Run every row into ``work`` (which must not exist); returns the measurements."""
    corpus_dir, subset_dir = work / "corpus", work / "subset"
    work.mkdir(parents=True)
    corpus_stats = copy_tree(corpus_dir, BENCH_PARTS, stride=cfg.corpus_stride)
    subset_stats = copy_tree(subset_dir, BENCH_PARTS, stride=cfg.subset_stride)
    res = Results(cfg, corpus_stats, subset_stats)
    files, lines = res.total(corpus_stats)
    log(f"corpus: {files} files, {lines} lines; subset: {res.total(subset_stats)}")

    py = sys.executable
    floor_env = dict(os.environ, PYTHONPATH=str(ROOT))
    tool_env = dict(os.environ)
    reps, slow_reps = cfg.reps, cfg.peer_reps
    warm = not cfg.quick

    def row(key: str, cmd: list[str], cwd: Path = work, env: dict[str, str] | None = None,
            ok: tuple[int, ...] = (0,), before: Callable[[int], None] | None = None,
            n: int = reps, warmup: bool | None = None, slow_runs: int = 3) -> Measurement | None:
        log(f"  {key}: {' '.join(str(c) for c in cmd)}")
        try:
            m = measure(key, [str(c) for c in cmd], cwd, n, env=env or tool_env, ok_codes=ok,
                        before=before, warmup=warm if warmup is None else warmup, slow_runs=slow_runs)
        except (BenchError, OSError) as exc:
            res.notes[key] = f"failed: {exc}"
            log(f"    FAILED: {exc}")
            return None
        res.rows[key] = m
        log(f"    median {m.median:.3f} s, tree peak {m.tree_peak_mb:.0f} MB")
        return m

    # Floors.
    row("read", [py, "-m", "bench.floor", "read", corpus_dir], env=floor_env)
    row("parse", [py, "-m", "bench.floor", "parse", corpus_dir], env=floor_env)

    # ruff.
    try:
        cfg_path, n_banned = write_ruff_config(work / "ruff-bench.toml")
        res.facts["ruff_banned_names"] = n_banned
        ruff = ruff_executable()
        res.facts["ruff_version"] = subprocess.run([str(ruff), "--version"], capture_output=True,
                                                   text=True).stdout.strip()
        row("ruff", [ruff, "check", "--no-cache", "--config", cfg_path, "--exit-zero", corpus_dir])
    except Exception as exc:  # noqa: BLE001 - a missing peer is a note in the table, not a crash
        res.notes["ruff"] = f"not run: {exc}"

    # mcore-lint / mcore-fix.
    snap, origin = snapshot(work)
    lint_env = dict(os.environ, PYTHONPATH=str(snap))
    # as installed: pip compiles a package's bytecode at install time, so a user's run does not
    # compile the linter's ~80 modules each time (0.12 s of a warm run when
    # PYTHONDONTWRITEBYTECODE is set in the benchmark's own environment); the discarded warm-up
    # run writes the snapshot's bytecode
    lint_env.pop("PYTHONDONTWRITEBYTECODE", None)
    res.facts["linter"] = f"lint/ and mcore_compat/ from {origin}"
    problem = mcore_lint_problem(snap, lint_env)
    if problem:
        for key in ("lint-cold", "lint-warm", "lint-touched", "fix-diff", "fix-diff-k", "sub-lint-cold"):
            res.notes[key] = f"not run: {problem}"
    else:
        lint = [py, snap / "mcore-lint.py", "--select", "ALL"]
        if cfg.jobs:
            lint += ["--jobs", str(cfg.jobs)]
        fix = [py, snap / "mcore-fix.py", "--diff", "--select", "ALL"]
        lint_ok = fix_ok = (0, 1)
        cold = lambda i: _remove_caches(work)  # noqa: E731
        row("lint-cold", [*lint, corpus_dir], env=lint_env, ok=lint_ok, before=cold)
        row("lint-warm", [*lint, corpus_dir], env=lint_env, ok=lint_ok)
        touched = _typical_file(corpus_dir)
        res.facts["touched_file"] = str(touched.relative_to(corpus_dir))
        res.facts["touched_file_lines"] = touched.read_bytes().count(b"\n")

        def touch(i: int) -> None:
            with open(touched, "a", encoding="utf-8") as fh:
                fh.write(f"# bench touch {i}\n")

        row("lint-touched", [*lint, corpus_dir], env=lint_env, ok=lint_ok, before=touch)
        res.facts["fix_files_rewritten"] = _count_diff_files([*map(str, fix), str(corpus_dir)], work, lint_env)
        row("fix-diff", [*fix, corpus_dir], env=lint_env, ok=fix_ok, before=cold, slow_runs=2)
        injected = _inject(corpus_dir, cfg.fix_k)
        res.facts["fix_k"] = len(injected)
        res.facts["fix_k_files_rewritten"] = _count_diff_files([*map(str, fix), str(corpus_dir)], work, lint_env)
        row("fix-diff-k", [*fix, corpus_dir], env=lint_env, ok=fix_ok, before=cold, slow_runs=2)
        row("sub-lint-cold", [*lint, subset_dir], env=lint_env, ok=lint_ok, before=cold)

    row("sub-parse", [py, "-m", "bench.floor", "parse", subset_dir], env=floor_env)

    # torchfix and Fixit, in their own environment.
    try:
        peers = peers_env()
        row("sub-torchfix", [peers / "torchfix", subset_dir], ok=(0, 1), n=slow_reps, warmup=False)
        row("sub-fixit", [peers / "fixit", "lint", subset_dir], ok=(0, 1), n=slow_reps, warmup=False)
        res.facts["peers"] = "torchfix 0.7.0, Fixit 2.2.1 (libcst 1.5.1)"
    except Exception as exc:  # noqa: BLE001
        for key in ("sub-torchfix", "sub-fixit"):
            res.notes.setdefault(key, f"not run: {exc}")
    return res

"""Run one command several times: median wall time, and the peak memory of its process tree.

Why subprocesses: every tool (ours and the peers) pays its own interpreter start-up and imports,
exactly as a user running it does, and peak memory is per run. Memory is sampled from ``/proc``
(sums of the RSS and of the PSS of the process and all its descendants, every ``SAMPLE_S``) in the first,
discarded run only, so the sampler never slows the timed runs. ``ru_maxrss`` from ``wait4`` (the
largest single process) is recorded for every run as a cross-check, and so is the CPU time
(user + system of the process and every descendant it waited for): on a machine shared with
other jobs, wall time swings with the load while CPU time stays put, so both are reported.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

SAMPLE_S = 0.05
#: Rows slower than this on their first run make SLOW_RUNS runs in all, the first one counted.
SLOW_S = 10.0
SLOW_RUNS = 3
PAGE = os.sysconf("SC_PAGE_SIZE")


class BenchError(RuntimeError):
    """A benchmarked command failed; the message names the command, exit code and stderr tail."""


@dataclass
class Measurement:
    """Times (seconds) of the timed runs, and memory peaks in MB."""

    name: str
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    tree_peak_mb: float = 0.0
    tree_pss_peak_mb: float = 0.0
    process_peak_mb: float = 0.0
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu) if self.cpu else 0.0


def _proc_table() -> dict[int, tuple[int, int]]:
    """``{pid: (ppid, rss_pages)}`` of every process visible in /proc."""
    out: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        rest = raw[raw.rindex(b")") + 2:].split()
        out[int(entry)] = (int(rest[1]), int(rest[21]))
    return out


def _rss_pss_bytes(pid: int) -> tuple[int, int] | None:
    """(resident, proportional set size) from one read of ``smaps_rollup``, so the two describe
    the same moment (read apart, a process growing fast at start-up showed PSS > RSS); None when
    the file cannot be read."""
    rss = pss = None
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith(b"Pss:"):
                    pss = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return (rss, pss) if rss is not None and pss is not None else None


def tree_memory_bytes(root: int) -> tuple[int, int]:
    """(summed RSS, summed PSS) of ``root`` and all its descendants right now.

    The RSS sum counts pages a forked worker shares with its parent once per process, so for a
    ``fork`` pool it overstates what the machine gives the tool; the PSS sum counts them once.
    """
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    rss = pss = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            both = _rss_pss_bytes(pid)
            if both is None:  # gone, or no smaps_rollup: RSS from /proc/PID/stat, no PSS
                rss += table[pid][1] * PAGE
            else:
                rss += both[0]
                pss += both[1]
        todo.extend(children.get(pid, ()))
    return rss, pss


def tree_rss_bytes(root: int) -> int:
    """Summed RSS of ``root`` and all its descendants right now."""
    return tree_memory_bytes(root)[0]


def run_once(cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None,
             sample: bool = False, ok_codes: tuple[int, ...] = (0,),
             pss: list[float] | None = None) -> tuple[float, float, float, float]:
    """Run ``cmd``; return (wall s, CPU s, tree RSS-sum peak MB or 0, largest-process peak MB).

    With ``sample``, the tree's PSS-sum peak (MB) is appended to ``pss`` if given.

    Raises BenchError if the exit code is not in ``ok_codes`` (linters exit 1 on findings).
    """
    peak = pss_peak = 0
    stop = threading.Event()
    start = time.perf_counter()
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)

    def sampler() -> None:
        nonlocal peak, pss_peak
        while not stop.is_set():
            rss_now, pss_now = tree_memory_bytes(proc.pid)
            peak, pss_peak = max(peak, rss_now), max(pss_peak, pss_now)
            stop.wait(SAMPLE_S)

    thread = threading.Thread(target=sampler, daemon=True) if sample else None
    if thread:
        thread.start()
    # Read stderr in a thread so a chatty tool cannot fill the pipe and block.
    err_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    if thread:
        thread.join()
        if pss is not None:
            pss.append(pss_peak / 2**20)
    reader.join()
    if proc.returncode not in ok_codes:
        tail = b"".join(err_chunks).decode(errors="replace").strip().splitlines()[-8:]
        raise BenchError(f"{' '.join(map(str, cmd))} (in {cwd}) exited {proc.returncode}, "
                         f"expected {ok_codes}; stderr tail:\n  " + "\n  ".join(tail))
    return elapsed, usage.ru_utime + usage.ru_stime, peak / 2**20, usage.ru_maxrss / 1024


def measure(name: str, cmd: Sequence[str], cwd: Path, reps: int, env: dict[str, str] | None = None,
            ok_codes: tuple[int, ...] = (0,), before: Callable[[int], None] | None = None,
            warmup: bool = True, slow_s: float = SLOW_S, slow_runs: int = SLOW_RUNS) -> Measurement:
    """One warm-up run (memory sampled, time discarded) then ``reps`` timed runs.

    A row whose first run takes longer than ``slow_s`` has nothing to warm up (start-up and
    page cache are noise next to it), so that run counts and only ``slow_runs`` runs are made in
    all: this keeps a full benchmark within tens of minutes when a tool is slow.
    ``before(i)`` runs before every run i (0 = the first), outside the timing: e.g. delete the
    cache for a cold run, or touch a file.
    """
    m = Measurement(name)
    i = 0
    total = reps + (1 if warmup else 0)
    counted_first = not warmup
    while i < total:
        if before:
            before(i)
        pss: list[float] = []
        elapsed, cpu, tree_mb, proc_mb = run_once(cmd, cwd, env, sample=i == 0, ok_codes=ok_codes, pss=pss)
        if i == 0:
            m.tree_peak_mb = tree_mb
            m.tree_pss_peak_mb = pss[0] if pss else 0.0
            if elapsed > slow_s:
                counted_first, total = True, min(total, max(1, slow_runs))
        m.process_peak_mb = max(m.process_peak_mb, proc_mb)
        if i > 0 or counted_first:
            m.times.append(elapsed)
            m.cpu.append(cpu)
        i += 1
    return m

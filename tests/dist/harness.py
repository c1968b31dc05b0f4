"""Shared multi-process harness: real megatron-core on real torch.distributed (gloo, 8 ranks).

CONTRACT FOR CHECK MODULES (read this before adding ``tests/dist/checks_<topic>.py``)
====================================================================================

* A check module is any ``tests/dist/checks_*.py``. Every top-level function whose name starts
  with ``check_`` is a check. It is called as ``check_xxx(ctx)`` on **every rank**, once per
  layout (see :data:`LAYOUTS`), after ``initialize_model_parallel`` for that layout and before
  ``destroy_model_parallel``. Checks run in module order, then definition order.
* The module is imported in a process that has the release's unpacked wheel on ``sys.path``
  and has already imported ``megatron.core``, ``megatron.core.parallel_state``, ``torch`` and
  ``torch.distributed``. Importing megatron at module top is allowed there, but keep module top
  cheap: the pytest process finds checks by parsing the file (``ast``), it never imports it.
* ``ctx`` is a :class:`Context`. Fields:

  - ``rank``, ``world_size`` (8): global rank and size of the default gloo group;
  - ``layout``: the :class:`Layout` (``name``, ``tp``, ``pp``, ``cp``, ``ep``, ``vpp``; the
    sizes passed to ``initialize_model_parallel``; ``vpp`` is ``None`` when not used);
  - ``release``: the megatron-core version string under test, e.g. ``"0.16.1"``;
    ``version``: the same as a ``packaging.version.Version`` (compare with ``ctx.at_least("0.13")``);
  - ``ps``: the installed ``megatron.core.parallel_state`` module (upstream, unwrapped);
  - ``torch``, ``dist``: the ``torch`` and ``torch.distributed`` modules;
  - ``failures``: list of messages for the running check (filled by :meth:`Context.expect`).

* Results: a check **passes** when it returns without raising and ``ctx.failures`` stays empty.
  Prefer ``ctx.expect(condition, "message with the numbers")``: it records the failure and goes
  on, so every rank still reaches the same collectives (ranks stay in lockstep). A plain
  ``assert`` or any exception also fails the check (message + traceback tail are reported);
  the harness then goes on with the next check. If a check *raised* on any rank, the remaining
  checks of that layout are reported as skipped (a rank that raised may have left a collective
  half-done, which would hang the others), and the run moves on to the next layout with fresh
  groups. Return early (no failure) from a check that does not apply to ``ctx.layout`` or
  ``ctx.release``.
* Collectives in checks: use megatron's groups or groups you create with ``ctx.dist.new_group``
  (every rank must call ``new_group`` with the same ranks, in the same order). Do not use the
  default world group for collectives that only some ranks reach. Every collective times out
  after :data:`GLOO_TIMEOUT_S` seconds (a rank that waits for a crashed peer gets an error
  instead of hanging; the harness sets torch's default group timeout to it, so groups made
  with ``new_group`` in a check get it too), and the whole release run is killed after
  :data:`RUN_TIMEOUT_S` (ranks still running are named with the check they were in).
* Where results go: each rank writes one JSON line per check to its own file; the worker's
  parent collects them; the pytest process (``tests/dist/test_checks.py``) runs one test per
  (release, check), which fails with one readable line per failing rank and layout. Nothing to
  register: a new ``check_*`` function shows up as a new test.

Process model (why): the pytest process starts one *worker* subprocess per release
(``python -m tests.dist.worker``) with the release's unpacked wheel first on ``PYTHONPATH``. It
imports ``megatron.core`` once (~3.6 s) and then **forks** the 8 ranks, so the import is not
paid 8 times. The ranks join one gloo process group (127.0.0.1, free port) and loop over the
layouts. Results are cached per release for the whole pytest session, so every check module
rides on the same processes.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
DIST_DIR = Path(__file__).resolve().parent

WORLD_SIZE = 8
#: Seconds a gloo collective may wait before it raises (passed to megatron as minutes).
GLOO_TIMEOUT_S = float(os.environ.get("MCORE_COMPAT_DIST_GLOO_TIMEOUT", "30"))
#: Folder whose ``checks_*.py`` run (this folder; the harness self-test points elsewhere).
CHECKS_DIR = Path(os.environ.get("MCORE_COMPAT_DIST_CHECKS_DIR", DIST_DIR)).resolve()
#: Seconds one release run (import + 8 ranks x all layouts) may take before it is killed.
RUN_TIMEOUT_S = int(os.environ.get("MCORE_COMPAT_DIST_TIMEOUT", "240"))


@dataclass(frozen=True)
class Layout:
    """One model-parallel layout, as keyword sizes for ``initialize_model_parallel``."""

    name: str
    tp: int = 1
    pp: int = 1
    cp: int = 1
    ep: int = 1
    vpp: int | None = None

    @property
    def dp(self) -> int:
        """Data-parallel size megatron derives (world / (tp * pp * cp))."""
        return WORLD_SIZE // (self.tp * self.pp * self.cp)

    def init_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "tensor_model_parallel_size": self.tp,
            "pipeline_model_parallel_size": self.pp,
            "context_parallel_size": self.cp,
            "expert_model_parallel_size": self.ep,
        }
        if self.vpp is not None:
            kwargs["virtual_pipeline_model_parallel_size"] = self.vpp
        return kwargs


#: The layouts of the issue, each on 8 ranks.
LAYOUTS: tuple[Layout, ...] = (
    Layout("tp2-pp2", tp=2, pp=2),
    Layout("tp2-cp2", tp=2, cp=2),
    Layout("tp2-ep2", tp=2, ep=2),
    Layout("pp4-vpp2", pp=4, vpp=2),
)


@dataclass
class Context:
    """What a check gets (see the module docstring for the contract)."""

    rank: int
    world_size: int
    layout: Layout
    release: str
    ps: Any
    torch: Any
    dist: Any
    failures: list[str] = field(default_factory=list)

    @property
    def version(self) -> Any:
        from packaging.version import Version

        return Version(self.release)

    def at_least(self, release: str) -> bool:
        """True when the release under test is ``release`` or newer."""
        from packaging.version import Version

        return Version(self.release) >= Version(release)

    def expect(self, condition: Any, message: str) -> bool:
        """Soft assertion: record ``message`` when ``condition`` is false, keep going."""
        if not condition:
            self.failures.append(message)
        return bool(condition)

    def expect_equal(self, got: Any, want: Any, what: str) -> bool:
        """Soft equality with both values in the message."""
        return self.expect(got == want, f"{what}: got {got!r}, want {want!r}")


# ----------------------------------------------------------------------------- discovery


def check_modules(directory: Path | None = None) -> list[str]:
    """Module names (``checks_xxx``) of every check module, sorted."""
    return sorted(p.stem for p in (directory or CHECKS_DIR).glob("checks_*.py"))


def discover_checks(directory: Path | None = None) -> list[tuple[str, str]]:
    """(module, function) of every ``check_*`` function, found by parsing (no import)."""
    directory = directory or CHECKS_DIR
    found = []
    for module in check_modules(directory):
        try:
            tree = ast.parse((directory / f"{module}.py").read_text())
        except SyntaxError:
            # one placeholder check: its import fails in the worker and is reported per rank,
            # while every other module's checks still run
            found.append((module, "check_module_imports"))
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("check_"):
                found.append((module, node.name))
    return found


# ----------------------------------------------------------------------------- running


@dataclass
class RunResult:
    """Everything one release run produced, as the worker reported it."""

    release: str
    seconds: float
    # (module, check) -> list of records {rank, layout, ok, skipped, messages}
    records: dict[tuple[str, str], list[dict[str, Any]]]
    # problems outside any check: crashes, timeouts, init errors (each names the rank)
    errors: list[str]
    returncode: int
    stderr_tail: str

    def failures_of(self, module: str, check: str) -> list[str]:
        """Readable lines, one per failing (rank, layout), for one check."""
        grouped: dict[tuple[str, str, str], list[int]] = {}
        for rec in self.records.get((module, check), []):
            if rec.get("ok"):
                continue
            tag = "skipped" if rec.get("skipped") else "FAILED"
            msg = " | ".join(rec.get("messages") or ["(no message)"])
            grouped.setdefault((rec["layout"], tag, msg), []).append(rec["rank"])
        lines = []
        for (layout, tag, msg), ranks in sorted(grouped.items(), key=lambda kv: (kv[0][0],
                                                                                 min(kv[1]))):
            who = f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {sorted(ranks)}"
            lines.append(f"[{self.release} {layout} {who}] {tag}: {msg}")
        return lines

    def missing(self, module: str, check: str, layouts: tuple[Layout, ...] = LAYOUTS) -> list[str]:
        """(layout, rank) pairs for which the check never reported (crash or timeout)."""
        seen = {(r["layout"], r["rank"]) for r in self.records.get((module, check), [])}
        return [
            f"{lay.name}/rank {rank}"
            for lay in layouts
            for rank in range(WORLD_SIZE)
            if (lay.name, rank) not in seen
        ]


def run_release(release: str, timeout: float | None = None,
                env_extra: dict[str, str] | None = None) -> RunResult:
    """Run every check module against ``release`` in one worker (8 forked ranks).

    ``env_extra`` (e.g. ``MCORE_COMPAT_DIST_CHECKS_DIR``, ``MCORE_COMPAT_DIST_GLOO_TIMEOUT``)
    goes to the worker's environment; the harness self-test uses it.
    """
    from tools.downloads import megatron_core

    site = megatron_core(release)
    timeout = RUN_TIMEOUT_S if timeout is None else timeout
    with tempfile.TemporaryDirectory(prefix=f"mcore-dist-{release}-") as tmp:
        out = Path(tmp) / "result.json"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)] + (
            [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
        env["OMP_NUM_THREADS"] = "1"
        env["PYTHONWARNINGS"] = "ignore"
        env.update(env_extra or {})
        cmd = [sys.executable, "-m", "tests.dist.worker", "--release", release,
               "--out", str(out), "--timeout", str(timeout)]
        t0 = time.monotonic()
        # own session: on the last-resort timeout the worker and every rank it forked go
        # down together (the worker enforces `timeout` on its ranks itself)
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=timeout + 60)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, stderr = proc.communicate()
            rc = -9
            stderr = f"worker killed after {timeout + 60:.0f} s\n" + (stderr or "")
        except BaseException:  # e.g. KeyboardInterrupt: leave no rank behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        seconds = time.monotonic() - t0
        records: dict[tuple[str, str], list[dict[str, Any]]] = {}
        errors: list[str] = []
        if out.exists():
            data = json.loads(out.read_text())
            for rec in data["records"]:
                records.setdefault((rec["module"], rec["check"]), []).append(rec)
            errors.extend(data["errors"])
        else:
            errors.append(f"worker for megatron-core {release} wrote no result (exit {rc})")
        return RunResult(release, seconds, records, errors, rc, "\n".join(stderr.splitlines()[-30:]))


@functools.lru_cache(maxsize=None)
def results_for(release: str) -> RunResult:
    """The (session-cached) run of ``release``: every test of every check module shares it."""
    return run_release(release)


def assert_check_passed(release: str, module: str, check: str) -> None:
    """Fail (AssertionError with per-rank lines) unless ``module.check`` passed everywhere."""
    res = results_for(release)
    lines = res.failures_of(module, check)
    missing = res.missing(module, check)
    if lines or missing:
        parts = [f"{module}.{check} on megatron-core {release}:"] + lines
        if missing:
            parts.append(f"no result from {len(missing)} (layout, rank) pairs: "
                         + ", ".join(missing[:16]))
        if res.errors:
            parts.append("run errors: " + " ; ".join(res.errors[:10]))
        if res.returncode != 0 and res.stderr_tail:
            parts.append("worker stderr tail:\n" + res.stderr_tail)
        raise AssertionError("\n".join(parts))


CheckFn = Callable[[Context], Any]

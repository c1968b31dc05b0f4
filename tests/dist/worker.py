"""One release run of the shared multi-process harness (see ``harness.py`` for the contract).

Started by the pytest process as ``python -m tests.dist.worker --release X --out F`` with the
release's unpacked wheel first on ``PYTHONPATH``. Imports megatron-core and the check modules
once, forks :data:`harness.WORLD_SIZE` ranks, waits for them with a deadline (killing any rank
still running when it passes) and writes one JSON file: every rank's per-check records plus the
errors that happened outside checks (crash, timeout, import or init failure, each naming the
rank and where it was).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import signal
import sys
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.dist import harness
from tests.dist.harness import LAYOUTS, WORLD_SIZE, Context


def _short_tb(exc: BaseException, frames: int = 3) -> str:
    """``Type: message (at file:line in fn <- ...)``: the message first, then the innermost
    frames, so a per-rank line stays readable."""
    tb = traceback.extract_tb(exc.__traceback__)[-frames:]
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in reversed(tb))
    msg = f"{type(exc).__name__}: {exc}"
    return (msg[:600] + (f" (at {where})" if where else "")).replace("\n", " / ")


class _Writer:
    """Appends JSON lines to one rank's file, flushed at once (a killed rank loses nothing)."""

    def __init__(self, path: Path):
        self.fh = open(path, "a", buffering=1)

    def write(self, **rec: Any) -> None:
        self.fh.write(json.dumps(rec, default=str) + "\n")
        self.fh.flush()


def _rank_main(rank: int, port: int, release: str, out_dir: Path,
               checks: list[tuple[str, str, Any]]) -> int:
    # checks: (module, name, function), or (module, name, error message) when the module
    # failed to import
    """Body of one forked rank: join gloo, loop layouts, run every check, record results."""
    import torch
    import torch.distributed as dist
    from megatron.core import parallel_state as ps

    torch.set_num_threads(1)
    # every group made without an explicit timeout (new_group in checks, megatron's gloo
    # groups) gets the harness timeout instead of torch's 30 minutes
    import torch.distributed.distributed_c10d as c10d

    c10d.default_pg_timeout = timedelta(seconds=harness.GLOO_TIMEOUT_S)
    w = _Writer(out_dir / f"rank{rank}.jsonl")
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                      RANK=str(rank), WORLD_SIZE=str(WORLD_SIZE), LOCAL_RANK=str(rank))
    try:
        # the rendezvous store lives in the parent (see main), so a rank that dies early does
        # not take the store down with it
        store = dist.TCPStore("127.0.0.1", port, WORLD_SIZE, is_master=False,
                              timeout=timedelta(seconds=harness.GLOO_TIMEOUT_S))
        dist.init_process_group("gloo", store=store, rank=rank, world_size=WORLD_SIZE,
                                timeout=timedelta(seconds=harness.GLOO_TIMEOUT_S))
        # harness-only group for the after-check handshake; longer timeout than any check's
        # collective so a peer stuck in a timed-out collective still arrives here
        control = dist.new_group(list(range(WORLD_SIZE)), backend="gloo",
                                 timeout=timedelta(seconds=3 * harness.GLOO_TIMEOUT_S))
    except Exception as exc:  # noqa: BLE001 - reported, then this rank stops
        w.write(event="error", rank=rank, message=f"rank {rank}: init_process_group failed: "
                f"{_short_tb(exc)}")
        return 3

    def any_rank(flag: bool) -> int:
        t = torch.tensor([1 if flag else 0], dtype=torch.int64)
        dist.all_reduce(t, group=control)
        return int(t.item())

    try:
        return _layouts(rank, release, checks, w, ps, torch, dist, any_rank)
    except Exception as exc:  # noqa: BLE001 - a failed handshake: peers are gone or stuck
        w.write(event="error", rank=rank,
                message=f"rank {rank}: harness handshake failed (a peer crashed or hung): "
                        f"{_short_tb(exc)}")
        return 4


def _layouts(rank: int, release: str, checks: list[tuple[str, str, Any]], w: "_Writer",
             ps: Any, torch: Any, dist: Any, any_rank: Any) -> int:
    """Every layout, every check, one handshake after each (see the harness contract)."""
    for layout in LAYOUTS:
        init_error = None
        try:
            ps.initialize_model_parallel(
                **layout.init_kwargs(), distributed_timeout_minutes=harness.GLOO_TIMEOUT_S / 60)
        except Exception as exc:  # noqa: BLE001
            init_error = f"initialize_model_parallel({layout.init_kwargs()}) failed: {_short_tb(exc)}"
        if any_rank(init_error is not None):
            msg = init_error or "initialize_model_parallel failed on another rank"
            for module, name, _ in checks:
                w.write(module=module, check=name, rank=rank, layout=layout.name, ok=False,
                        skipped=True, messages=[msg], seconds=0.0)
            _destroy(ps)
            continue
        skip_reason = None
        for module, name, fn in checks:
            if skip_reason:
                w.write(module=module, check=name, rank=rank, layout=layout.name, ok=False,
                        skipped=True, messages=[skip_reason], seconds=0.0)
                continue
            if isinstance(fn, str):  # the module failed to import: report, do not skip others
                w.write(module=module, check=name, rank=rank, layout=layout.name, ok=False,
                        skipped=False, messages=[fn], seconds=0.0)
                continue
            w.write(event="start", module=module, check=name, rank=rank, layout=layout.name)
            ctx = Context(rank=rank, world_size=WORLD_SIZE, layout=layout, release=release,
                          ps=ps, torch=torch, dist=dist)
            t0 = time.monotonic()
            raised = None
            try:
                fn(ctx)
            except Exception as exc:  # noqa: BLE001 - any exception fails the check
                raised = f"raised {_short_tb(exc)}"
            messages = list(ctx.failures) + ([raised] if raised else [])
            w.write(module=module, check=name, rank=rank, layout=layout.name,
                    ok=not messages, skipped=False, messages=messages,
                    seconds=round(time.monotonic() - t0, 4))
            n_raised = any_rank(raised is not None)
            if n_raised:
                skip_reason = (f"not run: {module}.{name} raised on {n_raised} rank(s) in this "
                               "layout (groups may be out of step)")
        _destroy(ps)
    w.write(event="done", rank=rank)
    try:
        dist.destroy_process_group()
    except Exception:  # noqa: BLE001 - exiting anyway
        pass
    return 0


def _destroy(ps: Any) -> None:
    try:
        ps.destroy_model_parallel()
    except Exception:  # noqa: BLE001 - next layout re-initialises
        pass


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the worker dies (a killed worker leaves no rank)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the worker's own deadline still applies
        pass


def _start_store() -> tuple[int, int]:
    """Fork a process that hosts the rendezvous TCPStore on a port the OS picks; return its
    pid and the port. Why a process of its own: a rank that dies early must not take the
    store down with it, and the parent must not run the store's server thread while it forks
    the ranks (a thread at fork time can leave a lock held in the child)."""
    import torch.distributed as dist

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # store process: serve until killed
        _die_with_parent()
        os.close(r)
        try:
            server = dist.TCPStore("127.0.0.1", 0, WORLD_SIZE, is_master=True,
                                   wait_for_workers=False,
                                   timeout=timedelta(seconds=harness.GLOO_TIMEOUT_S))
            os.write(w, f"{server.port}\n".encode())
            while True:
                time.sleep(3600)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as fh:
        line = fh.readline().strip()
    if not line:
        raise RuntimeError("the rendezvous store process did not start")
    return pid, int(line)


def _collect(out_dir: Path, exit_info: dict[int, str]) -> dict[str, Any]:
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    for rank in range(WORLD_SIZE):
        path = out_dir / f"rank{rank}.jsonl"
        last_start = None
        lines = path.read_text().splitlines() if path.exists() else []
        for line in lines:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut off by a kill
            ev = rec.get("event")
            if ev == "start":
                last_start = rec
            elif ev == "error":
                errors.append(rec["message"])
            elif ev is None:
                records.append(rec)
                if last_start and (last_start["module"], last_start["check"],
                                   last_start["layout"]) == (rec["module"], rec["check"],
                                                             rec["layout"]):
                    last_start = None
        if rank in exit_info:
            where = (f" while running {last_start['module']}.{last_start['check']} "
                     f"on layout {last_start['layout']}" if last_start else "")
            errors.append(f"rank {rank}: {exit_info[rank]}{where}")
    return {"records": records, "errors": errors}


def _import_checks(module: str) -> Any:
    if harness.CHECKS_DIR == harness.DIST_DIR:
        return importlib.import_module(f"tests.dist.{module}")
    spec = importlib.util.spec_from_file_location(module, harness.CHECKS_DIR / f"{module}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--release", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--timeout", type=float, default=harness.RUN_TIMEOUT_S)
    args = ap.parse_args(argv)
    out_dir = args.out.parent / "ranks"
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()

    errors: list[str] = []
    import torch  # noqa: F401 - imported once here, inherited by the forked ranks
    import torch.distributed  # noqa: F401
    import megatron.core  # noqa: F401
    from megatron.core import parallel_state  # noqa: F401

    checks: list[tuple[str, str, Any]] = []
    for module, name in harness.discover_checks():
        try:
            mod = _import_checks(module)
            checks.append((module, name, getattr(mod, name)))
        except Exception as exc:  # noqa: BLE001 - reported against every rank/layout
            msg = f"import of {harness.CHECKS_DIR / module}.py failed: {_short_tb(exc)}"
            errors.append(msg)
            checks.append((module, name, msg))
    import_s = time.monotonic() - t0

    store_pid, port = _start_store()
    sys.stdout.flush()
    sys.stderr.flush()
    pids: dict[int, int] = {}
    for rank in range(WORLD_SIZE):
        pid = os.fork()
        if pid == 0:  # child
            _die_with_parent()
            code = 1
            try:
                code = _rank_main(rank, port, args.release, out_dir, checks)
            except BaseException:  # noqa: BLE001 - never let a child return into the parent
                traceback.print_exc()
                code = 2
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        pids[pid] = rank

    deadline = t0 + args.timeout
    exit_info: dict[int, str] = {}
    while pids:
        done = False
        for pid in list(pids):
            got, status = os.waitpid(pid, os.WNOHANG)
            if got:
                rank = pids.pop(pid)
                code = os.waitstatus_to_exitcode(status)
                if code != 0:
                    exit_info[rank] = f"exited with code {code}"
                done = True
        if not pids:
            break
        if time.monotonic() > deadline:
            for pid, rank in pids.items():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                exit_info[rank] = f"killed after the {args.timeout:.0f} s run timeout"
            for pid in list(pids):
                os.waitpid(pid, 0)
            pids.clear()
            break
        if not done:
            time.sleep(0.05)

    os.kill(store_pid, signal.SIGKILL)
    os.waitpid(store_pid, 0)
    result = _collect(out_dir, exit_info)
    result["errors"] = errors + result["errors"]
    result["import_seconds"] = round(import_s, 2)
    result["seconds"] = round(time.monotonic() - t0, 2)
    args.out.write_text(json.dumps(result))
    return 0 if not exit_info else 1


if __name__ == "__main__":
    sys.exit(main())

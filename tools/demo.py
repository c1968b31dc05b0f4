"""The main job of the quick start (`make demo`): an 8-rank trainer loss step through mcore_compat.

Why this job: it is the seed's SFT trainer bug (../shared/seeds/sft-trainer-parallel-state-fix.md)
done right on real megatron-core and real torch.distributed. Eight CPU processes (gloo) run
megatron-core's ``initialize_model_parallel`` with TP=2, PP=2 (so DP=2); each data-parallel
replica gets its own batch, the TP ranks compute the loss with megatron's own
``vocab_parallel_cross_entropy`` on vocabulary shards, and the loss is averaged over the DP
group by ``mcore_compat.average_losses_across_data_parallel_group`` (the drop-in
``mcore_compat.parallel_state`` answers the sizes). The demo checks every rank's answer against
the exact mean computed without any parallelism, prints a table and exits 0 only when all
eight ranks agree. One megatron-core import, then 8 forked ranks: ~10-20 s.

Usage: ``python -m tools.demo [--release 0.16.1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORLD = 8
TP, PP = 2, 2
SEQ, BATCH, VOCAB = 4, 3, 16
DEFAULT_RELEASE = "0.16.1"


def _batch(dp_rank: int):
    """The (full-vocabulary) logits and targets of one data-parallel replica, deterministic."""
    import torch

    g = torch.Generator().manual_seed(1234 + dp_rank)
    logits = torch.randn(SEQ, BATCH, VOCAB, generator=g)
    target = torch.randint(0, VOCAB, (SEQ, BATCH), generator=g)
    return logits, target


def loss_step(rank: int) -> dict:
    """One rank's trainer loss step (megatron initialised): what a trainer writes."""
    import torch
    from megatron.core.tensor_parallel import vocab_parallel_cross_entropy

    from mcore_compat import average_losses_across_data_parallel_group
    from mcore_compat import parallel_state as ps

    dp_rank, tp_rank = ps.get_data_parallel_rank(), ps.get_tensor_model_parallel_rank()
    logits, target = _batch(dp_rank)
    shard = VOCAB // ps.get_tensor_model_parallel_world_size()
    my_logits = logits[..., tp_rank * shard:(tp_rank + 1) * shard].contiguous()
    loss = vocab_parallel_cross_entropy(my_logits, target).mean()  # same on both TP ranks
    averaged = average_losses_across_data_parallel_group([loss])
    # the reference: every replica's loss without any parallelism, averaged by hand
    full = [torch.nn.functional.cross_entropy(lg.reshape(-1, VOCAB), tg.reshape(-1)).item()
            for lg, tg in (_batch(d) for d in range(ps.get_data_parallel_world_size()))]
    want = sum(full) / len(full)
    return {"rank": rank, "tp": tp_rank, "pp": ps.get_pipeline_model_parallel_rank(),
            "dp": dp_rank, "dp_size": ps.get_data_parallel_world_size(),
            "first_stage": ps.is_pipeline_first_stage(), "last_stage": ps.is_pipeline_last_stage(),
            "local_loss": float(loss), "averaged": float(averaged[0]), "expected": want,
            "ok": abs(float(averaged[0]) - want) < 1e-5 and abs(float(loss) - full[dp_rank]) < 1e-5}


def _rank_main(rank: int, port: int, out: Path, release: str) -> int:
    import torch
    import torch.distributed as dist
    from megatron.core import parallel_state

    torch.set_num_threads(1)
    store = dist.TCPStore("127.0.0.1", port, WORLD, is_master=False,
                          timeout=timedelta(seconds=60))
    dist.init_process_group("gloo", store=store, rank=rank, world_size=WORLD,
                            timeout=timedelta(seconds=60))
    parallel_state.initialize_model_parallel(tensor_model_parallel_size=TP,
                                             pipeline_model_parallel_size=PP,
                                             distributed_timeout_minutes=1)
    result = loss_step(rank)
    (out / f"rank{rank}.json").write_text(json.dumps(result))
    parallel_state.destroy_model_parallel()
    dist.destroy_process_group()
    return 0 if result["ok"] else 1


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_ranks(release: str, out: Path, deadline_s: float = 120.0) -> int:
    """Inside the release's environment: import megatron once, fork 8 ranks, wait for them."""
    import torch.distributed as dist

    import megatron.core  # noqa: F401 - imported once, inherited by the forked ranks

    # The store's server runs a thread; a fork taken while it runs can leave a child stuck on a
    # lock that thread held (a rank that never reached the store, once in a few runs). So the
    # ranks are forked first and the server starts after, on a port picked beforehand; the
    # ranks' clients retry until it listens.
    port = _free_port()
    sys.stdout.flush()
    pids = {}
    for rank in range(WORLD):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _rank_main(rank, port, out, release)
            except BaseException as exc:  # noqa: BLE001 - report, never return into the parent
                print(f"rank {rank}: {type(exc).__name__}: {exc}", file=sys.stderr)
            finally:
                os._exit(code)
        pids[pid] = rank
    server = dist.TCPStore("127.0.0.1", port, WORLD, is_master=True, wait_for_workers=False,  # noqa: F841
                           timeout=timedelta(seconds=60))
    end, failed = time.monotonic() + deadline_s, []
    while pids and time.monotonic() < end:
        for pid in list(pids):
            got, status = os.waitpid(pid, os.WNOHANG)
            if got:
                rank = pids.pop(pid)
                if os.waitstatus_to_exitcode(status) != 0:
                    failed.append(rank)
        time.sleep(0.05)
    for pid, rank in pids.items():  # past the deadline
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        print(f"rank {rank}: killed after {deadline_s:.0f} s", file=sys.stderr)
        failed.append(rank)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", default=DEFAULT_RELEASE, help="megatron-core release to run")
    ap.add_argument("--ranks-into", type=Path, help=argparse.SUPPRESS)  # internal: child mode
    args = ap.parse_args(argv)
    if args.ranks_into:
        return run_ranks(args.release, args.ranks_into)

    from tools.downloads import megatron_core

    site = megatron_core(args.release)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mcore-compat-demo-") as tmp:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]),
                   OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", GLOO_SOCKET_IFNAME="lo")
        proc = subprocess.run([sys.executable, "-m", "tools.demo", "--release", args.release,
                               "--ranks-into", tmp], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
        rows = [json.loads((Path(tmp) / f"rank{r}.json").read_text())
                for r in range(WORLD) if (Path(tmp) / f"rank{r}.json").exists()]
    print(f"mcore-compat demo: megatron-core {args.release}, {WORLD} gloo ranks, "
          f"TP={TP} PP={PP} DP={WORLD // (TP * PP)}; loss averaged over the data-parallel group "
          "by mcore_compat.average_losses_across_data_parallel_group")
    print(f"{'rank':>4} {'tp':>3} {'pp':>3} {'dp':>3} {'stage':>6} {'local loss':>11} "
          f"{'DP average':>11} {'exact mean':>11}  ok")
    for r in rows:
        stage = ("first" if r["first_stage"] else "") + ("last" if r["last_stage"] else "")
        print(f"{r['rank']:>4} {r['tp']:>3} {r['pp']:>3} {r['dp']:>3} {stage or '-':>6} "
              f"{r['local_loss']:>11.6f} {r['averaged']:>11.6f} {r['expected']:>11.6f}  "
              f"{'yes' if r['ok'] else 'NO'}")
    ok = proc.returncode == 0 and len(rows) == WORLD and all(r["ok"] for r in rows)
    if not ok:
        print(f"FAILED: {WORLD - len(rows)} rank(s) reported nothing, "
              f"{sum(not r['ok'] for r in rows)} disagree; exit {proc.returncode}\n"
              + proc.stderr[-3000:], file=sys.stderr)
        return 1
    print(f"all {WORLD} ranks agree ({time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

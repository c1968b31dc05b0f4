"""Runtime-shim micro-benchmark: the cost of ``mcore_compat`` over calling megatron directly.

Why: trainers call the rank/world-size getters in hot loops (every microbatch), so the drop-in
``mcore_compat.parallel_state`` must cost about what upstream costs (target <= 1.3x), and
``resolve_groups`` with every group given (validation included) <= 20 us.

It runs in a child process on real megatron-core (0.16.1 from the corpus cache, on PYTHONPATH)
with a real 1-process gloo group and ``initialize_model_parallel()``, because the getters read
megatron's global state and torch.distributed. ``python -m bench.shim --child`` is that child;
it prints one JSON object of per-call microseconds (median of ``REPEATS`` timeit repeats) and
the shim/upstream ratios. The repeats of the calls compared in a ratio alternate (upstream,
shim, upstream, ...) and are timed in thread CPU time, so a neighbour's load on this shared
machine falls on both sides instead of on whichever ran during it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

RELEASE_PART = "megatron-core-0.16.1"
REPEATS = 7
NUMBER = 20000
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _per_call_us(fn, number: int = NUMBER) -> float:
    return _interleaved_us([fn], number)[0]


def _interleaved_us(fns, number: int = NUMBER) -> list[float]:
    """Per-call microseconds of each of ``fns``: median of ``REPEATS`` timings, the timings of
    the different functions alternating."""
    import statistics
    import time
    import timeit

    timers = [timeit.Timer(fn, timer=time.thread_time) for fn in fns]
    for timer in timers:
        timer.timeit(number // 10)  # warm caches (first call imports, binds the fast path)
    runs: list[list[float]] = [[] for _ in fns]
    for _ in range(REPEATS):
        for timer, out in zip(timers, runs):
            out.append(timer.timeit(number) / number * 1e6)
    return [statistics.median(r) for r in runs]


def child() -> dict[str, float | str]:
    """Measure in this process (megatron importable, nothing initialised yet)."""
    import torch.distributed as dist
    from megatron.core import parallel_state as upstream

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
    try:
        upstream.initialize_model_parallel()
        from mcore_compat import parallel_state as ours
        from mcore_compat import resolve_groups

        getters = {
            "tp_group": "get_tensor_model_parallel_group",
            "pp_group": "get_pipeline_model_parallel_group",
            "cp_group": "get_context_parallel_group",
            "dp_group": "get_data_parallel_group",
            "ep_group": "get_expert_model_parallel_group",
            "expt_tp_group": "get_expert_tensor_parallel_group",
            "expt_dp_group": "get_expert_data_parallel_group",
        }
        groups = {k: getattr(upstream, g)() for k, g in getters.items() if hasattr(upstream, g)}
        groups["dp_cp_group"] = upstream.get_data_parallel_group(with_context_parallel=True)
        tp = groups["tp_group"]
        up_rank, shim_rank = _interleaved_us([upstream.get_tensor_model_parallel_rank,
                                              ours.get_tensor_model_parallel_rank])
        up_dp, shim_dp = _interleaved_us([upstream.get_data_parallel_world_size,
                                          ours.get_data_parallel_world_size])
        out: dict[str, float | str] = {
            "release": RELEASE_PART,
            "groups_given": ",".join(sorted(groups)),
            "upstream_get_tensor_model_parallel_rank_us": up_rank,
            "shim_get_tensor_model_parallel_rank_us": shim_rank,
            "shim_over_upstream_get_tensor_model_parallel_rank": shim_rank / up_rank,
            "shim_get_tensor_model_parallel_rank_tp_group_us": _per_call_us(
                lambda: ours.get_tensor_model_parallel_rank(tp_group=tp)),
            "upstream_get_data_parallel_world_size_us": up_dp,
            "shim_get_data_parallel_world_size_us": shim_dp,
            "shim_over_upstream_get_data_parallel_world_size": shim_dp / up_dp,
            "resolve_groups_none_us": _per_call_us(resolve_groups, NUMBER // 10),
            "resolve_groups_all_us": _per_call_us(lambda: resolve_groups(**groups), NUMBER // 10),
        }
        # The answers must agree, or the timing compares different work.
        if ours.get_tensor_model_parallel_rank() != upstream.get_tensor_model_parallel_rank():
            raise AssertionError("shim and upstream disagree on get_tensor_model_parallel_rank()")
        return out
    finally:
        upstream.destroy_model_parallel()
        dist.destroy_process_group()


def run() -> dict[str, float | str]:
    """Run the child on the corpus's megatron-core release; raises RuntimeError naming stderr."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tools.corpus import site_root

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(site_root(RELEASE_PART))])
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run([sys.executable, "-m", "bench.shim", "--child"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        tail = "\n  ".join(proc.stderr.strip().splitlines()[-6:])
        raise RuntimeError(f"shim micro-benchmark child exited {proc.returncode}:\n  {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        print(json.dumps(child()))
    else:
        print(json.dumps(run(), indent=2))

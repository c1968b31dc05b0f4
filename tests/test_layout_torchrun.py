"""The seed's ParallelConfig under a real ``torchrun --nproc_per_node=4`` (gloo, CPU), and
Energon's real ``WorkerConfig`` built from RankLayout's arguments for the seed's 8 ranks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mcore_compat.layout import RankLayout

ROOT = Path(__file__).resolve().parents[1]

# The seed's "Example Output" (parallel-config.md, 4 processes, tp=2 pp=1 dp=2), GPU lines aside.
SEED_OUTPUT = [
    "Process 0: ParallelConfig(global_rank=0, world_size=4, tp=2[rank=0], pp=1[rank=0], dp=2[rank=0])",
    "Process 1: ParallelConfig(global_rank=1, world_size=4, tp=2[rank=1], pp=1[rank=0], dp=2[rank=0])",
    "Process 2: ParallelConfig(global_rank=2, world_size=4, tp=2[rank=0], pp=1[rank=0], dp=2[rank=1])",
    "Process 3: ParallelConfig(global_rank=3, world_size=4, tp=2[rank=1], pp=1[rank=0], dp=2[rank=1])",
]

SCRIPT = textwrap.dedent(
    """
    import torch
    import torch.distributed as dist
    from mcore_compat.layout import ParallelConfig

    dist.init_process_group("gloo")
    cfg = ParallelConfig({"tp": 2, "pp": 1, "dp": 2})
    # the ranks agree with torch.distributed itself, and every rank sees the same world
    assert cfg.global_rank == dist.get_rank() and cfg.world_size == dist.get_world_size()
    seen = [None] * cfg.world_size
    dist.all_gather_object(seen, (cfg.global_rank, cfg.get_local_rank(), cfg.dp_rank))
    assert [s[0] for s in seen] == list(range(cfg.world_size)), seen
    # one write() per line: print's text and newline may reach the shared pipe separately
    import os
    os.write(1, f"Process {cfg.global_rank}: {cfg}\\n".encode())
    dist.barrier()
    dist.destroy_process_group()
    """
)


@pytest.mark.dist
def test_torchrun_parallel_config_prints_the_seed_output(tmp_path: Path) -> None:
    script = tmp_path / "parallel_config_demo.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", PYTHONWARNINGS="ignore")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4", str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)
    assert proc.returncode == 0, f"torchrun exit {proc.returncode}\n{proc.stderr[-3000:]}"
    lines = re.findall(r"Process \d+: ParallelConfig\([^)]*\)", proc.stdout)
    lines.sort(key=lambda line: int(re.match(r"Process (\d+):", line).group(1)))
    assert lines == SEED_OUTPUT


# --- Energon ------------------------------------------------------------------------------


def test_energon_worker_config_for_every_seed_rank() -> None:
    energon = pytest.importorskip(
        "megatron.energon",
        reason="megatron-energon is not installed (pip install megatron-energon; it is in the test extra)",
    )
    layout = RankLayout(8, tp=2, pp=2, order="tp-cp-ep-pp-dp")  # the seed's numbering
    built = {}
    for rank in range(8):
        args = layout.worker_config_args(rank)
        if args is None:
            continue
        wc = args.build(num_workers=3)
        assert isinstance(wc, energon.WorkerConfig)
        built[rank] = (wc.rank, wc.world_size, wc.num_workers, args.group_ranks)
    # the seed: ranks 0,1 are DP rank 0 and 4,5 DP rank 1 of world 2; groups [0,4] and [1,5]
    assert built == {
        0: (0, 2, 3, (0, 4)),
        1: (0, 2, 3, (1, 5)),
        4: (1, 2, 3, (0, 4)),
        5: (1, 2, 3, (1, 5)),
    }
    # Energon itself accepts them: each rank's worker shards differ within a DP group
    wc0, wc4 = layout.worker_config_args(0).build(num_workers=2), layout.worker_config_args(4).build(num_workers=2)
    assert wc0.global_worker_id(0) != wc4.global_worker_id(0)

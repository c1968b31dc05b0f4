"""The MC101 fixtures run on real megatron-core over real torch.distributed (gloo, 2 ranks).

The *_before trainer crashes exactly as the seed reports (AttributeError from
``megatron.core.tensor_parallel``); the *_after trainer produced by ``mcore-fix`` imports,
calls ``parallel_state`` and averages the loss over the data-parallel group: each rank's
logged loss is the mean of both ranks' losses.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RELEASE = "0.16.1"

WORKER = textwrap.dedent("""
    import importlib.util, json, os, sys, warnings
    warnings.simplefilter("ignore")
    import torch, torch.distributed as dist
    rank = int(os.environ["RANK"])
    dist.init_process_group("gloo", rank=rank, world_size=2)
    from megatron.core import parallel_state
    parallel_state.initialize_model_parallel()  # TP=PP=1: both ranks form one DP group of 2

    def load(name):
        path = os.path.join(sys.argv[1], name)
        spec = importlib.util.spec_from_file_location(name[:-3], path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    out = {"rank": rank}
    mask, output = torch.ones(4), torch.arange(4.0) + 10 * rank  # rank 0: mean 1.5, rank 1: 11.5
    try:
        load("sft_trainer_before.py").SFTTrainer(None, None, 1).loss_func(mask, output)
        out["before"] = "no error"
    except AttributeError as e:
        out["before"] = str(e)
    loss, logs = load("sft_trainer_after.py").SFTTrainer(None, None, 1).loss_func(mask, output)
    out["loss"], out["logged"] = loss.item(), logs["lm loss"].item()
    mixed = load("mixed_imports_trainer_after.py")
    out["pipeline"] = mixed.pipeline_info()
    out["metric"] = mixed.reduce_metrics({"m": torch.tensor([float(rank)])})["m"].item()
    dist.barrier()
    print("RESULT " + json.dumps(out), flush=True)
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.dist
@pytest.mark.real
def test_fixed_trainers_run_on_real_megatron_core_with_two_ranks(tmp_path):
    from tools.downloads import megatron_core

    site = megatron_core(RELEASE)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(site), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2",
               CUDA_VISIBLE_DEVICES="")
    procs = [subprocess.Popen([sys.executable, str(script), str(ROOT / "fixtures" / "mc101")],
                              env=dict(env, RANK=str(r)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for r in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(next(l for l in out.splitlines() if l.startswith("RESULT "))[7:]))
    for r in results:
        assert r["before"] == "module 'megatron.core.tensor_parallel' has no attribute 'get_data_parallel_world_size'"
        assert r["logged"] == pytest.approx((1.5 + 11.5) / 2)  # averaged over the DP group
        assert r["pipeline"] == {"pp_size": 1, "pp_rank": 0}
        assert r["metric"] == pytest.approx((0.0 + 1.0) / 2)
    assert [r["loss"] for r in sorted(results, key=lambda r: r["rank"])] == [1.5, 11.5]

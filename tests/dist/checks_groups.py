"""Issue 10 (explicit groups): the codemod's golden fixtures keep behaviour on real megatron.

On every rank of every layout, the original fixture modules (``fixtures/groups/*_before.py``)
and their fixed twins (``*_after.py`` for 0.16+, ``*_after_0_12.py`` - get_pg_* from
mcore_compat, no metadata key - for older releases) are imported and run side by side:

* ``check_groups_defaults_match``: with every new group argument left ``None`` both compute
  the same ranks, sizes, checkpoint names, RNG-state layout (and contents), sharded-tensor
  layout and loss values - and those equal what the layout says, so the check is not vacuous.
* ``check_groups_explicit_groups_honoured``: groups passed explicitly (a fresh world group,
  megatron's data-parallel group in the tensor-parallel slot) are what the fixed code uses, end
  to end (``save_checkpoint`` -> ``get_rng_state``/``get_checkpoint_name``/metadata).
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

from tests.dist.harness import Context

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "groups"
_LOADED: dict[str, object] = {}


def _load(stem: str):
    if stem not in _LOADED:
        name = f"_groups_fixture_{stem}"
        spec = importlib.util.spec_from_file_location(name, FIXTURES / f"{stem}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _LOADED[stem] = module
    return _LOADED[stem]


def _modules(ctx: Context):
    suffix = "after" if ctx.at_least("0.16.0") else "after_0_12"
    return (_load("checkpointing_before"), _load(f"checkpointing_{suffix}"),
            _load("loss_before"), _load(f"loss_{suffix}"))


def _layout_of(obj) -> tuple:
    """(key, global shape, global offset, replica id) of a ShardedObject/ShardedTensor."""
    return (obj.key, tuple(obj.global_shape), tuple(obj.global_offset), obj.replica_id)


def _ranks(ctx: Context, group) -> list[int]:
    return list(ctx.dist.get_process_group_ranks(group))


def _same_rng(a: list, b: list) -> bool:
    torch = sys.modules["torch"]
    return len(a) == len(b) and all(
        x["random_rng_state"] == y["random_rng_state"] and torch.equal(x["torch_rng_state"], y["torch_rng_state"])
        for x, y in zip(a, b))


def check_groups_defaults_match(ctx: Context) -> None:
    """Fixed and original fixtures agree with all new group arguments left None."""
    torch, ps, lay = ctx.torch, ctx.ps, ctx.layout
    ckpt_b, ckpt_a, loss_b, loss_a = _modules(ctx)
    tp_rank, pp_rank = ps.get_tensor_model_parallel_rank(), ps.get_pipeline_model_parallel_rank()
    dp_cp_rank = ps.get_data_parallel_rank(with_context_parallel=True)

    # RNG state: layout (pp, tp) x (pp_rank, tp_rank), replica = DP x CP rank; same contents
    random.seed(1234 + ctx.rank)
    torch.manual_seed(1234 + ctx.rank)
    rb, ra = ckpt_b.get_rng_state("torch_dist"), ckpt_a.get_rng_state("torch_dist")
    want = ("rng_state", (lay.pp, lay.tp), (pp_rank, tp_rank), dp_cp_rank)
    ctx.expect_equal(_layout_of(rb), want, "original get_rng_state layout")
    ctx.expect_equal(_layout_of(ra), want, "fixed get_rng_state layout")
    ctx.expect(_same_rng(rb.data, ra.data), "fixed get_rng_state collected different RNG contents")
    gb = ckpt_b.get_rng_state("torch", data_parallel_random_init=True)
    ga = ckpt_a.get_rng_state("torch", data_parallel_random_init=True)
    ctx.expect_equal(len(ga), lay.dp if lay.dp > 1 else 1, "fixed gathered RNG states (one per DP rank)")
    ctx.expect(_same_rng(gb, ga), "fixed get_rng_state gathered different RNG states over DP")

    # metadata: same content; the fixed one (0.16+) carries megatron's DP x CP group
    mb = ckpt_b._build_sharded_state_dict_metadata(True)
    ma = ckpt_a._build_sharded_state_dict_metadata(True)
    group = ma.pop("dp_cp_group", None)
    ctx.expect_equal(ma, mb, "metadata without dp_cp_group")
    if ctx.at_least("0.16.0"):
        ctx.expect(group is not None and _ranks(ctx, group) == _ranks(
            ctx, ps.get_data_parallel_group(with_context_parallel=True)), "metadata['dp_cp_group'] is megatron's")

    # model shards
    model_b, model_a = ckpt_b.TinyShardedModel(), ckpt_a.TinyShardedModel()
    ctx.expect_equal(model_a.full_shape, model_b.full_shape, "TinyShardedModel full shape")
    ctx.expect_equal(model_b.full_shape, (4 * lay.tp, 3), "original TinyShardedModel full shape")
    wb = model_b.sharded_state_dict()["weight"]
    wa = model_a.sharded_state_dict()["weight"]
    ctx.expect_equal(_layout_of(wa), _layout_of(wb), "weight shard layout")
    ctx.expect_equal(tuple(wb.global_offset), (4 * tp_rank, 0), "original weight offset")

    # save / load
    nb, sdb, cb = ckpt_b.save_checkpoint(7, model_b, "/ckpt")
    na, sda, ca = ckpt_a.save_checkpoint(7, model_a, "/ckpt")
    ctx.expect_equal(na, nb, "checkpoint name")
    ctx.expect_equal(ca, cb, "writes common state")
    ctx.expect_equal(cb, ps.get_data_parallel_rank() == 0, "original writes-common flag")
    ctx.expect_equal(_layout_of(sda["rng_state"]), _layout_of(sdb["rng_state"]), "saved RNG layout")
    ctx.expect_equal(_layout_of(sda["model"]["weight"]), _layout_of(sdb["model"]["weight"]), "saved weight layout")
    lb = ckpt_b.load_checkpoint(model_b, sdb)["weight"]
    la = ckpt_a.load_checkpoint(model_a, sda)["weight"]
    ctx.expect_equal(_layout_of(la), _layout_of(lb), "loaded weight layout")

    # losses: per-rank values; DP mean over megatron's DP group
    out = torch.arange(4, dtype=torch.float32) + ctx.rank
    mask = torch.tensor([1.0, 1.0, 0.0, 1.0])
    lossb, repb = loss_b.loss_func(mask, out)
    lossa, repa = loss_a.loss_func(mask, out)
    ctx.expect(torch.allclose(lossa, lossb), f"loss_func local loss {lossa} != {lossb}")
    ctx.expect(torch.allclose(repa["lm loss"], repb["lm loss"]), f"lm loss {repa['lm loss']} != {repb['lm loss']}")
    value = torch.tensor(float(ctx.rank))
    dp_ranks = _ranks(ctx, ps.get_data_parallel_group())
    avg_b = loss_b.average_losses_across_data_parallel_group([value])
    avg_a = loss_a.average_losses_across_data_parallel_group([value])
    ctx.expect_equal(float(avg_a[0]), float(avg_b[0]), "average over DP")
    ctx.expect(abs(float(avg_b[0]) - sum(dp_ranks) / len(dp_ranks)) < 1e-6, "original average is the DP mean")
    ctx.expect_equal(loss_a.LossReporter().report(value), loss_b.LossReporter().report(value), "LossReporter")


def check_groups_explicit_groups_honoured(ctx: Context) -> None:
    """Groups passed to the fixed fixtures are the ones used (the originals cannot take them)."""
    torch, ps = ctx.torch, ctx.ps
    ckpt_b, ckpt_a, loss_b, loss_a = _modules(ctx)
    world = ctx.dist.new_group(list(range(ctx.world_size)))  # every rank, same order
    dpg = ps.get_data_parallel_group()
    dp_cp_rank = ps.get_data_parallel_rank(with_context_parallel=True)

    r = ckpt_a.get_rng_state("torch_dist", tp_group=world, pp_group=dpg)
    ctx.expect_equal(_layout_of(r), ("rng_state", (dpg.size(), ctx.world_size), (dpg.rank(), ctx.rank), dp_cp_rank),
                     "get_rng_state(tp_group=world, pp_group=dp)")
    r = ckpt_a.get_rng_state("torch_dist", dp_cp_group=world)
    ctx.expect_equal(r.replica_id, ctx.rank, "get_rng_state(dp_cp_group=world) replica id")
    try:
        ckpt_b.get_rng_state("torch_dist", tp_group=world)
        ctx.expect(False, "the original get_rng_state accepted tp_group")
    except TypeError:
        pass

    # end to end: save_checkpoint passes its groups to get_rng_state and get_checkpoint_name
    model = ckpt_a.TinyShardedModel(tp_group=world)
    ctx.expect_equal(model.full_shape, (4 * ctx.world_size, 3), "TinyShardedModel(tp_group=world)")
    name, sd, writes = ckpt_a.save_checkpoint(7, model, "/ckpt", tp_group=world, dp_group=world)
    ctx.expect(f"mp_rank_{ctx.rank:02d}_of_{ctx.world_size}" in name, f"checkpoint name {name!r}")
    ctx.expect_equal(tuple(sd["rng_state"].global_shape)[1], ctx.world_size, "saved RNG tp size")
    ctx.expect_equal(writes, ctx.rank == 0, "writes common state with dp_group=world")
    ctx.expect_equal(tuple(sd["model"]["weight"].global_offset), (4 * ctx.rank, 0), "weight offset, tp=world")
    if ctx.at_least("0.16.0"):
        _, sd, _ = ckpt_a.save_checkpoint(7, model, "/ckpt", dp_cp_group=world)
        ctx.expect_equal(sd["model"]["weight"].replica_id, (0, 0, ctx.rank), "metadata dp_cp_group reaches the model")
        ctx.expect_equal(sd["rng_state"].replica_id, ctx.rank, "dp_cp_group reaches get_rng_state")

    # losses over the explicit group: the mean over all ranks
    value = torch.tensor(float(ctx.rank))
    mean = (ctx.world_size - 1) / 2
    avg = loss_a.average_losses_across_data_parallel_group([value], dp_group=world)
    ctx.expect(abs(float(avg[0]) - mean) < 1e-6, f"average over world: {float(avg[0])}, want {mean}")
    out = torch.arange(4, dtype=torch.float32) + ctx.rank
    mask = torch.ones(4)
    _, rep = loss_a.loss_func(mask, out, dp_group=world)
    ctx.expect(abs(float(rep["lm loss"]) - (1.5 + mean)) < 1e-5, f"lm loss over world: {rep['lm loss']}")
    ctx.expect(abs(loss_a.LossReporter(dp_group=world).report(value) - mean) < 1e-6, "LossReporter(dp_group=world)")

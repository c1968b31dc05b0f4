"""RankLayout on its own: the Energon seed example, data roles, coordinates, errors, env."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from mcore_compat.layout import (
    COORD_KEYS,
    DECODER_TOKENS,
    EXPERT_TOKENS,
    LayoutError,
    ParallelConfig,
    RankLayout,
)
from mcore_compat.layout.roles import _letters

# The seed's 8-rank example (megatron-energon docs, "Parallelism"; DP=2, PP=2, TP=2), row by
# row: (global rank, DP rank or None for "X", DP group letter or None, PP rank, TP rank).
SEED_TABLE = [
    (0, 0, "A", 0, 0),
    (1, 0, "B", 0, 1),
    (2, None, None, 1, 0),
    (3, None, None, 1, 1),
    (4, 1, "A", 0, 0),
    (5, 1, "B", 0, 1),
    (6, None, None, 1, 0),
    (7, None, None, 1, 1),
]


@pytest.fixture()
def seed() -> RankLayout:
    # the seed numbers ranks TP fastest, then PP, then DP: megatron's order "tp-cp-ep-pp-dp"
    return RankLayout(8, tp=2, pp=2, order="tp-cp-ep-pp-dp")


def test_seed_example_table(seed: RankLayout) -> None:
    got = []
    for rank in range(8):
        c = seed.coords(rank)
        args = seed.worker_config_args(rank)
        got.append((rank, None if args is None else args.rank, seed.dp_group_name(rank), c["pp"], c["tp"]))
        if args is not None:
            assert args.world_size == 2 and rank in args.group_ranks
    assert got == SEED_TABLE


def test_seed_example_save_restore(seed: RankLayout) -> None:
    assert [r for r in range(8) if seed.saves_dataloader_state(r)] == [0, 4]
    assert [r for r in range(8) if seed.restores_dataloader_state(r)] == [0, 1, 4, 5]
    assert [r for r in range(8) if seed.loads_data(r)] == [0, 1, 4, 5]
    # DP groups exactly as the seed creates them with new_group
    assert seed.worker_config_args(0).group_ranks == (0, 4)
    assert seed.worker_config_args(5).group_ranks == (1, 5)
    assert seed.worker_config_args(3) is None


def test_seed_example_under_megatron_default_order() -> None:
    """Default order tp-cp-ep-dp-pp: rank 2 is DP rank 1 on stage 0, ranks 4-7 are stage 1."""
    lay = RankLayout(8, tp=2, pp=2)
    assert lay.coords(2)["dp"] == 1 and lay.coords(2)["pp"] == 0
    assert [r for r in range(8) if lay.loads_data(r)] == [0, 1, 2, 3]
    assert [r for r in range(8) if lay.saves_dataloader_state(r)] == [0, 2]
    assert lay.groups("dp") == [[0, 2], [1, 3], [4, 6], [5, 7]]
    assert [lay.dp_group_name(r) for r in range(4)] == ["A", "B", "A", "B"]


def test_last_stage_loads_labels(seed: RankLayout) -> None:
    assert [r for r in range(8) if seed.loads_data(r, last_stage=True)] == list(range(8))
    assert [r for r in range(8) if seed.restores_dataloader_state(r, last_stage=True)] == list(range(8))
    assert seed.dp_group_name(2, last_stage=True) == "C"  # groups [0,4] A, [1,5] B, [2,6] C
    assert seed.worker_config_args(6, last_stage=True).rank == 1
    # saving stays one copy per DP rank
    assert [r for r in range(8) if seed.saves_dataloader_state(r)] == [0, 4]


def test_context_parallel_ranks_share_a_dp_rank_and_do_not_save() -> None:
    lay = RankLayout(8, tp=1, cp=2, pp=1)  # ranks 0,1 are one CP group
    assert lay.group_of("cp", 0) == [0, 1]
    assert lay.worker_config_args(1).rank == lay.worker_config_args(0).rank == 0
    assert [r for r in range(8) if lay.saves_dataloader_state(r)] == [0, 2, 4, 6]


@pytest.mark.parametrize(
    "world,sizes,order",
    [
        (16, dict(tp=2, pp=2, cp=2), "tp-cp-ep-dp-pp"),
        (16, dict(tp=2, pp=2, cp=2, ep=2), "tp-cp-ep-pp-dp"),
        (32, dict(tp=2, pp=2, ep=4, etp=1), "tp-cp-ep-dp-pp"),
        (24, dict(tp=3, pp=2, ep=3, etp=1), "tp-cp-ep-pp-dp"),
        (12, dict(pp=3, vpp=2), "tp-pp-dp"),
    ],
)
def test_coords_are_positions_in_groups(world: int, sizes: dict, order: str) -> None:
    """megatron's get_*_rank() is the rank's index in its group: coords must say the same,
    and the coordinates must name every rank exactly once."""
    lay = RankLayout(world, order=order, **sizes)
    axes = {"tp": ("tp", False), "cp": ("cp", False), "dp": ("dp", False), "pp": ("pp", False),
            "ep": ("ep", True), "etp": ("tp", True), "edp": ("dp", True)}
    seen = set()
    for rank in range(world):
        c = lay.coords(rank)
        assert tuple(c) == COORD_KEYS
        for key, (token, expert) in axes.items():
            assert lay.group_of(token, rank, expert=expert).index(rank) == c[key], (rank, key)
        seen.add((c["tp"], c["cp"], c["dp"], c["pp"]))
    assert len(seen) == world
    for token in DECODER_TOKENS:
        assert sorted(itertools.chain(*lay.groups(token))) == list(range(world))
    for token in EXPERT_TOKENS:
        assert sorted(itertools.chain(*lay.groups(token, expert=True))) == list(range(world))


def test_virtual_stages_and_nodes() -> None:
    lay = RankLayout(16, tp=2, pp=4, vpp=3, nproc_per_node=8)
    pp1 = next(r for r in range(16) if lay.coords(r)["pp"] == 1)
    assert lay.virtual_stages(pp1) == [1, 5, 9]
    assert lay.node_of(13) == (1, 5)
    assert RankLayout(4).node_of(3) is None


def test_letters() -> None:
    assert [_letters(i) for i in (0, 1, 25, 26, 27, 701, 702)] == ["A", "B", "Z", "AA", "AB", "ZZ", "AAA"]


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        (dict(world_size=12, tp=5), r"world_size 12 is not divisible by tp\*pp\*cp = 5\*1\*1 = 5"),
        (dict(world_size=16, tp=2, pp=2, cp=2), None),  # valid: control
        (dict(world_size=8, tp=2, ep=3), r"etp\*ep = 2\*3 = 6 does not divide tp\*cp\*dp = 2\*1\*4 = 8"),
        (dict(world_size=8, order="tp-xp-dp"), r"unknown order token\(s\) \['xp'\] in order 'tp-xp-dp'"),
        (dict(world_size=8, order="tp-dp-dp-pp"), r"names \['dp'\] more than once"),
        (dict(world_size=8, tp=2, order="dp-pp"), r"leaves out tp=2"),
        (dict(world_size=8, tp=0), r"tp must be a positive integer, got 0"),
        (dict(world_size=8, pp=1, vpp=2), r"vpp=2 needs pp > 1.*pp=1"),
        (dict(world_size=16, tp=2, pp=2, ep=4, etp=1, order="tp-cp-ep-pp-dp"),
         r"does not end in 'pp'.*edp=2 \(tp\*cp\*dp/\(etp\*ep\) = 8/4\) and dp=4"),
        (dict(world_size=8, nproc_per_node=3), r"world_size 8 is not divisible by nproc_per_node 3"),
        (dict(world_size=8, rank=8), r"rank 8 is outside the world: ranks run from 0 to 7"),
    ],
)
def test_bad_input_names_numbers_and_rule(kwargs: dict, pattern: str | None) -> None:
    world = kwargs.pop("world_size")
    if pattern is None:
        RankLayout(world, **kwargs)
        return
    with pytest.raises(LayoutError, match=pattern):
        RankLayout(world, **kwargs)


def test_bad_rank_and_token_in_queries() -> None:
    lay = RankLayout(8, tp=2)
    with pytest.raises(LayoutError, match=r"rank -1 is outside the world"):
        lay.coords(-1)
    with pytest.raises(LayoutError, match=r"unknown parallelism \['xy'\] in group token 'tp-xy'"):
        lay.groups("tp-xy")
    with pytest.raises(LayoutError, match=r"no rank given"):
        lay.coords()


def test_from_env_reads_torchrun_variables() -> None:
    env = {"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4"}
    lay = RankLayout.from_env(env, tp=2)
    assert (lay.rank, lay.local_rank, lay.nproc_per_node) == (5, 1, 4)
    assert lay.coords() == lay.coords(5) and lay.node_of() == (1, 1)
    with pytest.raises(LayoutError, match="WORLD_SIZE is not set"):
        RankLayout.from_env({"RANK": "0"})
    with pytest.raises(LayoutError, match=r"RANK='x' is not an integer"):
        RankLayout.from_env({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(LayoutError, match="rank 9 is outside the world"):
        RankLayout.from_env({"RANK": "9", "WORLD_SIZE": "8"})


def test_parallel_config_as_in_seed() -> None:
    lines = []
    for rank in range(4):
        env = {"RANK": str(rank), "WORLD_SIZE": "4", "LOCAL_RANK": str(rank)}
        cfg = ParallelConfig({"tp": 2, "pp": 1, "dp": 2}, env=env)
        assert cfg.get_local_rank() == rank and cfg.global_rank == rank and cfg.world_size == 4
        lines.append(repr(cfg))
    assert lines[2] == "ParallelConfig(global_rank=2, world_size=4, tp=2[rank=0], pp=1[rank=0], dp=2[rank=1])"
    assert [ParallelConfig({"tp": 2, "pp": 2, "dp": 1}, env={"RANK": str(r), "WORLD_SIZE": "4"}).pp_rank
            for r in range(4)] == [0, 0, 1, 1]


def test_parallel_config_errors() -> None:
    env = {"RANK": "0", "WORLD_SIZE": "8"}
    with pytest.raises(LayoutError, match=r"tp\*pp\*dp = 2\*1\*2 = 4 does not equal world_size 8"):
        ParallelConfig({"tp": 2, "pp": 1, "dp": 2}, env=env)
    with pytest.raises(LayoutError, match=r"unknown key\(s\) \['xp'\]"):
        ParallelConfig({"tp": 2, "xp": 4}, env=env)
    with pytest.raises(LayoutError, match="LOCAL_RANK is not set"):
        ParallelConfig({"tp": 2, "pp": 2, "dp": 2}, env=env).get_local_rank()


def test_import_needs_no_torch() -> None:
    code = ("import sys; import mcore_compat.layout as L; L.RankLayout(64, tp=8, pp=2).groups('dp'); "
            "import mcore_compat.layout.draw, mcore_compat.layout.table; "
            "assert 'torch' not in sys.modules and 'megatron' not in sys.modules, sorted(sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr

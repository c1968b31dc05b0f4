"""RankLayout against megatron-core's own ``RankGenerator``, over an exhaustive grid.

megatron's ``generate_masked_orthogonal_rank_groups`` and ``RankGenerator`` are read from the
real release (downloaded from PyPI by ``tools.downloads``) and executed in an isolated
namespace: they are pure Python, so this neither needs torch nor leaves a megatron in
``sys.modules`` for other tests. The decoder generator is built as ``initialize_model_parallel``
builds it (``ep=1``), the expert one likewise (``tp=etp, ep, dp=edp, cp=1``), same order.
"""

from __future__ import annotations

import ast
import itertools
import time
import typing
from functools import cache
from pathlib import Path

import pytest

from mcore_compat.layout import DECODER_TOKENS, EXPERT_TOKENS, LayoutError, RankLayout
from tools.downloads import megatron_core

pytestmark = pytest.mark.real

#: The two order families megatron documents (``dp-pp`` = pp last, ``pp-dp`` = dp last), with
#: CP and EP between TP and them in both arrangements.
PP_LAST = ("tp-cp-ep-dp-pp", "tp-ep-cp-dp-pp")
DP_LAST = ("tp-cp-ep-pp-dp", "tp-ep-cp-pp-dp")
#: Short spellings megatron completes itself (axes of size 1 left out).
SHORT = ("tp-dp-pp", "tp-pp-dp", "tp-cp-dp-pp", "tp-cp-pp-dp", "tp-ep-dp-pp", "tp-ep-pp-dp")


@cache
def megatron_rank_generator(release: str) -> type:
    """``RankGenerator`` of a real megatron-core release, compiled from its source file."""
    source_path = Path(megatron_core(release)) / "megatron" / "core" / "parallel_state.py"
    tree = ast.parse(source_path.read_text())
    wanted = {"generate_masked_orthogonal_rank_groups", "RankGenerator"}
    body = [n for n in tree.body if getattr(n, "name", None) in wanted]
    assert {n.name for n in body} == wanted, f"{source_path} lacks one of {sorted(wanted)}"
    namespace: dict = {"List": list, "Optional": typing.Optional}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(source_path), "exec"), namespace)
    return namespace["RankGenerator"]


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def valid_combinations(max_world: int):
    """Every (world, tp, cp, pp, etp, ep) megatron's initialize_model_parallel accepts."""
    for world in range(1, max_world + 1):
        for tp in _divisors(world):
            for cp in _divisors(world // tp):
                for pp in _divisors(world // (tp * cp)):
                    rest = world // pp  # tp * cp * dp
                    for etp in _divisors(rest):
                        for ep in _divisors(rest // etp):
                            yield world, tp, cp, pp, etp, ep


def _orders_for(cp: int, ep: int, families: tuple[tuple[str, ...], ...]) -> list[str]:
    out = [o for fam in families for o in fam]
    for short in SHORT:
        left_out = {"cp", "ep"} - set(short.split("-"))
        if all({"cp": cp, "ep": ep}[a] == 1 for a in left_out):
            out.append(short)
    return out


def compare_grid(release: str, max_world: int, orders_of, tokens_dec, tokens_exp) -> dict:
    """Compare every valid combination; return counts. Fails on the first difference."""
    Gen = megatron_rank_generator(release)
    dec_cache: dict = {}
    exp_cache: dict = {}
    counts = {"layouts": 0, "group_lists": 0, "rejected_like_megatron": 0}
    for world, tp, cp, pp, etp, ep in valid_combinations(max_world):
        dp = world // (tp * cp * pp)
        edp = world // (etp * ep * pp)
        for order in orders_of(cp, ep):
            key = (world, tp, cp, pp, order)
            if key not in dec_cache:
                gen = Gen(tp=tp, ep=1, dp=dp, pp=pp, cp=cp, order=order)
                dec_cache[key] = {t: gen.get_ranks(t) for t in {*tokens_dec, "pp"}}
            ekey = (world, etp, ep, pp, order)
            if ekey not in exp_cache:
                gen = Gen(tp=etp, ep=ep, dp=edp, pp=pp, cp=1, order=order)
                exp_cache[ekey] = {t: gen.get_ranks(t) for t in {*tokens_exp, "pp"}}
            # initialize_model_parallel's two assertions on the pair of generators (0.16.1)
            megatron_ok = (order.endswith("pp") or pp == 1 or edp == dp) and (
                dec_cache[key]["pp"] == exp_cache[ekey]["pp"])
            try:
                layout = RankLayout(world, tp=tp, pp=pp, cp=cp, ep=ep, etp=etp, order=order)
            except LayoutError as exc:
                assert not megatron_ok, f"RankLayout rejected what megatron accepts: {exc}"
                counts["rejected_like_megatron"] += 1
                continue
            assert megatron_ok, f"RankLayout accepted what megatron rejects: {layout}"
            for token, want in dec_cache[key].items():
                got = layout.groups(token)
                assert got == want, f"{layout}: groups({token!r}) {got} != megatron {want}"
            for token, want in exp_cache[ekey].items():
                got = layout.groups(token, expert=True)
                assert got == want, f"{layout}: expert groups({token!r}) {got} != megatron {want}"
            counts["layouts"] += 1
            counts["group_lists"] += len(dec_cache[key]) + len(exp_cache[ekey])
    return counts


def _pairs(max_world: int, orders_of) -> int:
    """How many (combination, order) pairs the grid holds: each must be compared or rejected."""
    return sum(len(orders_of(cp, ep)) for _, _, cp, _, _, ep in valid_combinations(max_world))


def _run(release: str, max_world: int, orders_of, label: str) -> dict:
    t0 = time.monotonic()
    counts = compare_grid(release, max_world, orders_of, DECODER_TOKENS, EXPERT_TOKENS)
    print(f"\n[{label}] megatron-core {release}, world sizes 1..{max_world}: compared "
          f"{counts['layouts']} layouts ({counts['group_lists']} group lists) with RankGenerator; "
          f"{counts['rejected_like_megatron']} rejected as initialize_model_parallel rejects them; "
          f"{time.monotonic() - t0:.1f} s")
    assert counts["layouts"] + counts["rejected_like_megatron"] == _pairs(max_world, orders_of)
    assert counts["layouts"] > 0
    return counts


def test_exhaustive_grid_equals_megatron_0_16_1(record_property) -> None:
    """Every world size up to 64, every valid size combination, both order families.

    The count is printed (``-s``) and recorded as a JUnit property (``layouts_compared``)."""
    # 27642 = number of (world <= 64, tp, cp, pp, etp, ep) with tp*cp*pp | world and
    # etp*ep | world/pp (counted by brute force once; guards the enumeration itself)
    assert sum(1 for _ in valid_combinations(64)) == 27642
    counts = _run("0.16.1", 64, lambda cp, ep: ["tp-cp-ep-dp-pp", "tp-cp-ep-pp-dp"], "families")
    record_property("layouts_compared", counts["layouts"])
    record_property("group_lists_compared", counts["group_lists"])
    assert counts["layouts"] == 48060


def test_other_spellings_equal_megatron_0_16_1() -> None:
    """EP before CP, and short orders with size-1 axes left out (megatron completes them)."""
    def orders_of(cp: int, ep: int) -> list[str]:
        return _orders_for(cp, ep, (("tp-ep-cp-dp-pp",), ("tp-ep-cp-pp-dp",)))

    assert _run("0.16.1", 20, orders_of, "spellings")["layouts"] > 0


def test_every_permutation_equals_megatron_0_16_1() -> None:
    """megatron's RankGenerator takes any permutation of the five axes; so does RankLayout."""
    perms = ["-".join(p) for p in itertools.permutations(["tp", "cp", "ep", "dp", "pp"])]
    assert _run("0.16.1", 8, lambda cp, ep: perms, "permutations")["layouts"] > 0


@pytest.mark.parametrize("release", ["0.10.0", "0.12.3", "0.17.1", "0.19.2"])
def test_other_releases_equal(release: str) -> None:
    """The expert generator exists since 0.10.0; its arithmetic is unchanged through 0.19.2."""
    assert _run(release, 16, lambda cp, ep: ["tp-cp-ep-dp-pp", "tp-cp-ep-pp-dp"], "release")["layouts"] > 0


@pytest.mark.slow
def test_large_sweep_equals_megatron() -> None:
    """On demand (-m slow): world sizes up to 96, every order family and short spelling."""
    def orders_of(cp: int, ep: int) -> list[str]:
        return _orders_for(cp, ep, (PP_LAST, DP_LAST))

    assert _run("0.16.1", 96, orders_of, "slow sweep")["layouts"] > 0


@pytest.mark.parametrize(
    "order,sizes",
    [
        ("tp-dp-pp", {"cp": 2}),       # CP of size 2 left out of the order
        ("tp-cp-dp-pp", {"ep": 2}),    # EP of size 2 left out (expert generator)
        ("tp-cp-ep-dp", {"pp": 2}),    # PP left out
    ],
)
def test_left_out_axis_rejected_like_megatron(order: str, sizes: dict) -> None:
    Gen = megatron_rank_generator("0.16.1")
    world = 8
    cp, ep, pp = sizes.get("cp", 1), sizes.get("ep", 1), sizes.get("pp", 1)
    dp = world // (cp * pp)
    with pytest.raises(RuntimeError):
        if ep > 1:
            Gen(tp=1, ep=ep, dp=world // (ep * pp), pp=pp, cp=1, order=order)
        else:
            Gen(tp=1, ep=1, dp=dp, pp=pp, cp=cp, order=order)
    with pytest.raises(LayoutError, match=r"leaves out .*=2"):
        RankLayout(world, cp=cp, ep=ep, pp=pp, order=order)

"""``RankLayout``: which rank is what under megatron's parallel layout, without torch.

``initialize_model_parallel`` (megatron-core 0.16.1, ``parallel_state.py``) builds two rank
generators over the same world: the *decoder* generator (``tp, cp, dp, pp``; ``ep`` = 1)
creates the dense-layer groups, the *expert* generator (``tp`` = expert TP, ``ep``, ``dp`` =
expert DP, ``pp``; ``cp`` = 1) the MoE groups. ``RankLayout`` holds both grids, answers the
same group lists (``groups("dp-cp")``, ``groups("tp-ep-pp", expert=True)``), each rank's
coordinates, and the dataloader roles of ``roles.py``. Validation mirrors megatron's checks
and errors name the numbers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from mcore_compat.layout import roles
from mcore_compat.layout.errors import LayoutError
from mcore_compat.layout.grid import OrderedGrid
from mcore_compat.layout.orders import DEFAULT_ORDER, complete_order

#: Keys of ``RankLayout.coords``: decoder axes, then the expert generator's axes.
COORD_KEYS: tuple[str, ...] = ("tp", "cp", "dp", "pp", "ep", "etp", "edp")

#: The group kinds ``initialize_model_parallel`` creates (megatron-core 0.16.1), per generator.
DECODER_TOKENS: tuple[str, ...] = (
    "tp", "cp", "dp", "dp-cp", "pp", "tp-pp", "tp-cp", "tp-dp", "tp-dp-cp",
)
EXPERT_TOKENS: tuple[str, ...] = ("tp", "ep", "tp-ep", "tp-ep-pp", "dp", "pp")


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LayoutError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise LayoutError(f"{name} must be a positive integer, got {value}")
    return value


@dataclass(frozen=True)
class Sizes:
    """Every parallel size of a layout, derived ones included."""

    world_size: int
    tp: int
    pp: int
    cp: int
    dp: int
    ep: int
    etp: int
    edp: int
    vpp: int | None


class RankLayout:
    """megatron's rank layout for one world size, sizes and order (DP is derived).

    ``rank`` / ``local_rank`` / ``nproc_per_node`` are optional facts about *this* process
    (``from_env`` fills them); methods taking a rank use ``self.rank`` when given none.
    """

    def __init__(
        self,
        world_size: int,
        *,
        tp: int = 1,
        pp: int = 1,
        cp: int = 1,
        ep: int = 1,
        etp: int | None = None,
        vpp: int | None = None,
        order: str = DEFAULT_ORDER,
        nproc_per_node: int | None = None,
        rank: int | None = None,
        local_rank: int | None = None,
    ) -> None:
        world_size = _positive_int("world_size", world_size)
        tp, pp, cp, ep = (_positive_int(n, v) for n, v in (("tp", tp), ("pp", pp), ("cp", cp), ("ep", ep)))
        etp = tp if etp is None else _positive_int("etp", etp)
        if vpp is not None:
            vpp = _positive_int("vpp", vpp)
            if pp < 2:
                raise LayoutError(
                    f"vpp={vpp} needs pp > 1 (interleaved pipeline schedule), got pp={pp}"
                )
        model = tp * pp * cp
        if world_size % model:
            raise LayoutError(
                f"world_size {world_size} is not divisible by tp*pp*cp = {tp}*{pp}*{cp} = {model}: "
                f"the data-parallel size must be a whole number"
            )
        dp = world_size // model
        if (tp * cp * dp) % (etp * ep):
            raise LayoutError(
                f"etp*ep = {etp}*{ep} = {etp * ep} does not divide tp*cp*dp = {tp}*{cp}*{dp} = "
                f"{tp * cp * dp} (world_size {world_size} / pp {pp}): the expert data-parallel "
                f"size must be a whole number"
            )
        edp = (tp * cp * dp) // (etp * ep)
        decoder_sizes = {"tp": tp, "pp": pp, "dp": dp, "ep": 1, "cp": cp}
        expert_sizes = {"tp": etp, "pp": pp, "dp": edp, "ep": ep, "cp": 1}
        axes = complete_order(order, decoder_sizes)
        complete_order(order, expert_sizes)
        self.order = order.strip().lower()
        self.axes = axes
        self.sizes = Sizes(world_size, tp, pp, cp, dp, ep, etp, edp, vpp)
        self._decoder = OrderedGrid(axes, tuple(decoder_sizes[a] for a in axes))
        self._expert = OrderedGrid(axes, tuple(expert_sizes[a] for a in axes))
        if pp > 1 and not axes_end_with_pp(self.order) and edp != dp:
            raise LayoutError(
                f"order {order!r} does not end in 'pp', so megatron needs the expert data-parallel "
                f"size to equal the data-parallel size; got edp={edp} (tp*cp*dp/(etp*ep) = "
                f"{tp * cp * dp}/{etp * ep}) and dp={dp}"
            )
        # megatron compares the two generators' get_ranks("pp") lists. Both grids share the order
        # and the PP size, and a PP group list depends only on PP's stride (ranks before PP count
        # 0..stride-1 whatever their split), so the lists are equal iff the strides are.
        pp_at = axes.index("pp")
        if pp > 1 and self._decoder.strides[pp_at] != self._expert.strides[pp_at]:
            raise LayoutError(
                f"order {order!r} gives the expert layers (etp={etp}, ep={ep}) other pipeline "
                f"groups than the dense layers (tp={tp}, cp={cp}); megatron requires them equal"
            )
        if nproc_per_node is not None:
            nproc_per_node = _positive_int("nproc_per_node", nproc_per_node)
            if world_size % nproc_per_node:
                raise LayoutError(
                    f"world_size {world_size} is not divisible by nproc_per_node {nproc_per_node}: "
                    f"torchrun starts the same number of processes on every node"
                )
        self.nproc_per_node = nproc_per_node
        self.rank = None if rank is None else self.check_rank(rank)
        self.local_rank = local_rank
        #: roles.py's DP-group letters, per ``last_stage`` (computed on first use)
        self._dp_group_names: dict[bool, dict[tuple[int, ...], str]] = {}

    # -- construction from a torchrun environment ------------------------------------------

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, **sizes: object
    ) -> RankLayout:
        """The layout of the running torchrun job: ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``
        (and ``LOCAL_WORLD_SIZE`` for the node size, when set) plus the given sizes."""
        env = os.environ if env is None else env

        def read(name: str, required: bool) -> int | None:
            raw = env.get(name)
            if raw is None or raw == "":
                if required:
                    raise LayoutError(
                        f"environment variable {name} is not set; run under torchrun or set "
                        f"RANK and WORLD_SIZE"
                    )
                return None
            try:
                return int(raw)
            except ValueError:
                raise LayoutError(f"environment variable {name}={raw!r} is not an integer") from None

        world_size = read("WORLD_SIZE", True)
        rank = read("RANK", True)
        local_rank = read("LOCAL_RANK", False)
        nproc = read("LOCAL_WORLD_SIZE", False)
        if "nproc_per_node" not in sizes and nproc is not None and world_size % nproc == 0:
            sizes["nproc_per_node"] = nproc
        return cls(world_size, rank=rank, local_rank=local_rank, **sizes)  # type: ignore[arg-type]

    # -- basic facts ------------------------------------------------------------------------

    @property
    def world_size(self) -> int:
        return self.sizes.world_size

    def __repr__(self) -> str:
        s = self.sizes
        extra = "" if s.etp == s.tp else f", etp={s.etp}"
        extra += "" if s.vpp is None else f", vpp={s.vpp}"
        return (
            f"RankLayout({s.world_size}, tp={s.tp}, pp={s.pp}, cp={s.cp}, ep={s.ep}{extra}, "
            f"order={self.order!r}) # dp={s.dp}, edp={s.edp}"
        )

    def check_rank(self, rank: object) -> int:
        """``rank`` itself if it is a rank of this world, else ``LayoutError`` naming the range."""
        if isinstance(rank, bool) or not isinstance(rank, int):
            raise LayoutError(f"rank must be an integer, got {rank!r}")
        if not 0 <= rank < self.world_size:
            raise LayoutError(
                f"rank {rank} is outside the world: ranks run from 0 to {self.world_size - 1} "
                f"(world_size {self.world_size})"
            )
        return rank

    def _rank(self, rank: int | None) -> int:
        if rank is None:
            if self.rank is None:
                raise LayoutError("no rank given and this layout has none (use from_env or rank=)")
            return self.rank
        return self.check_rank(rank)

    # -- coordinates and groups -------------------------------------------------------------

    def coords(self, rank: int | None = None) -> dict[str, int]:
        """A rank's coordinate on every axis: ``tp cp dp pp`` (dense layers), ``ep etp edp``
        (expert layers). Each equals the rank's index in megatron's group of that kind."""
        r = self._rank(rank)
        d = self._decoder.coords(r)
        e = self._expert.coords(r)
        return {"tp": d["tp"], "cp": d["cp"], "dp": d["dp"], "pp": d["pp"],
                "ep": e["ep"], "etp": e["tp"], "edp": e["dp"]}

    def groups(self, token: str, expert: bool = False) -> list[list[int]]:
        """Every group of a kind, as megatron's ``RankGenerator.get_ranks(token)`` lists them."""
        grid = self._expert if expert else self._decoder
        return list(map(list, grid.groups(token)))

    def group_of(self, token: str, rank: int | None = None, expert: bool = False) -> list[int]:
        """The group of kind ``token`` that holds ``rank``."""
        r = self._rank(rank)
        grid = self._expert if expert else self._decoder
        return list(grid.groups(token)[grid.group_index(token, r)])

    def virtual_stages(self, rank: int | None = None) -> list[int]:
        """Model chunks (global virtual stage numbers) this rank runs under the interleaved
        schedule: stage ``pp_rank + k * pp`` for ``k < vpp`` (megatron's model-chunk order)."""
        pp_rank = self.coords(rank)["pp"]
        if self.sizes.vpp is None:
            return [pp_rank]
        return [pp_rank + k * self.sizes.pp for k in range(self.sizes.vpp)]

    def node_of(self, rank: int | None = None) -> tuple[int, int] | None:
        """(node, local rank) under torchrun's numbering, or None without ``nproc_per_node``."""
        r = self._rank(rank)
        if self.nproc_per_node is None:
            return None
        return divmod(r, self.nproc_per_node)

    # -- dataloader roles (see roles.py) ----------------------------------------------------

    def loads_data(self, rank: int | None = None, *, last_stage: bool = False) -> bool:
        """Does this rank build a dataloader? First pipeline stage; with ``last_stage`` also
        the last one (megatron's GPT training reads labels there)."""
        return roles.loads_data(self, self._rank(rank), last_stage=last_stage)

    def saves_dataloader_state(self, rank: int | None = None) -> bool:
        """Does this rank save dataloader state (one copy per DP rank)?"""
        return roles.saves_dataloader_state(self, self._rank(rank))

    def restores_dataloader_state(self, rank: int | None = None, *, last_stage: bool = False) -> bool:
        """Does this rank need a dataloader state on restore (every loading rank)?"""
        return roles.loads_data(self, self._rank(rank), last_stage=last_stage)

    def dp_group_name(self, rank: int | None = None, *, last_stage: bool = False) -> str | None:
        """The Energon example's "DP group A/B/..." of a loading rank, None elsewhere."""
        return roles.dp_group_name(self, self._rank(rank), last_stage=last_stage)

    def worker_config_args(
        self, rank: int | None = None, *, last_stage: bool = False
    ) -> roles.WorkerConfigArgs | None:
        """Arguments for Energon's ``WorkerConfig`` on this rank, None where it loads nothing."""
        return roles.worker_config_args(self, self._rank(rank), last_stage=last_stage)


def axes_end_with_pp(order: str) -> bool:
    """megatron's test ``order.endswith("pp")`` (on the order as given, not completed)."""
    return order.strip().lower().endswith("pp")

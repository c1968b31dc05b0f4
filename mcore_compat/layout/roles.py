"""Who loads data, who saves and who restores dataloader state (Energon's worked example).

Source: megatron-energon's "Parallelism" page (seed ``dataloader-parallelism.md``):

* PP: data is loaded on the first pipeline stage only and flows through the pipeline; so only
  those ranks build a loader. (Megatron's GPT training also reads labels on the *last* stage;
  ``last_stage=True`` counts those ranks as loaders too.)
* TP (and CP): every rank of a TP group loads the same samples, so the loader's data-parallel
  group is megatron's ``dp`` group (fixed TP and CP coordinate), not ``dp-cp``.
* Saving: one copy of every DP rank's state suffices: the loading ranks of TP rank 0 (and CP
  rank 0), i.e. DP group "A" (ranks 0 and 4 in the 8-rank example).
* Restoring: every loading rank needs its DP rank's state (ranks 0, 1, 4, 5 in the example).

``WorkerConfigArgs`` carries what Energon's ``WorkerConfig(rank=, world_size=,
data_parallel_group=)`` needs: the DP rank, the DP world size and the ranks of the DP group
(to build with ``torch.distributed.new_group``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from mcore_compat.layout.model import RankLayout


@dataclass(frozen=True)
class WorkerConfigArgs:
    """Energon ``WorkerConfig`` arguments of one loading rank."""

    rank: int
    world_size: int
    group_ranks: tuple[int, ...]
    group_name: str

    def kwargs(self) -> dict[str, int]:
        """``rank`` and ``world_size`` as ``WorkerConfig`` spells them."""
        return {"rank": self.rank, "world_size": self.world_size}

    def build(self, num_workers: int, data_parallel_group: Any = None, **more: Any) -> Any:
        """Construct ``megatron.energon.WorkerConfig`` (needs ``megatron-energon`` installed).

        Pass the process group built from ``group_ranks`` as ``data_parallel_group`` when
        torch.distributed is running; every rank must create every DP group in the same order.
        """
        from megatron.energon import WorkerConfig  # lazy: optional dependency

        return WorkerConfig(
            **self.kwargs(), num_workers=num_workers, data_parallel_group=data_parallel_group, **more
        )


def loads_data(layout: RankLayout, rank: int, *, last_stage: bool = False) -> bool:
    pp_rank = layout.coords(rank)["pp"]
    return pp_rank == 0 or (last_stage and pp_rank == layout.sizes.pp - 1)


def saves_dataloader_state(layout: RankLayout, rank: int) -> bool:
    c = layout.coords(rank)
    return c["pp"] == 0 and c["tp"] == 0 and c["cp"] == 0


def _group_names(layout: RankLayout, last_stage: bool) -> dict[tuple[int, ...], str]:
    """Letters for the DP groups of loading ranks, in order of their first rank: A, B, ..."""
    cache = layout._dp_group_names
    if last_stage not in cache:
        loading = [
            tuple(g) for g in layout.groups("dp") if loads_data(layout, g[0], last_stage=last_stage)
        ]
        loading.sort(key=lambda g: g[0])
        cache[last_stage] = {g: _letters(i) for i, g in enumerate(loading)}
    return cache[last_stage]


def _letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA (spreadsheet column names)."""
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(ord("A") + rem) + name
    return name


def dp_group_name(layout: RankLayout, rank: int, *, last_stage: bool = False) -> str | None:
    if not loads_data(layout, rank, last_stage=last_stage):
        return None
    return _group_names(layout, last_stage)[tuple(layout.group_of("dp", rank))]


def worker_config_args(
    layout: RankLayout, rank: int, *, last_stage: bool = False
) -> WorkerConfigArgs | None:
    if not loads_data(layout, rank, last_stage=last_stage):
        return None
    group = tuple(layout.group_of("dp", rank))
    return WorkerConfigArgs(
        rank=group.index(rank),
        world_size=len(group),
        group_ranks=group,
        group_name=_group_names(layout, last_stage)[group],
    )

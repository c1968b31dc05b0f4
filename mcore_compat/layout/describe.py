"""A layout as plain data: one row per rank and the group lists, for every output format.

The table, JSON and SVG renderers all read these rows, so they can never disagree about which
rank is what. Pure data: no printing, no formatting.
"""

from __future__ import annotations

from typing import Any

from mcore_compat.layout.model import DECODER_TOKENS, EXPERT_TOKENS, RankLayout

#: (token, expert?, what it is): the group kinds megatron creates, in the order we list them.
GROUP_KINDS: tuple[tuple[str, bool, str], ...] = (
    *((t, False, "dense layers") for t in DECODER_TOKENS),
    *((t, True, "expert layers") for t in EXPERT_TOKENS if t != "pp"),
)


def group_label(token: str, expert: bool) -> str:
    """How a group kind is named for people: ``tp``, ``dp-cp``, ``expert tp-ep``."""
    return f"expert {token}" if expert else token


def shown_axes(layout: RankLayout) -> list[str]:
    """Coordinate columns worth showing: always tp, pp, dp; cp and expert axes when in use."""
    s = layout.sizes
    axes = ["tp"]
    if s.cp > 1:
        axes.append("cp")
    axes += ["pp", "dp"]
    if s.ep > 1 or s.etp != s.tp:
        axes += ["ep", "etp", "edp"]
    return axes


def rank_row(layout: RankLayout, rank: int, *, last_stage: bool = False) -> dict[str, Any]:
    """Everything about one rank: place, coordinates, virtual stages, dataloader roles."""
    row: dict[str, Any] = {"rank": rank}
    node = layout.node_of(rank)
    if node is not None:
        row["node"], row["local_rank"] = node
    row.update(layout.coords(rank))
    if layout.sizes.vpp is not None:
        row["virtual_stages"] = layout.virtual_stages(rank)
    args = layout.worker_config_args(rank, last_stage=last_stage)
    row["loads_data"] = args is not None
    row["saves_dataloader_state"] = layout.saves_dataloader_state(rank)
    row["restores_dataloader_state"] = layout.restores_dataloader_state(rank, last_stage=last_stage)
    row["dp_group"] = None if args is None else args.group_name
    row["worker_config"] = None if args is None else {
        "rank": args.rank, "world_size": args.world_size, "data_parallel_group_ranks": list(args.group_ranks)}
    return row


def rows(layout: RankLayout, *, rank: int | None = None, last_stage: bool = False) -> list[dict[str, Any]]:
    """One row per rank, or just ``rank``'s row."""
    ranks = range(layout.world_size) if rank is None else [rank]
    return [rank_row(layout, r, last_stage=last_stage) for r in ranks]


def group_lists(
    layout: RankLayout, *, rank: int | None = None
) -> list[tuple[str, bool, list[list[int]]]]:
    """(token, expert?, groups) for every kind megatron creates; only ``rank``'s group when given."""
    out = []
    for token, expert, _ in GROUP_KINDS:
        if rank is None:
            out.append((token, expert, layout.groups(token, expert=expert)))
        else:
            out.append((token, expert, [layout.group_of(token, rank, expert=expert)]))
    return out


def sizes_dict(layout: RankLayout) -> dict[str, Any]:
    s = layout.sizes
    return {"world_size": s.world_size, "tp": s.tp, "pp": s.pp, "cp": s.cp, "dp": s.dp,
            "ep": s.ep, "etp": s.etp, "edp": s.edp, "vpp": s.vpp}


def to_data(layout: RankLayout, *, rank: int | None = None, last_stage: bool = False) -> dict[str, Any]:
    """The whole layout as JSON-ready data (``mcore-compat layout --format json``)."""
    groups: dict[str, Any] = {}
    expert_groups: dict[str, Any] = {}
    for token, expert, found in group_lists(layout, rank=rank):
        (expert_groups if expert else groups)[token] = found
    return {
        "sizes": sizes_dict(layout),
        "order": layout.order,
        "nproc_per_node": layout.nproc_per_node,
        "data_on_last_stage": last_stage,
        "ranks": rows(layout, rank=rank, last_stage=last_stage),
        "groups": groups,
        "expert_groups": expert_groups,
    }

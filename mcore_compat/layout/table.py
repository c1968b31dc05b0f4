"""The per-rank table and the group lists, for a terminal (rich) or a pipe (plain text).

Plain text is fixed-width columns and one wrapped line block per group kind, so ``grep`` and
``diff`` work on it; rich draws the same cells as a boxed table when a person is looking.
Columns and group kinds that would only repeat others (cp without CP, expert axes without EP)
are left out so 64+ ranks stay readable; ``--format json`` always has everything.
"""

from __future__ import annotations

import io
import textwrap
from typing import Any

from mcore_compat.layout.describe import group_lists, rows, shown_axes
from mcore_compat.layout.model import RankLayout


def _columns(layout: RankLayout) -> list[str]:
    cols = ["rank"]
    if layout.nproc_per_node is not None:
        cols += ["node", "local"]
    cols += shown_axes(layout)
    if layout.sizes.vpp is not None:
        cols.append("chunks")
    cols += ["loads", "saves", "restores", "dp group", "worker rank/size"]
    return cols


def _cells(row: dict[str, Any], cols: list[str]) -> list[str]:
    out = []
    for col in cols:
        if col == "local":
            out.append(str(row["local_rank"]))
        elif col == "chunks":
            out.append(",".join(map(str, row["virtual_stages"])))
        elif col == "loads":
            out.append("yes" if row["loads_data"] else "-")
        elif col == "saves":
            out.append("yes" if row["saves_dataloader_state"] else "-")
        elif col == "restores":
            out.append("yes" if row["restores_dataloader_state"] else "-")
        elif col == "dp group":
            out.append(row["dp_group"] or "-")
        elif col == "worker rank/size":
            wc = row["worker_config"]
            out.append("-" if wc is None else f"{wc['rank']}/{wc['world_size']}")
        else:
            out.append(str(row[col]))
    return out


def header(layout: RankLayout) -> str:
    s = layout.sizes
    parts = [f"world_size={s.world_size}", f"tp={s.tp}", f"pp={s.pp}", f"cp={s.cp}", f"dp={s.dp}"]
    if s.ep > 1 or s.etp != s.tp:
        parts += [f"ep={s.ep}", f"etp={s.etp}", f"edp={s.edp}"]
    if s.vpp is not None:
        parts.append(f"vpp={s.vpp}")
    if layout.nproc_per_node is not None:
        parts.append(f"nproc_per_node={layout.nproc_per_node}")
    return " ".join(parts) + f"  order={layout.order}"


def _shown_kinds(layout: RankLayout, rank: int | None) -> list[tuple[str, bool, list[list[int]]]]:
    """Group kinds worth a line: CP kinds only with CP > 1, expert kinds only when they differ."""
    s = layout.sizes
    expert_used = s.ep > 1 or s.etp != s.tp
    return [
        (t, e, g) for t, e, g in group_lists(layout, rank=rank)
        if (e and expert_used) or (not e and (s.cp > 1 or "cp" not in t.split("-")))
    ]


def _group_text(groups: list[list[int]]) -> str:
    return "  ".join("[" + " ".join(map(str, g)) + "]" for g in groups)


def _kind(token: str, expert: bool, groups: list[list[int]]) -> str:
    name = f"expert {token}" if expert else token
    return f"{name} ({len(groups)} x {len(groups[0])})"


def render_plain(
    layout: RankLayout, *, rank: int | None = None, last_stage: bool = False, width: int = 100
) -> str:
    """Aligned columns and wrapped group lists: for pipes, files and tests."""
    cols = _columns(layout)
    body = [_cells(r, cols) for r in rows(layout, rank=rank, last_stage=last_stage)]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(cols)]
    lines = [header(layout), ""]
    lines.append("  ".join(c.rjust(w) for c, w in zip(cols, widths)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(b, widths)).rstrip() for b in body]
    lines += ["", "groups:" if rank is None else f"groups of rank {rank}:"]
    kinds = _shown_kinds(layout, rank)
    label_w = max(len(_kind(t, e, g)) for t, e, g in kinds)
    for token, expert, groups in kinds:
        label = _kind(token, expert, groups).ljust(label_w)
        wrapped = textwrap.wrap(_group_text(groups), width=max(40, width - label_w - 4),
                                break_on_hyphens=False) or [""]
        lines.append(f"  {label}  {wrapped[0]}")
        lines += [f"  {' ' * label_w}  {more}" for more in wrapped[1:]]
    return "\n".join(lines) + "\n"


def render_rich(
    layout: RankLayout, *, rank: int | None = None, last_stage: bool = False, width: int | None = None,
    force_terminal: bool | None = None,
) -> str:
    """The same content as a rich table (colours by pipeline stage) for a terminal."""
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=force_terminal, highlight=False)
    cols = _columns(layout)
    table = Table(title=header(layout), show_lines=False, header_style="bold")
    for c in cols:
        table.add_column(c, justify="right")
    palette = ["cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta"]
    for r in rows(layout, rank=rank, last_stage=last_stage):
        table.add_row(*_cells(r, cols), style=palette[r["pp"] % len(palette)])
    console.print(table)
    groups = Table(title="groups" if rank is None else f"groups of rank {rank}", header_style="bold")
    groups.add_column("kind (groups x size)")
    groups.add_column("ranks")
    for token, expert, found in _shown_kinds(layout, rank):
        groups.add_row(_kind(token, expert, found), _group_text(found))
    console.print(groups)
    return buf.getvalue()

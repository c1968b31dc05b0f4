"""The layout drawn as people draw it by hand: boxes per rank, one row per node.

Each rank is a box (its global rank big, its coordinates small) filled with the colour of its
pipeline stage. Tensor-parallel groups are outlined (solid), TP x CP groups too (dashed) when
CP > 1; ranks that load data carry a blue dot, ranks that save dataloader state a red square,
and the loading ranks' DP group letter (A, B, ...) sits in the corner. A legend explains it all.
Every box is a ``<g class="rank">`` with ``data-*`` attributes holding the rank's coordinates,
so the picture can be checked by a program as well as by eye.

Plain SVG text, no dependency: the CLI writes it, a browser or the README shows it.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from mcore_compat.layout.describe import rows, shown_axes
from mcore_compat.layout.model import RankLayout
from mcore_compat.layout.table import header

#: Pipeline-stage fills (colour-blind-friendly pastel set), cycled past eight stages.
STAGE_COLOURS = ("#a6cee3", "#fdbf6f", "#b2df8a", "#fb9a99", "#cab2d6", "#ffff99", "#8dd3c7", "#d9d9d9")
LOAD_COLOUR = "#1f5fbf"
SAVE_COLOUR = "#c0392b"

BOX_W, BOX_H, GAP_X, GAP_Y = 114, 66, 22, 26
LEFT, TOP = 108, 66


def _row_width(layout: RankLayout) -> int:
    if layout.nproc_per_node is not None:
        return layout.nproc_per_node
    return min(layout.world_size, 8)


def _position(layout: RankLayout, rank: int) -> tuple[int, int]:
    per_row = _row_width(layout)
    row, col = divmod(rank, per_row)
    return LEFT + col * (BOX_W + GAP_X), TOP + row * (BOX_H + GAP_Y)


def _runs(layout: RankLayout, group: list[int]) -> list[list[int]]:
    """Split a group into runs of neighbouring boxes on one row (what one outline can enclose)."""
    per_row = _row_width(layout)
    runs: list[list[int]] = []
    for r in sorted(group):
        if runs and r == runs[-1][-1] + 1 and r // per_row == runs[-1][-1] // per_row:
            runs[-1].append(r)
        else:
            runs.append([r])
    return runs


def _outline(layout: RankLayout, run: list[int], pad: int, dashed: bool, kind: str) -> str:
    x0, y0 = _position(layout, run[0])
    x1, _ = _position(layout, run[-1])
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    return (
        f'<rect class="group {kind}" x="{x0 - pad}" y="{y0 - pad}" width="{x1 - x0 + BOX_W + 2 * pad}" '
        f'height="{BOX_H + 2 * pad}" rx="9" fill="none" stroke="#222" stroke-width="2"{dash}/>'
    )


def to_svg(layout: RankLayout, *, rank: int | None = None, last_stage: bool = False) -> str:
    """The SVG document (a string). ``rank`` is drawn with a thick border."""
    s = layout.sizes
    per_row = _row_width(layout)
    n_rows = -(-s.world_size // per_row)
    width = LEFT + per_row * (BOX_W + GAP_X) + 24
    legend_top = TOP + n_rows * (BOX_H + GAP_Y) + 4
    height = legend_top + 96
    axes = shown_axes(layout)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="16" y="28" font-size="17" font-weight="bold">{escape(header(layout))}</text>',
        '<text x="16" y="48" font-size="12" fill="#444">one box per rank, one row per '
        + ("node" if layout.nproc_per_node else f"{per_row} ranks")
        + "; colour = pipeline stage</text>",
    ]
    for row in range(n_rows):
        last = min(s.world_size, (row + 1) * per_row) - 1
        label = f"node {row}" if layout.nproc_per_node else f"ranks {row * per_row}-{last}"
        y = TOP + row * (BOX_H + GAP_Y) + BOX_H / 2 + 5
        out.append(f'<text x="16" y="{y:.0f}" font-size="13" font-weight="bold">{escape(label)}</text>')
    # group outlines under the boxes' borders: CP (dashed, wider) then TP (solid)
    if s.cp > 1:
        for group in layout.groups("tp-cp"):
            out += [_outline(layout, run, 9, True, "tp-cp") for run in _runs(layout, group)]
    if s.tp > 1:
        for group in layout.groups("tp"):
            out += [_outline(layout, run, 4, False, "tp") for run in _runs(layout, group)]
    for r in rows(layout, last_stage=last_stage):
        x, y = _position(layout, r["rank"])
        attrs = " ".join(f"data-{k}={quoteattr(str(r[k]))}" for k in ("rank", *axes))
        attrs += f' data-loads={quoteattr(str(r["loads_data"]).lower())}'
        attrs += f' data-saves={quoteattr(str(r["saves_dataloader_state"]).lower())}'
        stroke = ' stroke="#000" stroke-width="4"' if r["rank"] == rank else ' stroke="#555" stroke-width="1"'
        fill = STAGE_COLOURS[r["pp"] % len(STAGE_COLOURS)]
        out.append(f'<g class="rank" {attrs}>')
        out.append(f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}"{stroke}/>')
        out.append(f'<text x="{x + 8}" y="{y + 22}" font-size="18" font-weight="bold">{r["rank"]}</text>')
        coord_lines = _coord_lines(r, axes)
        for i, line in enumerate(coord_lines):
            out.append(f'<text x="{x + 8}" y="{y + 38 + 12 * i}" font-size="10.5">{escape(line)}</text>')
        if r["loads_data"]:
            out.append(f'<circle cx="{x + BOX_W - 13}" cy="{y + 13}" r="6" fill="{LOAD_COLOUR}"/>')
        if r["saves_dataloader_state"]:
            out.append(f'<rect x="{x + BOX_W - 32}" y="{y + 7}" width="12" height="12" fill="{SAVE_COLOUR}"/>')
        if r["dp_group"]:
            out.append(f'<text x="{x + BOX_W - 8}" y="{y + BOX_H - 8}" font-size="12" '
                       f'font-weight="bold" text-anchor="end" fill="{LOAD_COLOUR}">{r["dp_group"]}</text>')
        out.append("</g>")
    out += _legend(layout, legend_top, last_stage)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _coord_lines(row: dict, axes: list[str]) -> list[str]:
    parts = [f"{a}{row[a]}" for a in axes]
    if "virtual_stages" in row:
        parts.append("v" + ",".join(map(str, row["virtual_stages"])))
    lines, current = [], ""
    for p in parts:
        if current and len(current) + 1 + len(p) > 15:
            lines.append(current)
            current = p
        else:
            current = f"{current} {p}".strip()
    lines.append(current)
    return lines[:3]


def _legend(layout: RankLayout, top: int, last_stage: bool) -> list[str]:
    s = layout.sizes
    out = [f'<text x="16" y="{top + 16}" font-size="13" font-weight="bold">legend</text>']
    x = LEFT
    shown = min(s.pp, len(STAGE_COLOURS))
    for stage in range(shown):
        out.append(f'<rect x="{x}" y="{top + 4}" width="16" height="16" rx="3" '
                   f'fill="{STAGE_COLOURS[stage]}" stroke="#555"/>')
        out.append(f'<text x="{x + 21}" y="{top + 17}" font-size="12">stage {stage}</text>')
        x += 84
    if s.pp > shown:
        out.append(f'<text x="{x}" y="{top + 17}" font-size="12">(colours repeat every {shown} stages)</text>')
    symbols = []
    if s.tp > 1:
        symbols.append((lambda x, y: f'<rect x="{x}" y="{y - 12}" width="30" height="16" rx="5" '
                        f'fill="none" stroke="#222" stroke-width="2"/>', f"tensor-parallel group (tp={s.tp})"))
    if s.cp > 1:
        symbols.append((lambda x, y: f'<rect x="{x}" y="{y - 12}" width="30" height="16" rx="5" '
                        f'fill="none" stroke="#222" stroke-width="2" stroke-dasharray="6 4"/>',
                        f"TP x CP group (cp={s.cp})"))
    stage_text = "first and last stage" if last_stage else "first stage"
    symbols.append((lambda x, y: f'<circle cx="{x + 15}" cy="{y - 4}" r="6" fill="{LOAD_COLOUR}"/>',
                    f"loads data ({stage_text}); A, B, ...: its DP group"))
    symbols.append((lambda x, y: f'<rect x="{x + 9}" y="{y - 10}" width="12" height="12" fill="{SAVE_COLOUR}"/>',
                    "saves dataloader state (TP/CP rank 0)"))
    for i, (shape, text) in enumerate(symbols):
        x, y = LEFT + (i % 2) * 330, top + 44 + (i // 2) * 24
        out.append(shape(x, y))
        out.append(f'<text x="{x + 40}" y="{y}" font-size="12">{escape(text)}</text>')
    return out

"""Render a :class:`~.supported_range.Report` as text, JSON or a self-contained HTML page.

Kept apart from the analysis (data flows one way: analysis -> report -> renderer); the
renderer knows nothing about how breaks were found.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

from .releases import describe

if TYPE_CHECKING:
    from mcore_compat.api_index import ApiIndex

    from .supported_range import Edge, Report, Span

FORMATS = ("text", "json", "html")
MAX_LISTED = 20  # breaks listed per edge in text output (json/html list all)


def render(report: "Report", fmt: str, idx: "ApiIndex") -> str:
    if fmt == "json":
        return to_json(report, idx)
    if fmt == "html":
        return to_html(report, idx)
    if fmt == "text":
        return to_text(report, idx)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _edge_text(label: str, edge: "Edge | None", limit: int | None) -> list[str]:
    if edge is None:
        return [f"  {label}: none (the range reaches the {'oldest' if label == 'below' else 'newest'} indexed release)"]
    n = len(edge.breaks)
    out = [f"  {label}: megatron-core {edge.release} breaks {n} use{'s' if n != 1 else ''}:"]
    shown = edge.breaks if limit is None else edge.breaks[:limit]
    out += [f"    {b.file}:{b.row}:{b.column}: {b.why}" for b in shown]
    if len(shown) < n:
        out.append(f"    ... and {n - len(shown)} more (--format json lists all)")
    return out


def _span_line(span: "Span") -> str:
    tail = []
    if span.below:
        tail.append(f"{span.below.release}: {len(span.below.breaks)} break{'s' if len(span.below.breaks) != 1 else ''}")
    if span.above:
        tail.append(f"{span.above.release}: {len(span.above.breaks)} break{'s' if len(span.above.breaks) != 1 else ''}")
    return f"{span.name}  {span.range_text()}" + (f"  ({'; '.join(tail)})" if tail else "")


def to_text(report: "Report", idx: "ApiIndex") -> str:
    t = report.tree
    lines = [f"megatron-core releases for {t.name}: {report.checked} file{'s' if report.checked != 1 else ''}, "
             f"{len(report.files)} using "
             f"megatron.core ({t.uses} uses), indexed releases {idx.releases[0]}-{idx.newest}"]
    if not t.uses:
        lines.append("  no unguarded megatron.core use found: nothing constrains the release")
    elif t.found:
        lines.append(f"  range: {t.range_text()}    suggested pin: {t.pin()}")
        other = [r for r in t.ok if r not in idx.releases_between(t.first, t.last)]
        if other:
            lines.append(f"  also works with: {describe(other, idx)} (not contiguous with the range)")
        lines += _edge_text("below", t.below, MAX_LISTED)
        lines += _edge_text("above", t.above, MAX_LISTED)
    else:
        fewest = min(t.releases, key=lambda r: (len(t.breaks[r]), -t.releases.index(r)))
        lines.append(f"  range: no release works for every file; fewest breaks in {fewest}:")
        lines += [f"    {b.file}:{b.row}:{b.column}: {b.why}" for b in t.breaks[fewest][:MAX_LISTED]]
    if report.files:
        lines.append("per file:")
        lines += [f"  {_span_line(s)}" for s in report.files]
    for name, reason in report.problems:
        lines.append(f"not analysed: {name}: {reason}")
    return "\n".join(lines) + "\n"


def to_json(report: "Report", idx: "ApiIndex") -> str:
    data = {
        "indexed_releases": list(idx.releases),
        "files_checked": report.checked,
        "tree": report.tree.as_dict(idx),
        "files": [s.as_dict(idx) for s in report.files],
        "problems": [{"file": f, "reason": r} for f, r in report.problems],
    }
    return json.dumps(data, indent=2) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}th{background:#eee}td.ok{background:#c8efc8}
td.bad{background:#f5c6c6}td.name{font-family:monospace;white-space:nowrap}code{background:#f3f3f3}
details{margin:.3em 0}"""


def to_html(report: "Report", idx: "ApiIndex") -> str:
    e = html.escape
    t = report.tree
    rels = list(idx.releases)
    head = "".join(f"<th>{e(r)}</th>" for r in rels)

    def row(span: "Span") -> str:
        cells = "".join(
            f'<td class="{"bad" if span.breaks.get(r) else "ok"}" title="{e("; ".join(b.why for b in span.breaks.get(r, [])[:5]))}">'
            f'{len(span.breaks.get(r, [])) or ""}</td>' for r in rels)
        return f'<tr><td class="name">{e(span.name)}</td><td>{e(span.range_text())}</td>{cells}</tr>'

    def edge(label: str, ed: "Edge | None") -> str:
        if ed is None:
            return f"<p>{label}: none</p>"
        items = "".join(f"<li><code>{e(b.file)}:{b.row}:{b.column}</code> {e(b.why)}</li>" for b in ed.breaks)
        return (f"<details open><summary>{label}: megatron-core {e(ed.release)} breaks {len(ed.breaks)} "
                f"use(s)</summary><ul>{items}</ul></details>")

    summary = (f"<p>Range: <b>{e(t.range_text())}</b>; suggested pin: <code>{e(t.pin() or 'none')}</code>; "
               f"{report.checked} files, {len(report.files)} using megatron.core, {t.uses} uses.</p>")
    problems = "".join(f"<li><code>{e(f)}</code>: {e(r)}</li>" for f, r in report.problems)
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>supported megatron-core releases"
            f"</title><style>{_CSS}</style></head><body><h1>megatron-core releases for {e(t.name)}</h1>"
            f"{summary}{edge('below', t.below)}{edge('above', t.above)}"
            f"<h2>Breaking uses per release</h2><table><tr><th>file</th><th>range</th>{head}</tr>{row(t)}"
            + "".join(row(s) for s in report.files) + "</table>"
            + (f"<h2>Not analysed</h2><ul>{problems}</ul>" if problems else "") + "</body></html>\n")

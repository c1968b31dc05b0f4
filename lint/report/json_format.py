"""JSON with ruff's field names, so tools that read ``ruff check --output-format json`` read ours.

A bare list, ``[]`` when clean; rows/columns 1-based; ``fix`` null when there is none;
``applicability`` one of safe / unsafe / display-only; each edit ``{content, location,
end_location}``. ``noqa_row`` is the row a ``# noqa`` comment must be on (as ruff).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Sequence

from ..findings import Applicability, Finding, Location


def _loc(loc: Location) -> dict:
    return {"row": loc.row, "column": loc.column}


def finding_dict(f: Finding) -> dict:
    fix = None
    if f.fix is not None:
        fix = {
            "applicability": f.fix.applicability.value,
            "message": f.fix.message,
            "edits": [{"content": e.content, "location": _loc(e.location), "end_location": _loc(e.end_location)}
                      for e in f.fix.edits],
        }
    return {
        "code": f.code,
        "name": f.name,
        "message": f.message,
        "filename": f.filename,
        "location": _loc(f.location),
        "end_location": _loc(f.end_location),
        "fix": fix,
        "noqa_row": f.location.row,
        "url": f.url,
    }


def render(findings: Sequence[Finding]) -> str:
    return json.dumps([finding_dict(f) for f in findings], indent=2, ensure_ascii=False) + "\n"


def render_statistics(findings: Sequence[Finding]) -> str:
    counts = Counter((f.code, f.name) for f in findings)
    fixable = {(f.code, f.name) for f in findings if f.fix and f.fix.applicability == Applicability.SAFE}
    rows = [{"code": c, "name": n, "count": k, "fixable": (c, n) in fixable}
            for (c, n), k in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))]
    return json.dumps(rows, indent=2) + "\n"

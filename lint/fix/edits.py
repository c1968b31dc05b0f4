"""Text edits from ast positions: applied back to front so earlier offsets stay valid.

Only text is touched (no re-rendering), so everything outside an edit keeps its bytes:
comments, formatting, line endings.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from ..findings import Edit, Location


class OverlapError(ValueError):
    """Two different edits touch the same text."""


def line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer(r"\r\n|\r|\n", text))
    return starts


def to_offset(starts: Sequence[int], text: str, loc: Location) -> int:
    if not 1 <= loc.row <= len(starts):
        raise ValueError(f"edit location row {loc.row} outside the text (1..{len(starts)} lines)")
    off = starts[loc.row - 1] + loc.column - 1
    if off > len(text) or loc.column < 1:
        raise ValueError(f"edit location {loc.row}:{loc.column} outside the text")
    return off


def spans(text: str, edits: Iterable[Edit]) -> list[tuple[int, int, str]]:
    starts = line_starts(text)
    return [(to_offset(starts, text, e.location), to_offset(starts, text, e.end_location), e.content) for e in edits]


def overlaps(a: tuple[int, int, str], b: tuple[int, int, str]) -> bool:
    """Ranges share text, or two insertions at one point (order would be ambiguous)."""
    if a == b:
        return False
    if a[0] == a[1] == b[0] == b[1]:
        return True
    return a[0] < b[1] and b[0] < a[1]


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """``text`` with all ``edits`` applied; identical edits count once; raises OverlapError."""
    sp = sorted(set(spans(text, edits)))
    for x, y in zip(sp, sp[1:]):
        if overlaps(x, y):
            raise OverlapError(f"edits overlap at offsets {x[0]}-{x[1]} and {y[0]}-{y[1]}")
    out = text
    for start, end, content in reversed(sp):
        out = out[:start] + content + out[end:]
    return out

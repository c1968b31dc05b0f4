"""Renames the index cannot tell, read from the ONE reviewed facts table (:mod:`mcore_compat.facts`).

Why a separate module: the index knows that ``get_data_modulo_expert_parallel_group`` is gone
and ``get_expert_data_parallel_group`` is new, but not that one replaced the other -- that is a
reviewed fact with a release and a source, owned by :mod:`mcore_compat.facts`. This module
only adapts that table to what the diff and the MC103/MC104 rules ask: "which renames
happened between release A and release B" and "what replaced qualname Q". It never keeps a
table of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Rename:
    """``old`` (dotted qualname or ``callable(keyword=)``) became ``new`` in ``release``."""

    old: str
    new: str | None  # None: removed without a replacement
    release: str  # first release without ``old`` (or where ``new`` appeared)
    source: str  # where the fact comes from (release notes, PR, file and line)
    kind: str = "symbol"  # "symbol" | "keyword"
    shim: str | None = None  # mcore_compat name that keeps working on every release
    note: str = ""


def _get(entry: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        if isinstance(entry, dict) and n in entry:
            return entry[n]
        if hasattr(entry, n):
            return getattr(entry, n)
    return default


@lru_cache(maxsize=1)
def all_renames() -> tuple[Rename, ...]:
    """Every rename/removal fact the facts table holds (empty while it has none)."""
    from mcore_compat import facts

    query = getattr(facts, "renames", None) or getattr(facts, "all_renames", None)
    if query is None:
        return ()
    out = []
    for e in query():
        old = _get(e, "old", "old_name", "name")
        if not old:
            continue
        out.append(Rename(
            old=str(old),
            new=_get(e, "new", "new_name", "replacement"),
            release=str(_get(e, "release", "since", "removed_in", "changed_in", default="")),
            source=str(_get(e, "source", "reference", default="")),
            kind=str(_get(e, "kind", default="symbol")),
            shim=_get(e, "shim", "mcore_compat"),
            note=str(_get(e, "note", "why", default="")),
        ))
    return tuple(out)


def replacement_for(qualname: str) -> Rename | None:
    """The reviewed fact about ``qualname`` (a symbol), if any."""
    for r in all_renames():
        if r.kind == "symbol" and r.old == qualname:
            return r
    return None


def renames_between(old_release: str, new_release: str) -> list[Rename]:
    """Facts whose release lies in ``(old_release, new_release]``."""
    from packaging.version import InvalidVersion, Version

    lo, hi = Version(old_release), Version(new_release)
    out = []
    for r in all_renames():
        try:
            v = Version(r.release)
        except InvalidVersion:
            continue
        if lo < v <= hi:
            out.append(r)
    return out

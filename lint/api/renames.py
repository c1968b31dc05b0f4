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


def _next_release(last: str) -> str:
    """First indexed release after ``last`` (the first one without the old name)."""
    try:
        from mcore_compat.api_index import load

        rels = load().releases
        return rels[rels.index(last) + 1] if last in rels and last != rels[-1] else last
    except Exception:
        return last


def _symbol_rename(row) -> Rename:
    return Rename(old=row.old, new=row.new, release=_next_release(row.old_last), source=row.source,
                  kind="symbol", note=row.note)


@lru_cache(maxsize=1)
def all_renames() -> tuple[Rename, ...]:
    """Every symbol and keyword rename of the reviewed facts table."""
    from mcore_compat import facts

    table = facts.load()
    out = [_symbol_rename(row) for row in table.symbols]
    for row in table.renamed_keywords:
        out.append(Rename(old=f"{', '.join(row.callables)}({row.old}=)", new=f"{row.new}=",
                          release=_next_release(row.old_last), source=row.source,
                          kind="keyword", note=row.note))
    return tuple(out)


def replacement_for(qualname: str) -> Rename | None:
    """The reviewed move/rename of exactly ``qualname`` (a module, class or function)."""
    from mcore_compat import facts

    for row in facts.load().symbols:
        if row.old == qualname:
            return _symbol_rename(row)
    return None


@dataclass(frozen=True)
class Removal:
    """A name removed without a replacement, and what it means now (facts)."""

    symbol: str
    last: str
    note: str
    source: str


def removal_for(qualname: str) -> Removal | None:
    from mcore_compat import facts

    row = facts.removed_symbol(qualname)
    return Removal(row.symbol, row.last, row.meaning, row.source) if row else None


def renames_between(old_release: str, new_release: str) -> list[Rename]:
    """Facts whose release (first release without the old name) lies in
    ``(old_release, new_release]``."""
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

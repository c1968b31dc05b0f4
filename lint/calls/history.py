"""A keyword's story across releases: which releases accept it, what it became, what is close.

Why: MC201's message must say more than "unexpected keyword": the releases that do take the
keyword (code copied from an older or newer guide), the keyword it was renamed to (from the
reviewed facts table, :mod:`mcore_compat.facts`, never guessed from the data) or the closest
keyword the target takes ("did you mean").
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from .signatures import Signature, signature_in

if TYPE_CHECKING:
    from mcore_compat.api_index import ApiIndex

    from .sites import CallSite


def accepting_releases(idx: "ApiIndex", site: "CallSite", keyword: str) -> list[str]:
    """Indexed releases whose signature of the callee takes ``keyword`` by name."""
    return [r for r, names in _keyword_names(idx, site.qualname, site.style) if keyword in names]


@lru_cache(maxsize=4096)
def _keyword_names(idx: "ApiIndex", qualname: str, style: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """(release, keyword names) for every indexed release where the callee has a signature:
    built once per callee (MC201 asks per reported keyword; a config class has 200 fields)."""
    out = []
    for r in idx.releases:
        sig = signature_in(idx, r, qualname, style)
        if isinstance(sig, Signature):
            out.append((r, frozenset(sig.keyword_names())))
    return tuple(out)


@dataclass(frozen=True)
class Rename:
    """``old`` became ``new`` (reviewed fact), with where the fact comes from."""

    old: str
    new: str
    source: str


def renamed_to(definitions: list[str], keyword: str) -> Rename | None:
    """The reviewed rename of ``keyword`` for a callee defined at any of ``definitions``
    (canonical qualnames in the releases checked): a renamed keyword parameter or a renamed
    config field. None when the facts table has none (or is unavailable)."""
    try:
        from mcore_compat import facts
    except ImportError:  # pragma: no cover - shipped together
        return None
    for q in definitions:
        for query in ("renamed_keyword", "config_field_rename"):
            fn = getattr(facts, query, None)
            if fn is None:
                continue
            try:
                row = fn(q, keyword)
            except Exception:  # the facts table is another module's data: never fail a lint run on it
                row = None
            if row is not None and getattr(row, "old", None) == keyword and getattr(row, "new", None):
                return Rename(keyword, row.new, getattr(row, "source", ""))
    return None


def closest(keyword: str, sig: Signature) -> str | None:
    got = difflib.get_close_matches(keyword, sig.keyword_names(), n=1, cutoff=0.75)
    return got[0] if got else None


def ancestors(idx: "ApiIndex", release: str, qualname: str) -> list[str]:
    """``qualname`` and its megatron base classes in ``release`` (depth-first), so a fact about
    a field of ``TransformerConfig`` also applies to ``MLATransformerConfig(...)``."""
    return list(_ancestors(idx, release, qualname))


@lru_cache(maxsize=16384)
def _ancestors(idx: "ApiIndex", release: str, qualname: str) -> tuple[str, ...]:
    return tuple(_walk_ancestors(idx, release, qualname))


def _walk_ancestors(idx: "ApiIndex", release: str, qualname: str) -> list[str]:
    out: list[str] = []
    stack = [qualname]
    while stack:
        q = stack.pop(0)
        if q in out:
            continue
        out.append(q)
        rec = idx.record(release, q) or {}  # one line decoded, not the release's whole view
        if rec.get("k") == "class":
            stack.extend(b for b in rec.get("b", []) if b.startswith("megatron."))
    return out


def moved_to(definitions: list[str], keyword: str) -> str | None:
    """The config class a field ``keyword`` moved to (reviewed facts: ``moved_field``), e.g.
    ``OptimizerConfig(overlap_grad_reduce=)`` -> ``DistributedDataParallelConfig`` in 0.10.0."""
    try:
        from mcore_compat import facts
    except ImportError:  # pragma: no cover
        return None
    fn = getattr(facts, "config_field_move", None)
    for q in definitions:
        try:
            row = fn(q, keyword) if fn is not None else None
        except Exception:  # another module's data: never fail a lint run on it
            row = None
        if row is not None and getattr(row, "to_class", None):
            return row.to_class
    return None

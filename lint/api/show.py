"""One symbol across every indexed release, grouped into runs where it did not change.

``mcore-lint api show megatron.core.parallel_state.get_data_parallel_group`` answers "since
when does it take ``partial_data_parallel``, and where did it move" without installing a
single release.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcore_compat.api_index import FOUND, MISSING, ApiIndex, ApiIndexError, signature

from .renames import replacement_for


@dataclass
class Run:
    first: str
    last: str
    releases: list[str]
    status: str  # found / missing / external / dynamic
    defined_at: str  # canonical qualname (after re-exports)
    signature: str
    decorators: list[str]

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class SymbolHistory:
    qualname: str
    runs: list[Run]
    fact: dict | None  # the reviewed rename/removal fact, if any

    def to_json(self) -> dict:
        return {"qualname": self.qualname, "runs": [r.to_json() for r in self.runs], "fact": self.fact}


def show_symbol(idx: ApiIndex, qualname: str) -> SymbolHistory:
    """Runs of releases with identical signature; raises ApiIndexError (with close names)
    when ``qualname`` exists in no release."""
    qualname = qualname.strip()
    runs = []
    name = qualname.rsplit(".", 1)[-1]
    for releases, res in idx.history(qualname):
        rec = res.record if res.status == FOUND else None
        if res.status == FOUND:
            sig = signature(rec, name)
        elif res.status == MISSING:
            sig = "(absent)"
        else:
            sig = f"({res.status}: {res.qualname})"
        runs.append(Run(releases[0], releases[-1], releases, res.status, res.qualname, sig,
                        list(rec.get("d", [])) if rec else []))
    if all(r.status == MISSING for r in runs):
        hints: list[str] = []
        parent = qualname.rsplit(".", 1)[0]
        for rel in reversed(idx.releases):
            hints = [f"{parent}.{c}" for c in idx.closest(rel, qualname)]
            hints = hints or idx.where_defined(rel, name)
            if hints:
                break
        raise ApiIndexError(
            f"{qualname} exists in no indexed megatron-core release "
            f"({idx.releases[0]}..{idx.newest})"
            + (f"; did you mean {', '.join(hints[:3])}?" if hints else "")
        )
    fact = replacement_for(qualname)
    return SymbolHistory(qualname, runs, fact.__dict__ if fact else None)

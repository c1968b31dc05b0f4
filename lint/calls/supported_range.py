"""``mcore-lint supported-range``: the megatron-core releases a file (and a tree) works with.

Why: teams encode "which megatron-core does this code run on" as pins and patch files found
by trial and error. This computes it: for every indexed release, every ``megatron.core`` use a
file makes must resolve (imports and attribute chains, as MC102/MC103 check them) and every
call of a megatron callable must bind (as MC201/MC202 check them: no unknown keyword, no
missing required argument, not too many positional arguments, no argument given twice). The
range is the longest run of consecutive releases where all of that holds (the newer run wins a
tie); the first release outside it on each side is reported with the uses that break there,
and ``megatron-core>=A,<B`` is suggested. Uses inside compatibility guards (``try/except
ImportError``, ``hasattr``, version checks, ``except TypeError``) and imports under ``if
TYPE_CHECKING:`` do not count: the code already handles them, or never runs them. Calls the index cannot tell (``**kwargs`` callees, ``*args`` calls,
external classes) never break a release.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from . import Bound, binding_in, call_sites, describe
from .sites import ROOT, CallSite

if TYPE_CHECKING:
    from mcore_compat.api_index import ApiIndex

    from ..semantic import SemanticModel


@dataclass(frozen=True)
class Break:
    """A use that fails in some release: ``kind`` "name" (does not resolve) or "call" (does
    not bind); ``what`` is the megatron name, ``why`` a short reason."""

    file: str
    row: int
    column: int
    kind: str
    what: str
    why: str

    def as_dict(self) -> dict:
        return {"file": self.file, "row": self.row, "column": self.column, "kind": self.kind,
                "what": self.what, "why": self.why}


@dataclass
class Edge:
    """The first release outside the range on one side and what breaks there."""

    release: str
    breaks: list[Break]

    def as_dict(self) -> dict:
        return {"release": self.release, "breaks": [b.as_dict() for b in self.breaks]}


@dataclass
class Span:
    """Result for one file or the whole tree."""

    name: str
    releases: tuple[str, ...]  # every indexed release, oldest first
    breaks: dict[str, list[Break]]  # release -> uses failing there
    uses: int = 0  # megatron.core uses checked
    first: str | None = None
    last: str | None = None
    below: Edge | None = None
    above: Edge | None = None

    @property
    def ok(self) -> list[str]:
        return [r for r in self.releases if not self.breaks.get(r)]

    @property
    def found(self) -> bool:
        return self.first is not None

    def pin(self) -> str | None:
        """``megatron-core>=A,<B``; only ``>=A`` when the range reaches the newest indexed release."""
        if self.first is None:
            return None
        if self.above is None:
            return f"megatron-core>={self.first}"
        return f"megatron-core>={self.first},<{self.above.release}"

    def range_text(self) -> str:
        if self.first is None:
            return "no release"
        return self.first if self.first == self.last else f"{self.first}-{self.last}"

    def as_dict(self, idx: "ApiIndex") -> dict:
        return {
            "name": self.name, "uses": self.uses, "range": None if self.first is None else [self.first, self.last],
            "ok_releases": describe(self.ok, idx) if self.ok else "no release", "pin": self.pin(),
            "below": self.below.as_dict() if self.below else None,
            "above": self.above.as_dict() if self.above else None,
        }


def _type_checking_only(model: "SemanticModel", stmt: ast.AST) -> bool:
    """Under ``if TYPE_CHECKING:``: never runs, so it cannot break a release."""
    for br in model.branch_of(stmt):
        test = getattr(br.node, "test", None)
        if isinstance(br.node, ast.If) and br.part == "body" and (
                isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
                or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            return True
    return False


def _not_run(model: "SemanticModel", stmt: ast.AST) -> bool:
    """A guarded statement (the code expects the name may be missing) or a typing-only one."""
    return model.is_guarded(stmt) or _type_checking_only(model, stmt)


def _import_uses(model: "SemanticModel") -> Iterable[tuple[ast.AST, str]]:
    for b in model.imports:
        if b.qualname is None or _not_run(model, b.stmt):
            continue
        if isinstance(b.stmt, ast.Import) and not b.asname:
            full = b.module or ""  # ``import megatron.core.x`` binds ``megatron``
        else:
            full = b.qualname
        if full == ROOT or full.startswith(ROOT + "."):
            yield b.node, full


def file_breaks(model: "SemanticModel", idx: "ApiIndex", name: str) -> Span:
    """Per release, the uses of ``model`` that fail there."""
    from .sites import is_signature_guarded

    releases = tuple(idx.releases)
    breaks: dict[str, list[Break]] = {r: [] for r in releases}
    uses = 0
    seen: set[tuple[int, int, str]] = set()

    def name_use(node: ast.AST, q: str, imported: str | None = None) -> None:
        nonlocal uses
        uses += 1
        for r in releases:
            res = idx.resolve(r, q)
            if res.missing and imported is not None and len(res.qualname) <= len(imported):
                continue  # the import itself fails there: counted once, at the import
            if res.missing:
                key = (node.lineno, node.col_offset, r)  # type: ignore[attr-defined]
                if key in seen:
                    continue
                seen.add(key)
                start, _ = model.location(node)
                breaks[r].append(Break(name, start.row, start.column, "name", res.qualname,
                                       f"`{res.qualname}` does not exist"))

    for node, q in _import_uses(model):
        name_use(node, q)
    for ref in model.references:
        q = ref.qualname
        if ref.ctx != "load" or ref.ambiguous or not q.startswith(ROOT + "."):
            continue
        if is_signature_guarded(model, ref.node) or _not_run(model, ref.binding.stmt):
            continue  # guarded, or bound by a guarded / TYPE_CHECKING import
        name_use(ref.node, q, ref.binding.qualname)
    for site in call_sites(model):
        if site.guarded or site.has_star_args:
            continue
        uses += 1
        for r in releases:
            b = binding_in(idx, site, r)
            if isinstance(b, Bound) and not b.ok:
                breaks[r] += _call_breaks(model, name, site, b)
    span = Span(name, releases, breaks, uses)
    choose_range(span)
    return span


def _call_breaks(model: "SemanticModel", name: str, site: CallSite, b: Bound) -> list[Break]:
    """The breaks of a call that does not bind, located where the rules report them, so a
    break and its finding name the same line: an unknown keyword at that keyword (as MC201),
    the other problems (missing, too many positional, given twice) at the callee (as MC202).
    A call written over several lines otherwise points at its first line, and a keyword on a
    later line has no finding there."""
    out: list[Break] = []
    head = f"`{site.display}()`: "
    unknown = set(b.unknown_keywords)
    for kw in site.keywords:
        if kw.arg in unknown:
            start, _ = model.location(kw)
            out.append(Break(name, start.row, start.column, "call", site.qualname, head + f"no keyword `{kw.arg}`"))
    rest = replace(b, unknown_keywords=[]).problems()
    if rest:
        start, _ = model.location(site.node)
        out.append(Break(name, start.row, start.column, "call", site.qualname, head + ", ".join(rest)))
    return out


def choose_range(span: Span) -> None:
    """Fill ``first``/``last``/``below``/``above``: the longest run of consecutive releases
    without breaks (the newest on a tie); with no such release, the edges are empty."""
    best: tuple[int, int] | None = None
    start = None
    rels = span.releases
    for i, r in enumerate((*rels, None)):
        good = r is not None and not span.breaks.get(r)
        if good and start is None:
            start = i
        elif not good and start is not None:
            if best is None or (i - start) >= (best[1] - best[0] + 1):
                best = (start, i - 1)
            start = None
    if best is None:
        span.first = span.last = span.below = span.above = None
        return
    lo, hi = best
    span.first, span.last = rels[lo], rels[hi]
    span.below = Edge(rels[lo - 1], span.breaks[rels[lo - 1]]) if lo > 0 else None
    span.above = Edge(rels[hi + 1], span.breaks[rels[hi + 1]]) if hi + 1 < len(rels) else None


def merge(spans: list[Span], name: str, releases: tuple[str, ...]) -> Span:
    """The whole tree: a release works when it works for every file."""
    breaks: dict[str, list[Break]] = {r: [] for r in releases}
    for s in spans:
        for r, bs in s.breaks.items():
            breaks[r].extend(bs)
    tree = Span(name, releases, breaks, sum(s.uses for s in spans))
    choose_range(tree)
    return tree


@dataclass
class Report:
    """What ``supported-range`` prints: the tree, each file with megatron uses, problems."""

    tree: Span
    files: list[Span]
    checked: int  # files read
    problems: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


def analyze(paths: list[Path], idx: "ApiIndex | None" = None) -> Report:
    """Run the analysis over files/folders (discovery honours .gitignore and the configured
    ``exclude``; files that cannot be read or parsed are listed in ``problems``)."""
    from ..engine import ParseError, parse
    from ..files import FileError, decode
    from ..runner import _display, collect_files
    from ..semantic import build_model, module_name_for
    from ..settings import resolve_settings
    from . import index

    idx = idx or index()
    settings = resolve_settings([p if p.exists() else p.parent for p in paths])
    files = collect_files(paths, settings)
    spans: list[Span] = []
    problems: list[tuple[str, str]] = []
    for path, _explicit in files:
        name = _display(path)
        try:
            src = decode(path.read_bytes()).text
            tree = parse(src, name)
        except OSError as e:
            problems.append((name, f"cannot read: {e.strerror or e}"))
            continue
        except (FileError, ParseError) as e:
            problems.append((name, str(e)))
            continue
        module, is_pkg = module_name_for(path)
        model = build_model(tree, src, name, module, is_pkg)
        span = file_breaks(model, idx, name)
        if span.uses:
            spans.append(span)
    label = ", ".join(str(p) for p in paths)
    return Report(merge(spans, label, tuple(idx.releases)), spans, len(files), problems)

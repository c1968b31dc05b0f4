"""Every import request of a file, scheduled in one place with libcst's codemod machinery.

``AddImportsVisitor`` adds what fixes need (merging into an existing ``from m import ...``,
skipping imports already present); ``RemoveImportsVisitor`` then removes imports fixes may have
made unused - only when nothing uses them any more. libcst re-renders only what changed, so
comments and formatting elsewhere survive.

Why two paths: run on a whole module, the two visitors rebuild every node and scope analysis
covers every name - 380 s for one added import in a 0.86 MB file. ``schedule_imports`` gives
libcst only the pieces it would change (``import_layout``): the import head plus a stand-in
for the first statement after it, and the top-level statements holding an import to remove;
whether such an import is still used is decided on the whole file with ``ast`` and a word
search. Whatever that cannot decide exactly as libcst would goes to
``schedule_imports_whole_file`` (the libcst-only reference), so the output is always the one
libcst gives on the whole file (``tests/test_fix_imports.py`` compares them on real code).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from ..findings import ImportRequest
from .import_layout import (
    NEWLINE_RE,
    ImportSite,
    Layout,
    reads_function_binding,
    reads_module_binding,
)

#: Stand-in for the first statement after the head: libcst may put an empty line before it.
_PLACEHOLDER = "pass"


def schedule_imports(text: str, requests: Iterable[ImportRequest]) -> str:
    """``text`` with the import requests applied, as libcst's Add/RemoveImportsVisitor on the
    whole module would produce, at a cost that follows the touched statements, not the file."""
    requests = list(dict.fromkeys(requests))
    if not requests:
        return text
    fast = schedule_imports_fast(text, requests)
    return fast if fast is not None else schedule_imports_whole_file(text, requests)


def schedule_imports_whole_file(text: str, requests: Iterable[ImportRequest]) -> str:
    """The reference: libcst's two visitors over the whole module (slow on big files)."""
    requests = list(dict.fromkeys(requests))
    if not requests:
        return text
    import libcst as cst

    tree = cst.parse_module(text)
    return _transform(tree, requests, forced_roots=None).code


def schedule_imports_fast(text: str, requests: list[ImportRequest]) -> str | None:
    """The piecewise path, or None when some case is not provably the same as libcst's."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    layout = Layout.of(text, tree)
    if layout is None or not layout.identifiers_normalized():
        return None
    adds = [r for r in requests if not r.remove]
    removes = [r for r in requests if r.remove]
    if {_root(r) for r in adds} & {_root(r) for r in removes}:
        return None  # an import added and removed under one name: libcst's order matters
    removed_roots: set[str] = set()
    removed_sites: list[ImportSite] = []
    if removes:
        decided = _decide_removals(layout, removes)
        if decided is None:
            return None
        removed_roots, removed_sites = decided
    cut_index = layout.head_end()
    for site in removed_sites:
        if site.top_level:  # the statement may vanish with the comment lines above it
            cut_index = max(cut_index, site.group + 1)
    windows = sorted({s.group for s in removed_sites if s.group >= cut_index})
    if windows and not _uniform_newlines(text):
        return None  # a block emptied in a window gets ``pass`` + the window's first newline
    try:
        return _splice(layout, requests, adds, removed_roots, removed_sites, cut_index, windows)
    except Exception:  # noqa: BLE001 - libcst rejects a piece: let the whole-file path decide
        return None


# -- removal decisions ---------------------------------------------------------------------
def _root(r: ImportRequest) -> str:
    """The name an import binds (``import a.b`` binds ``a``)."""
    bound = r.asname or r.name or r.module
    return bound.split(".")[0] if r.name is None else bound


def _matching_sites(layout: Layout, removes: list[ImportRequest]) -> list[tuple[ImportSite, str]]:
    """Import aliases ``RemoveImportsVisitor`` would consider (libcst 1.9 ``_remove_imports.py``:
    one alias per module for ``import m``, last request wins; ``from m import n`` needs an
    absolute module, no star, not ``__future__`` (``_gather_unused_imports.py``))."""
    unused_modules = {r.module: r.asname for r in removes if r.name is None}
    unused_objects: dict[str, set[tuple[str, str | None]]] = {}
    for r in removes:
        if r.name is not None:
            unused_objects.setdefault(r.module, set()).add((r.name, r.asname))
    found: list[tuple[ImportSite, str]] = []
    for site in layout.import_sites():
        a = site.alias
        if isinstance(site.stmt, ast.Import):
            if a.name in unused_modules and unused_modules[a.name] == a.asname:
                found.append((site, (a.asname or a.name).split(".")[0]))
        elif (site.stmt.level == 0 and site.stmt.module in unused_objects and site.stmt.module != "__future__"
              and a.name != "*" and (a.name, a.asname) in unused_objects[site.stmt.module]):
            found.append((site, a.asname or a.name))
    return found


def _decide_removals(layout: Layout, removes: list[ImportRequest]) -> tuple[set[str], list[ImportSite]] | None:
    """(names whose requested imports go, those imports) - or None when undecided.

    A name goes when every place its word appears in the file, comments aside, is one of the
    requested imports: no reference, no ``__all__`` entry, no string annotation can then exist, so
    libcst finds them all unused. A name stays when the binding of each of its requested
    imports is provably read (``reads_module_binding``, ``reads_function_binding``).
    Anything else is left to libcst."""
    by_root: dict[str, list[ImportSite]] = {}
    for site, root in _matching_sites(layout, removes):
        by_root.setdefault(root, []).append(site)
    gone: set[str] = set()
    sites: list[ImportSite] = []
    for root, matches in by_root.items():
        spans = []
        for s in matches:
            a = s.alias
            spans.append((layout.offset(a.lineno, a.col_offset), layout.offset(a.end_lineno, a.end_col_offset)))
        words = layout.word_offsets(root)
        outside = [w for w in words if not any(lo <= w < hi for lo, hi in spans)]
        if outside:  # mentions in comments do not count
            comments = [c for g in sorted({layout.group_of_offset(w) for w in outside}) for c in layout.comment_spans(g)]
            outside = [w for w in outside if not any(lo <= w < hi for lo, hi in comments)]
        if not outside and not layout.string_mentions(root):
            gone.add(root)
            sites.extend(matches)
            continue
        groups = sorted({layout.group_of_offset(w) for w in words})
        module_read: bool | None = None
        for s in matches:
            if s.module_scope:
                if module_read is None:
                    module_read = any(reads_module_binding(layout.groups[g].stmts, root) for g in groups)
                if not module_read:
                    return None
            elif not reads_function_binding(s.scope, root):
                return None
    return gone, sites


# -- libcst on pieces ----------------------------------------------------------------------
def _splice(layout: Layout, requests: list[ImportRequest], adds: list[ImportRequest], removed_roots: set[str],
            removed_sites: list[ImportSite], cut_index: int, windows: list[int]) -> str | None:
    import libcst as cst

    text = layout.text
    cut = layout.groups[cut_index].start if cut_index < len(layout.groups) else len(text)
    head_removals = any(s.group < cut_index for s in removed_sites)
    pieces: list[str] = []
    if adds or head_removals:
        placeholder = ""
        if cut < len(text):
            m = NEWLINE_RE.search(text)
            placeholder = _PLACEHOLDER + (m.group(0) if m else "\n")
        head_requests = [r for r in requests if not r.remove or head_removals]
        code = _transform(cst.parse_module(text[:cut] + placeholder), head_requests, removed_roots).code
        if not code.endswith(placeholder):
            return None
        pieces.append(code[:len(code) - len(placeholder)])
    else:
        pieces.append(text[:cut])
    removes = [r for r in requests if r.remove]
    pos = cut
    for gi in windows:
        start, end = layout.groups[gi].start, layout.group_end(gi)
        pieces.append(text[pos:start])
        pieces.append(_transform(cst.parse_module(text[start:end]), removes, removed_roots).code)
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def _transform(tree, requests: list[ImportRequest], forced_roots: set[str] | None):
    """libcst's Add- then RemoveImportsVisitor on ``tree``. With ``forced_roots`` the removal
    does not run scope analysis on this piece: exactly the requested imports binding those
    names count as unused (decided on the whole file by ``_decide_removals``)."""
    from libcst.codemod import CodemodContext
    from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor

    context = CodemodContext()
    adds = [r for r in requests if not r.remove]
    removes = [r for r in requests if r.remove]
    for r in adds:
        AddImportsVisitor.add_needed_import(context, r.module, r.name, r.asname)
    for r in removes:
        RemoveImportsVisitor.remove_unused_import(context, r.module, r.name, r.asname)
    if adds:
        tree = AddImportsVisitor(context).transform_module(tree)
    if removes:
        remover = RemoveImportsVisitor if forced_roots is None else _forced_remover(forced_roots)
        tree = remover(context).transform_module(tree)
    return tree


def _forced_remover(roots: set[str]):
    """A RemoveImportsVisitor whose "unused" set is every import alias binding one of
    ``roots`` that libcst's GatherUnusedImportsVisitor would consider at all."""
    import libcst as cst
    from libcst.codemod.visitors import RemoveImportsVisitor

    class _Candidates(cst.CSTVisitor):
        def __init__(self) -> None:
            self.found: dict = {}

        def _add(self, node) -> None:
            for alias in node.names:
                bound = alias.evaluated_alias or alias.evaluated_name
                if (bound.split(".")[0] if isinstance(node, cst.Import) else bound) in roots:
                    self.found[alias] = node

        def visit_Import(self, node: cst.Import) -> bool:
            self._add(node)
            return False

        def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
            module = node.module
            if not isinstance(node.names, cst.ImportStar) and module is not None and not (
                    isinstance(module, cst.Name) and module.value == "__future__"):
                self._add(node)
            return False

    class ForcedRemover(RemoveImportsVisitor):
        METADATA_DEPENDENCIES = ()

        def visit_Module(self, node: cst.Module) -> None:
            candidates = _Candidates()
            node.visit(candidates)
            self._unused_imports = candidates.found

    return ForcedRemover


def _uniform_newlines(text: str) -> bool:
    crlf = text.count("\r\n")
    return text.count("\r") == crlf and (crlf == 0 or text.count("\n") == crlf)

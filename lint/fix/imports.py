"""Every import request of a file, scheduled in one place with libcst's codemod machinery.

``AddImportsVisitor`` adds what fixes need (merging into an existing ``from m import ...``,
skipping imports already present); ``RemoveImportsVisitor`` then removes imports fixes may have
made unused - only when nothing uses them any more. libcst re-renders only what changed, so
comments and formatting elsewhere survive.

Why two paths: run on a whole module, the two visitors rebuild every node and scope analysis
covers every name - 100 s for one MC101 fix in the 1 MB file of ``bench/imports.py`` (2.5 s
now, ``mcore-fix`` included). ``schedule_imports`` gives
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
    return _transform(tree, requests, forced=None).code


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
    removed: list[tuple[ImportSite, str]] = []
    if removes:
        decided = _decide_removals(layout, removes)
        if decided is None:
            return None
        removed = decided
    cut_index = layout.head_end()
    for site, _ in removed:
        if site.top_level:  # the statement may vanish with the comment lines above it
            cut_index = max(cut_index, site.group + 1)
    windows = sorted({s.group for s, _ in removed if s.group >= cut_index})
    if windows and not _uniform_newlines(text):
        return None  # a block emptied in a window gets ``pass`` + the window's first newline
    try:
        return _splice(layout, requests, removed, cut_index, windows)
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


def _decide_removals(layout: Layout, removes: list[ImportRequest]) -> list[tuple[ImportSite, str]] | None:
    """The requested imports libcst would find unused (with the name each binds) - or None
    when that is not decided here.

    libcst (``GatherUnusedImportsVisitor.is_in_use``) keeps an import when its name is in
    ``__all__`` or a string annotation anywhere in the file, or when an import of that name in
    the same scope is referenced. So, per name and scope (module or one function; class
    bodies are left to libcst):

    - gone: outside comments, docstrings and import statements (which read nothing), the name's word
      appears nowhere in the file (for a function: nowhere inside that function), and no
      string that could be an ``__all__`` entry or annotation has it;
    - kept: a read of that binding is found (``reads_module_binding``, ``reads_function_binding``),
      or ``__all__`` lists the name;
    - anything else: undecided."""
    by_root: dict[str, list[ImportSite]] = {}
    for site, root in _matching_sites(layout, removes):
        by_root.setdefault(root, []).append(site)
    removed: list[tuple[ImportSite, str]] = []
    for root, matches in by_root.items():
        # import statements read nothing; reads are looked for first (no tokenizing needed)
        outside = [w for w in layout.word_offsets(root) if not layout.in_import(w)]
        units: dict[int, list[ImportSite]] = {}
        for s in matches:
            units.setdefault(id(s.scope), []).append(s)
        unread = [sites for sites in units.values() if isinstance(sites[0].scope, ast.ClassDef) or not outside
                  or not _read(layout, sites, root, outside)]
        if not unread or layout.exported(root):
            continue  # every binding is read, or the name is exported: libcst keeps them all
        if len(unread) == len(units) and not layout.drop_inert(outside) and not layout.string_mentions(root):
            removed.extend((s, root) for s in matches)  # a read would be a code word: none read
            continue
        for sites in unread:
            scope = sites[0].scope
            if scope is None or isinstance(scope, ast.ClassDef):
                return None
            lo, hi = layout.node_span(scope)
            if layout.drop_inert([w for w in outside if lo <= w < hi]) or layout.string_mentions(root):
                return None
            removed.extend((s, root) for s in sites)
    return removed


def _read(layout: Layout, sites: list[ImportSite], root: str, outside: list[int]) -> bool:
    """Whether the binding of ``root`` by ``sites`` (one scope) is provably read."""
    scope = sites[0].scope
    after = min(layout.node_span(s.stmt)[1] for s in sites)
    if scope is None:
        groups = sorted({layout.group_of_offset(w) for w in outside})
        return any(reads_module_binding(layout, layout.groups[g].stmts, root, after) for g in groups)
    return reads_function_binding(layout, scope, root, after)


# -- libcst on pieces ----------------------------------------------------------------------
def _splice(layout: Layout, requests: list[ImportRequest], removed: list[tuple[ImportSite, str]],
            cut_index: int, windows: list[int]) -> str:
    import libcst as cst

    text = layout.text
    adds = [r for r in requests if not r.remove]
    removes = [r for r in requests if r.remove]
    cut = layout.groups[cut_index].start if cut_index < len(layout.groups) else len(text)
    head = [(s, root) for s, root in removed if s.group < cut_index]
    pieces: list[str] = []
    if adds or head:
        placeholder = ""
        if cut < len(text):
            m = NEWLINE_RE.search(text)
            placeholder = _PLACEHOLDER + (m.group(0) if m else "\n")
        forced = _Forced.of(layout, list(range(cut_index)), head)
        code = _transform(cst.parse_module(text[:cut] + placeholder), adds + (removes if head else []), forced).code
        if not code.endswith(placeholder):
            raise ValueError("placeholder statement not rendered last")
        pieces.append(code[:len(code) - len(placeholder)])
    else:
        pieces.append(text[:cut])
    pos = cut
    for gi in windows:
        start, end = layout.groups[gi].start, layout.group_end(gi)
        pieces.append(text[pos:start])
        forced = _Forced.of(layout, [gi], [(s, root) for s, root in removed if s.group == gi])
        pieces.append(_transform(cst.parse_module(text[start:end]), removes, forced).code)
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


class _Forced:
    """Which import aliases of one piece are unused, as decided on the whole file: (bound
    name, scope) pairs, a scope being the ordinal of its def/class in the piece (None: module)."""

    def __init__(self, units: set[tuple[str, int | None]], scope_names: list[str]):
        self.units = units
        self.scope_names = scope_names

    @classmethod
    def of(cls, layout: Layout, group_indices: list[int], removed: list[tuple[ImportSite, str]]) -> _Forced:
        nodes = layout.scope_nodes(group_indices) if any(s.scope is not None for s, _ in removed) else []
        ordinal = {id(n): i for i, n in enumerate(nodes)}
        units = {(root, None if s.scope is None else ordinal[id(s.scope)]) for s, root in removed}
        return cls(units, [n.name for n in nodes])


def _transform(tree, requests: list[ImportRequest], forced: _Forced | None):
    """libcst's Add- then RemoveImportsVisitor on ``tree``. With ``forced`` the removal does
    not run scope analysis on this piece: the imports it names count as unused (decided on
    the whole file by ``_decide_removals``)."""
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
        remover = RemoveImportsVisitor if forced is None else _forced_remover(forced)
        tree = remover(context).transform_module(tree)
    return tree


def _forced_remover(forced: _Forced):
    """A RemoveImportsVisitor whose "unused" set is every import alias in ``forced``'s units
    that libcst's GatherUnusedImportsVisitor would consider at all; it refuses a tree whose
    defs/classes are not the ones the units were numbered on."""
    import libcst as cst
    from libcst.codemod.visitors import RemoveImportsVisitor

    class _Candidates(cst.CSTVisitor):
        def __init__(self) -> None:
            self.found: dict = {}
            self.names: list[str] = []
            self.scopes: list[int | None] = [None]

        def _enter(self, node) -> None:
            self.scopes.append(len(self.names))
            self.names.append(node.name.value)

        def _leave(self, node) -> None:
            self.scopes.pop()

        visit_FunctionDef = visit_ClassDef = _enter
        leave_FunctionDef = leave_ClassDef = _leave

        def _add(self, node) -> None:
            for alias in node.names:
                bound = alias.evaluated_alias or alias.evaluated_name
                root = bound.split(".")[0] if isinstance(node, cst.Import) else bound
                if (root, self.scopes[-1]) in forced.units:
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
            if forced.scope_names and candidates.names != forced.scope_names:
                raise ValueError("libcst and ast disagree on the defs of a piece")
            self._unused_imports = candidates.found

    return ForcedRemover


def _uniform_newlines(text: str) -> bool:
    crlf = text.count("\r\n")
    return text.count("\r") == crlf and (crlf == 0 or text.count("\n") == crlf)

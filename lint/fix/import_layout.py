"""Where a module's imports live, found with ``ast`` so libcst only has to parse small pieces.

Why: libcst's ``AddImportsVisitor`` / ``RemoveImportsVisitor`` rebuild the whole tree and
``RemoveImportsVisitor`` computes scope metadata for all of it - minutes on a multi-MB file for
one added import. What they actually touch is small: the *import head* (the docstring and the
run of import lines at the top, libcst 1.9 ``_add_imports.py`` ``_split_module``), the first
statement after it (an empty line may be put before it) and the statements holding an import
to remove. This module maps the text into top-level *groups* (libcst's top-level statements:
``ast`` statements joined by ``;`` on one line form one group) with their offsets, so the
scheduler can hand libcst exactly those pieces and keep every other byte as it was.
"""

from __future__ import annotations

import ast
import bisect
import re
from dataclasses import dataclass, field

#: libcst's newline (``libcst/_parser/detect_config.py`` NEWLINE_RE); CPython counts lines alike.
NEWLINE_RE = re.compile(r"\r\n?|\n")
_IMPORT_WORD_RE = re.compile(r"(?<!\w)import(?!\w)")
_NON_ASCII_WORD_RE = re.compile(r"\w*[^\W\x00-\x7f]\w*")
_SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass
class Group:
    """One top-level libcst statement: ``ast`` statements sharing lines through ``;``."""

    start: int  # offset of its first line (the first decorator's line for decorated defs)
    first_line: int  # 1-based
    last_line: int
    stmts: list[ast.stmt] = field(default_factory=list)

    @property
    def head_candidate(self) -> bool:
        """Only imports (libcst's head is a run of one-import lines; the first group may also be
        the docstring / ``__strict__``). A superset of libcst's head is fine: see ``head_end``."""
        return all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in self.stmts)


@dataclass
class ImportSite:
    """One ``ast.alias`` of an import statement and where it binds its name."""

    alias: ast.alias
    stmt: ast.Import | ast.ImportFrom
    group: int  # index into Layout.groups
    top_level: bool  # the statement is directly in the module body
    scope: ast.AST | None  # innermost def/class whose body holds it; None: the module scope

    @property
    def module_scope(self) -> bool:
        return self.scope is None


class Layout:
    """Line starts and top-level groups of ``text`` (``tree`` is ``ast.parse(text)``).

    ``Layout.of`` returns None when the text has something this mapping does not model
    (a statement not starting at column 0, a decorator ``@`` on an earlier line): the caller
    then takes libcst's whole-file path.
    """

    def __init__(self, text: str, tree: ast.Module, line_starts: list[int], groups: list[Group]):
        self.text = text
        self.tree = tree
        self.line_starts = line_starts
        self.groups = groups
        self._group_lines = [g.first_line for g in groups]
        self._strings: list[str] | None = None
        self._sites: list[ImportSite] | None = None
        self._bare_spans: list[tuple[int, int]] = []
        self._dotted: set[str] | None = None
        self._exports: set[str] = set()
        self._import_starts: list[int] = []
        self._import_ends: list[int] = []

    @classmethod
    def of(cls, text: str, tree: ast.Module) -> Layout | None:
        line_starts = [0] + [m.end() for m in NEWLINE_RE.finditer(text)]
        groups: list[Group] = []
        for stmt in tree.body:
            if groups and stmt.lineno <= groups[-1].last_line:  # ``a; b`` - same libcst line
                groups[-1].stmts.append(stmt)
                groups[-1].last_line = max(groups[-1].last_line, stmt.end_lineno or stmt.lineno)
                continue
            first = stmt.lineno
            decorators = getattr(stmt, "decorator_list", None)
            if decorators:
                first = min(d.lineno for d in decorators)
                if text[line_starts[first - 1]:line_starts[first - 1] + 1] != "@":
                    return None
            elif stmt.col_offset != 0:
                return None
            groups.append(Group(line_starts[first - 1], first, stmt.end_lineno or stmt.lineno, [stmt]))
        return cls(text, tree, line_starts, groups)

    # -- offsets ---------------------------------------------------------------------------
    def group_end(self, index: int) -> int:
        """Offset where group ``index``'s text ends: the next group's first line (its leading
        comments and blank lines belong to the slice before it)."""
        return self.groups[index + 1].start if index + 1 < len(self.groups) else len(self.text)

    def offset(self, line: int, col_bytes: int) -> int:
        """Text offset of an ``ast`` position (``col_offset`` counts UTF-8 bytes)."""
        start = self.line_starts[line - 1]
        end = self.line_starts[line] if line < len(self.line_starts) else len(self.text)
        row = self.text[start:end]
        if row.isascii():
            return start + col_bytes
        return start + len(row.encode("utf-8")[:col_bytes].decode("utf-8", "replace"))

    def group_of_line(self, line: int) -> int:
        return max(bisect.bisect_right(self._group_lines, line) - 1, 0)

    def group_of_offset(self, offset: int) -> int:
        return self.group_of_line(bisect.bisect_right(self.line_starts, offset))

    # -- what libcst looks at ------------------------------------------------------------
    def head_end(self) -> int:
        """Index of the first group after the candidate import head. libcst's own head
        (``_GatherTopImportsBeforeStatements``, ``_split_module``) is a prefix of it: statements
        between the two are parsed by libcst exactly as in the whole file, so handing libcst
        the groups before this index yields the same insertion point."""
        for i, g in enumerate(self.groups):
            if g.head_candidate:
                continue
            if i == 0 and len(g.stmts) == 1 and isinstance(g.stmts[0], (ast.Expr, ast.Assign)):
                continue  # docstring / ``__strict__ = ...`` (``_skip_first``)
            return i
        return len(self.groups)

    def import_sites(self) -> list[ImportSite]:
        """Every import alias of the file, reading only the groups whose text has the word
        ``import`` (an import statement always spells it)."""
        if self._sites is None:
            self._sites = self._find_import_sites()
            spans = sorted({self.node_span(s.stmt) for s in self._sites})
            self._import_starts = [lo for lo, _ in spans]
            self._import_ends = [hi for _, hi in spans]
        return self._sites

    def dotted_import_names(self) -> set[str]:
        """Dotted names ``import a.b.c`` binds besides ``a`` (``a.b``, ``a.b.c``): libcst
        records reads of ``a.b.x`` under them."""
        if self._dotted is None:
            self._dotted = set()
            for site in self.import_sites():
                if isinstance(site.stmt, ast.Import) and site.alias.asname is None:
                    parts = site.alias.name.split(".")
                    self._dotted.update(".".join(parts[:i]) for i in range(2, len(parts) + 1))
        return self._dotted

    def in_import(self, offset: int) -> bool:
        """Whether ``offset`` is inside an import statement (which reads no name)."""
        self.import_sites()
        i = bisect.bisect_right(self._import_starts, offset) - 1
        return i >= 0 and offset < self._import_ends[i]

    def _find_import_sites(self) -> list[ImportSite]:
        seen: set[int] = set()
        for m in _IMPORT_WORD_RE.finditer(self.text):
            seen.add(self.group_of_offset(m.start()))
        sites: list[ImportSite] = []
        for gi in sorted(seen):
            for stmt in self.groups[gi].stmts:
                _collect_imports(stmt, gi, top_level=True, scope=None, out=sites)
        return sites

    def word_offsets(self, word: str) -> list[int]:
        """Offsets of ``word`` as a whole identifier-like word anywhere in the text (code,
        strings and comments alike: an over-count only makes the caller more careful)."""
        return [m.start() for m in re.finditer(rf"(?<!\w){re.escape(word)}(?!\w)", self.text)]

    def comment_spans(self, index: int) -> list[tuple[int, int]]:
        """Text spans of the comments of group ``index`` (tokenized on its own; empty when it
        cannot be: then every word counts as code)."""
        import io
        import tokenize

        start, end = self.groups[index].start, self.group_end(index)
        piece = self.text[start:end]
        if "\r" in piece and piece.count("\r") != piece.count("\r\n"):
            return []  # a lone CR: tokenize's rows would not be ours
        first = self.groups[index].first_line
        spans = []
        try:
            for tok in tokenize.generate_tokens(io.StringIO(piece).readline):
                if tok.type == tokenize.COMMENT:
                    row = first - 1 + tok.start[0]
                    spans.append((self.line_starts[row - 1] + tok.start[1], self.line_starts[row - 1] + tok.end[1]))
        except (tokenize.TokenError, SyntaxError):
            return []
        return spans

    def drop_inert(self, words: list[int]) -> list[int]:
        """``words`` (offsets) without the ones inside comments and string statements
        (docstrings): those bind and read nothing, and libcst reads no name from them."""
        groups = sorted({self.group_of_offset(w) for w in words})
        inert = [c for g in groups for c in self.comment_spans(g)]
        if words:
            self._scan_strings()
            inert += self._bare_spans
        inert.sort()
        starts = [lo for lo, _ in inert]

        def inside(w: int) -> bool:
            i = bisect.bisect_right(starts, w) - 1
            return i >= 0 and w < inert[i][1]

        return [w for w in words if not inside(w)]

    def node_span(self, node: ast.AST) -> tuple[int, int]:
        """Text offsets of an ``ast`` node (a def/class from its first decorator)."""
        decorators = getattr(node, "decorator_list", None) or []
        first = min([(node.lineno, node.col_offset)] + [(d.lineno, d.col_offset) for d in decorators])
        return self.offset(*first), self.offset(node.end_lineno, node.end_col_offset)

    def scope_nodes(self, group_indices: list[int]) -> list[ast.AST]:
        """The def/class statements of those groups in source pre-order (libcst visits them
        in the same order, which lets a piece's libcst tree be matched to this one)."""
        out: list[ast.AST] = []

        def visit(stmt: ast.stmt) -> None:
            if isinstance(stmt, _SCOPE_NODES):
                out.append(stmt)
            for child in ast.iter_child_nodes(stmt):
                if isinstance(child, ast.stmt):
                    visit(child)
                elif isinstance(child, (ast.excepthandler, ast.match_case)):
                    for s in child.body:
                        visit(s)

        for gi in group_indices:
            for stmt in self.groups[gi].stmts:
                visit(stmt)
        return out

    def string_mentions(self, word: str) -> bool:
        """True when a ``str`` constant's *value* that could be an ``__all__`` entry or a string
        annotation has ``word``: libcst reads those by value (escapes decoded, implicit
        concatenations joined), which a search of the source text can miss. Strings that are a
        whole expression statement (docstrings) are neither."""
        self._scan_strings()
        pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")
        return any(word in s and pattern.search(s) for s in self._strings)

    def exported(self, name: str) -> bool:
        """Whether ``name`` is a plain string entry of an ``__all__ = [...]`` / ``+= [...]``
        list, tuple or set anywhere: libcst 1.9 ``GatherExportsVisitor`` then exports it and
        ``GatherUnusedImportsVisitor`` keeps every import of it."""
        self._scan_strings()
        return name in self._exports

    def _scan_strings(self) -> None:
        if self._strings is not None:
            return
        bare: set[int] = set()
        strings: list[str] = []
        for n in ast.walk(self.tree):
            listed = _export_list(n)
            if listed is not None:
                self._exports.update(e.value for e in listed.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
            if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str):
                bare.add(id(n.value))
                self._bare_spans.append(self.node_span(n.value))
            elif isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in bare:
                strings.append(n.value)
        self._strings = strings

    def identifiers_normalized(self) -> bool:
        """True when no identifier-like word changes under NFKC: CPython normalizes
        identifiers, libcst compares them as written, so ``ast`` names then mean libcst's."""
        if self.text.isascii():
            return True
        import unicodedata

        return all(unicodedata.normalize("NFKC", w) == w for w in _NON_ASCII_WORD_RE.findall(self.text))


def _export_list(node: ast.AST) -> ast.List | ast.Tuple | ast.Set | None:
    """The literal of ``__all__ = [...]`` (list/tuple/set, also annotated) or ``__all__ += [...]``
    (list/tuple), as libcst 1.9 ``_gather_exports.py`` reads them."""
    if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
        kinds: tuple[type, ...] = (ast.List, ast.Tuple, ast.Set)
    elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "__all__":
        kinds = (ast.List, ast.Tuple, ast.Set)
    elif (isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add) and isinstance(node.target, ast.Name)
          and node.target.id == "__all__"):
        kinds = (ast.List, ast.Tuple)
    else:
        return None
    return node.value if isinstance(node.value, kinds) else None


def _collect_imports(stmt: ast.stmt, gi: int, *, top_level: bool, scope: ast.AST | None,
                     out: list[ImportSite]) -> None:
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        out.extend(ImportSite(a, stmt, gi, top_level, scope) for a in stmt.names)
        return
    inner = stmt if isinstance(stmt, _SCOPE_NODES) else scope
    for child in ast.iter_child_nodes(stmt):
        if isinstance(child, ast.stmt):
            _collect_imports(child, gi, top_level=False, scope=inner, out=out)
        elif isinstance(child, (ast.excepthandler, ast.match_case)):
            for s in child.body:
                _collect_imports(s, gi, top_level=False, scope=inner, out=out)


_NEW_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp,
               ast.DictComp, ast.GeneratorExp)


def reads_module_binding(layout: Layout, stmts: list[ast.stmt], name: str, after: int) -> bool:
    """True when ``stmts`` (one top-level group) provably read ``name`` from the module scope,
    so libcst's ScopeProvider records the access on the module-scope imports of ``name``
    (libcst 1.9 ``scope_provider.py`` ``infer_accesses``, ``record_accesses``) and they count
    as used: an ``ast.Name`` in Load context none of whose enclosing def/class/lambda/
    comprehension scopes binds ``name`` (``_own_binds`` over-counts bindings, never
    under-counts). libcst counts a read in the module scope itself only when it comes after
    the import (``after``: the end offset of the first import); reads from nested scopes
    count wherever they are. Annotations count (libcst records them as accesses too);
    ``match`` statements are not searched: missing a read only sends the caller to libcst."""
    finder = _ReadFinder(layout, name, after)
    return any(finder.found(stmt, False, True) for stmt in stmts)


def reads_function_binding(layout: Layout, function: ast.AST, name: str, after: int) -> bool:
    """The same for an import in ``function``'s own scope: a read there after the import, or
    a read from a nested scope that does not bind ``name``; no ``global``/``nonlocal`` for it."""
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    for node in ast.walk(function):
        if isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names:
            return False
    finder = _ReadFinder(layout, name, after)
    return any(finder.found(stmt, False, True) for stmt in function.body)


class _ReadFinder:
    """Reads of one name whose libcst access name is provably that name: ``R`` alone, or an
    attribute chain ``R.p.q`` none of whose longer prefixes an ``import R.p`` could bind
    (libcst would record those under ``R.p``)."""

    def __init__(self, layout: Layout, name: str, after: int):
        self.layout = layout
        self.name = name
        self.after = after
        self.dotted = layout.dotted_import_names()

    def _counts(self, node: ast.Name, same_scope: bool) -> bool:
        return node.id == self.name and isinstance(node.ctx, ast.Load) and (
            not same_scope or self.layout.offset(node.lineno, node.col_offset) >= self.after)

    def found(self, node: ast.AST, shadowed: bool, same_scope: bool) -> bool:
        stack: list[tuple[ast.AST, bool, bool]] = [(node, shadowed, same_scope)]
        while stack:
            node, shadowed, same_scope = stack.pop()
            if isinstance(node, ast.Match):
                continue
            if isinstance(node, ast.Name):
                if not shadowed and self._counts(node, same_scope):
                    return True
                continue
            if isinstance(node, ast.Attribute):
                parts, bottom = [node.attr], node.value
                while isinstance(bottom, ast.Attribute):
                    parts.append(bottom.attr)
                    bottom = bottom.value
                if isinstance(bottom, ast.Name):
                    if bottom.id == self.name and not shadowed:
                        dotted = [bottom.id, *reversed(parts)]
                        longer = {".".join(dotted[:i]) for i in range(2, len(dotted) + 1)}
                        if not longer & self.dotted and self._counts(bottom, same_scope):
                            return True
                    continue
            if isinstance(node, _NEW_SCOPES):
                # the body reads from the new scope; decorators, bases, defaults, annotations and
                # a comprehension's parts are taken as both order-sensitive and shadowed by the
                # new scope's names, which holds whichever scope libcst puts them in
                shadowed = shadowed or _own_binds(node, self.name)
                body = getattr(node, "body", None)
                body = body if isinstance(body, list) else [body] if body is not None else []
                stack.extend((child, shadowed, False) for child in body)
                stack.extend((child, shadowed, same_scope) for child in ast.iter_child_nodes(node)
                             if not any(child is b for b in body))
                continue
            stack.extend((child, shadowed, same_scope) for child in ast.iter_child_nodes(node))
        return False


def _own_binds(scope: ast.AST, name: str) -> bool:
    """Whether ``scope`` (a def/class/lambda/comprehension) binds ``name`` itself: its
    parameters, decorators, and its body down to (not into) nested def/class bodies; nested
    lambdas and comprehensions are included, which can only over-count."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        if name in _bound_names(node):
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _bound_names(node: ast.AST) -> tuple[str | None, ...]:
    """Names ``node`` binds (or declares global/nonlocal) in some scope."""
    if isinstance(node, ast.Name):
        return () if isinstance(node.ctx, ast.Load) else (node.id,)
    if isinstance(node, ast.arg):
        return (node.arg,)
    if isinstance(node, ast.alias):
        return ((node.asname or node.name).split(".")[0],)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return (node.name,)
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return tuple(node.names)
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        return (node.name,)
    if isinstance(node, ast.MatchMapping):
        return (node.rest,)
    return ()

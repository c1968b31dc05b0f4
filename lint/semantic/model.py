"""The semantic model of one file: which names reach megatron (or another tracked package).

Built once per file on the stdlib ``ast`` tree and shared by every rule (ruff's design; the
libcst metadata providers torchfix and Fixit use cost 120-365x an ``ast.parse`` on Megatron
code). To stay close to the cost of the parse it never walks the whole tree:

1. **Statements only** (no expressions): one pass over statement lists records every *block*
   (statement list) with its scope (module / function / class) and its *branch path* (which
   ``if``/``try``/loop branch it sits in), and collects the import statements. A leaf statement
   costs one dict lookup; where any other statement runs is derived from its block on demand.
2. **Imports first**: imports whose target starts with a tracked root (``megatron`` by default;
   relative imports resolved from the file's module name) give the *candidate names*. A file
   with none stops here.
3. **Hot statements only**: a scan of the source finds the lines mentioning a candidate
   name; only statements (or compound-statement headers) on those lines have their expressions
   walked, to find uses (``Name``/``Attribute`` chains), rebindings and shadowing. They are
   found by bisection inside the blocks of statements that hold a hot line, never by looking
   at every statement.
4. **Resolve**: each use is resolved through Python's scoping rules (local, enclosing
   functions, module; class scopes are not visible from methods; ``global``/``nonlocal``) to
   the bindings that can reach it: the latest preceding binding on the same branch path kills
   earlier ones; bindings on other branches stay as alternatives (like libcst's set of
   qualified names).

Known approximations: names bound by comprehensions and lambdas shadow only inside them; a
``from x import *`` is recorded (``star_imports``) but binds nothing; ``exec``/``globals()`` are
ignored.
"""

from __future__ import annotations

import ast
import bisect
import operator
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Iterable, Iterator

from ..findings import Location
from .modules import canonical, resolve_relative

#: Roots whose names are tracked by default. Rules may add roots (``Rule.roots``).
DEFAULT_ROOTS: tuple[str, ...] = ("megatron",)

#: Exceptions whose ``except`` makes the ``try`` body a compatibility guard.
GUARD_EXCEPTIONS = frozenset({"ImportError", "ModuleNotFoundError", "AttributeError"})
_BROAD_EXCEPTIONS = frozenset({"Exception", "BaseException", ""})  # "" = bare ``except:``

_SCOPE_KINDS = ("module", "function", "class")


@dataclass(eq=False)
class Scope:
    """A Python scope: the module, a function (or lambda-free ``async def``), or a class body."""

    kind: str  # "module" | "function" | "class"
    node: ast.AST  # ast.Module / ast.FunctionDef / ast.AsyncFunctionDef / ast.ClassDef
    parent: "Scope | None"
    globals: set[str] = field(default_factory=set)
    nonlocals: set[str] = field(default_factory=set)
    bindings: dict[str, list["Binding"]] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        return getattr(self.node, "name", None)

    def chain(self) -> Iterator["Scope"]:
        s: Scope | None = self
        while s is not None:
            yield s
            s = s.parent


@dataclass(frozen=True, eq=False)
class Branch:
    """One step of a branch path: the compound statement and which part of it."""

    node: ast.stmt  # ast.If / ast.Try / ast.For / ast.While / ast.Match / ...
    part: str  # "body" | "else" | "handler0".. | "finally" | "case0"..


@dataclass(frozen=True)
class Guard:
    """Why a node may be compatibility code rather than a plain use.

    kind "try": the node is in a ``try`` (``part`` body/handler/else/finally) whose handlers catch
    ``catches`` (exception names as written, "" for a bare ``except``).
    kind "if": the node is under an ``if`` (``part`` body/else) whose test calls ``hasattr``
    (``hasattr``) or compares a version (``version``: a name or attribute containing
    "version", e.g. ``__version__``, ``is_te_min_version``, ``Version(...)``).
    """

    kind: str
    node: ast.stmt
    part: str
    catches: frozenset[str] = frozenset()
    hasattr: bool = False
    version: bool = False

    @property
    def is_import_guard(self) -> bool:
        """Inside a ``try`` body (or its handlers) that catches ImportError / ModuleNotFoundError /
        AttributeError (or a broad ``except``): the code expects the name may be missing."""
        return self.kind == "try" and self.part != "finally" and bool(
            self.catches & (GUARD_EXCEPTIONS | _BROAD_EXCEPTIONS)
        )


@dataclass(eq=False)
class Binding:
    """A name bound in a scope: by an import (``kind`` "import"), assignment, parameter,
    ``def``/``class``, ``except ... as``, ``with ... as``, ``for`` target, ``del`` ("delete").

    For imports of a tracked package ``qualname`` is what the name refers to
    (``import megatron.core.parallel_state as mpu`` binds ``mpu`` ->
    ``megatron.core.parallel_state``; ``import megatron.core`` binds ``megatron`` ->
    ``megatron``); it is ``None`` for every other binding.
    """

    name: str
    kind: str
    node: ast.AST  # ast.alias for imports; the Name / arg / def / handler otherwise
    stmt: ast.stmt  # the statement that binds (ast.Import / ast.ImportFrom for imports)
    scope: Scope
    branch: tuple[Branch, ...]
    qualname: str | None = None
    # imports only: the module as written (absolute after resolving relative imports),
    # the imported object (``from m import obj``), the ``as`` name, the relative level.
    module: str | None = None
    imported: str | None = None
    asname: str | None = None
    level: int = 0
    references: list["Reference"] = field(default_factory=list)
    #: set for a parent of a dotted root (``import torch`` with root ``torch.distributed``):
    #: the attribute paths a use must continue with to be tracked (``("distributed",)``)
    partial: tuple[str, ...] = ()

    @property
    def position(self) -> tuple[int, int]:
        return (getattr(self.node, "lineno", self.stmt.lineno), getattr(self.node, "col_offset", self.stmt.col_offset))

    @property
    def is_import(self) -> bool:
        return self.kind == "import"

    @property
    def is_tracked(self) -> bool:
        return self.qualname is not None


@dataclass(eq=False)
class Reference:
    """A use of a tracked name: the longest ``Name``/``Attribute`` chain rooted at a name that
    resolves to a tracked binding, e.g. ``tp.get_data_parallel_rank`` in
    ``tp.get_data_parallel_rank()`` with ``qualname`` "megatron.core.tensor_parallel.get_data_parallel_rank".
    """

    node: ast.expr  # outermost Name/Attribute of the chain
    root: ast.Name  # the Name the chain starts with
    qualname: str
    binding: Binding  # the tracked binding the root resolved to (most recent candidate)
    candidates: tuple[Binding, ...]  # every binding that may reach this use (tracked or not)
    scope: Scope
    stmt: ast.stmt
    branch: tuple[Branch, ...]
    parent: ast.AST | None  # parent of ``node``
    ctx: str  # "load" | "store" | "del" (``tp.x = 1`` stores an attribute)

    @property
    def call(self) -> ast.Call | None:
        """The call when ``node`` is the called function (``node(...)``)."""
        p = self.parent
        return p if isinstance(p, ast.Call) and p.func is self.node else None

    @property
    def ambiguous(self) -> bool:
        """True when some binding that may reach this use is not the tracked one (for
        example ``try: import megatron.core as mc`` / ``except ImportError: mc = None``)."""
        return any(b.qualname is None for b in self.candidates) or len({b.qualname for b in self.candidates}) > 1

    @property
    def module(self) -> str:
        """``qualname`` without its last component."""
        return self.qualname.rpartition(".")[0]

    @property
    def attr(self) -> str:
        """Last component of ``qualname``."""
        return self.qualname.rpartition(".")[2]


class _Stmt:
    """A statement (or an ``except``/``case`` clause) with where it runs; ``first``..``last``
    are the lines whose mention of a candidate name makes it worth visiting."""

    __slots__ = ("stmt", "scope", "branch", "first", "last", "header", "handler", "case")

    def __init__(self, stmt: ast.stmt, scope: Scope, branch: tuple[Branch, ...], first: int, last: int,
                 header: bool) -> None:
        self.stmt = stmt
        self.scope = scope
        self.branch = branch
        self.first = first
        self.last = last
        self.header = header
        self.handler = None
        self.case = None


class _Block:
    """A statement list (a body, ``else``, handler or ``finally`` block) and where its statements
    run: the builder records one per block instead of one object per statement (most statements
    never mention a tracked name, and a per-statement object was a third of the model's time)."""

    __slots__ = ("body", "scope", "branch", "parent")

    def __init__(self, body: list[ast.stmt], scope: Scope, branch: tuple[Branch, ...], parent: ast.AST) -> None:
        self.body = body
        self.scope = scope
        self.branch = branch
        self.parent = parent


class SemanticModel:
    """Resolved tracked names of one parsed file. Build with :func:`build_model`.

    Attributes rules read:
      ``tree``, ``source``, ``filename``, ``module`` (dotted name or None);
      ``imports``: every import binding (tracked or not), in source order;
      ``references``: every use of a tracked name, in source order;
      ``star_imports``: ``from m import *`` statements (ast.ImportFrom).
    """

    def __init__(self, tree: ast.Module, source: str, filename: str = "<unknown>", module: str | None = None,
                 is_package: bool = False, roots: Iterable[str] = DEFAULT_ROOTS):
        self.tree = tree
        self.source = source
        self.filename = filename
        self.module = module
        self.is_package = is_package
        self.roots = tuple(roots)
        self.module_scope = Scope("module", tree, None)
        self.imports: list[Binding] = []
        self.references: list[Reference] = []
        self.star_imports: list[ast.ImportFrom] = []
        #: every statement of the file, nested ones included (filled by the builder's first
        #: pass, which visits them all anyway; rules iterate this instead of re-walking the tree)
        self.statements: list[ast.stmt] = []
        #: every non-empty statement list, in the builder's order; per-statement facts (scope,
        #: branch, parent) are derived from it on demand (``_block_of``)
        self._blocks: list[_Block] = []
        self._where: dict[int, _Block] | None = None  # id(stmt) -> its block, built when asked
        #: scope and branch of the statements the builder handled itself (imports: their block;
        #: hot statements)
        self._stmt_info: dict[int, _Stmt | _Block] = {}
        self._parents: dict[int, ast.AST] = {}
        #: statements of walked nodes that have no parent entry (comprehension targets); the
        #: statement of any other walked node is found through ``_parents``
        self._node_stmt: dict[int, ast.stmt] = {}
        self._scope_of_def: dict[int, Scope] = {}
        self._line_starts: list[int] | None = None
        self._guards: dict[tuple[int, str], Guard | None] = {}  # per branch: computed once
        #: Results several rules share for this file (e.g. MC102-MC104's symbol problems). Kept on
        #: the model, not in module globals: a global holding the last model would keep each file's
        #: objects reachable from old objects and defeat the young-generation collection (runner).
        self.memo: dict = {}

    def dispose(self) -> None:
        """Break the model's reference cycles (scope <-> binding <-> reference) once the rules
        are done, so the file's objects are freed by reference counting right away instead of
        waiting for (and costing) a cyclic garbage collection: 1.0 s of the 14.8 s single-process
        cold run on the benchmark corpus went to collecting them."""
        for scope in (self.module_scope, *self._scope_of_def.values()):
            for bindings in scope.bindings.values():
                for b in bindings:
                    b.references = []
            scope.bindings = {}
        self.references = []
        self.imports = []
        self.statements = []
        self._scope_of_def = {}
        self.memo = {}

    # ------------------------------------------------------------------ queries for rules
    def is_tracked(self, qualname: str | None) -> bool:
        return bool(qualname) and any(qualname == r or qualname.startswith(r + ".") for r in self.roots)

    def root_suffixes(self, qualname: str) -> list[str]:
        """For a parent of a dotted root (``torch`` for root ``torch.distributed``), the rest of
        each such root (``["distributed"]``): only uses continuing with it are tracked."""
        return [r[len(qualname) + 1:] for r in self.roots if r.startswith(qualname + ".")]

    @property
    def tracked_imports(self) -> list[Binding]:
        return [b for b in self.imports if b.qualname is not None]

    def references_to(self, prefix: str) -> list[Reference]:
        """References whose qualname is ``prefix`` or starts with ``prefix + '.'``."""
        dot = prefix + "."
        return [r for r in self.references if r.qualname == prefix or r.qualname.startswith(dot)]

    def qualname_of(self, expr: ast.AST) -> str | None:
        """Qualified name of a ``Name``/``Attribute`` chain whose root is a tracked name, e.g. the
        ``tp.layers`` inside ``tp.layers.ColumnParallelLinear``; None otherwise."""
        parts: list[str] = []
        node = expr
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        for ref in self._refs_by_root.get(id(node), ()):
            base = ref.binding.qualname
            return canonical(".".join([base, *reversed(parts)])) if base else None
        return None

    @cached_property
    def _refs_by_root(self) -> dict[int, list[Reference]]:
        out: dict[int, list[Reference]] = {}
        for r in self.references:
            out.setdefault(id(r.root), []).append(r)
        return out

    def parent(self, node: ast.AST) -> ast.AST | None:
        """Parent of an expression inside a visited (hot) statement, or of a statement."""
        p = self._parents.get(id(node))
        if p is None and isinstance(node, ast.stmt):
            blk = self._block_of(node)
            return blk.parent if blk is not None else None
        return p

    def statement(self, node: ast.AST) -> ast.stmt | None:
        """The statement holding ``node`` (itself when it is a statement)."""
        if isinstance(node, ast.stmt):
            return node
        parents = self._parents
        p = parents.get(id(node))
        if p is None:
            return self._node_stmt.get(id(node))
        if isinstance(node, ast.excepthandler):
            return None  # its clause is not a node the walk visited
        while not isinstance(p, ast.stmt):
            p = parents.get(id(p))
            if p is None:
                return None
        return p

    def scope_of(self, node: ast.AST) -> Scope:
        """Scope in which ``node`` (a statement, or an expression in a visited statement) runs."""
        stmt = self.statement(node)
        info = self._info(stmt) if stmt is not None else None
        return info.scope if info else self.module_scope

    def branch_of(self, node: ast.AST) -> tuple[Branch, ...]:
        stmt = self.statement(node)
        info = self._info(stmt) if stmt is not None else None
        return info.branch if info else ()

    def enclosing_function(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        for s in self.scope_of(node).chain():
            if s.kind == "function":
                return s.node  # type: ignore[return-value]
        return None

    def enclosing_class(self, node: ast.AST) -> ast.ClassDef | None:
        for s in self.scope_of(node).chain():
            if s.kind == "class":
                return s.node  # type: ignore[return-value]
        return None

    def guards_of(self, node: ast.AST) -> tuple[Guard, ...]:
        """Guards around ``node`` within its function (or module/class body), innermost last."""
        return tuple(g for g in (self._guard(b) for b in self.branch_of(node)) if g is not None)

    def is_guarded(self, node: ast.AST) -> bool:
        """Inside an import guard (``try ... except ImportError/ModuleNotFoundError/
        AttributeError``), under ``if hasattr(...)``, or under a version comparison."""
        return any(g.is_import_guard or g.hasattr or g.version for g in self.guards_of(node))

    def bindings_visible(self, name: str, node: ast.AST) -> list[Binding]:
        """Bindings of ``name`` that may be visible at ``node`` (only names the model tracked:
        candidate names, plus names bound by any import)."""
        return list(self._resolve(name, self.scope_of(node), self._pos(node), self.branch_of(node)))

    def local_name_for(self, qualname: str, node: ast.AST) -> str | None:
        """Text that refers to module/object ``qualname`` at ``node`` through an existing
        import, e.g. "mpu" after ``from megatron.core import mpu`` for
        "megatron.core.parallel_state"; None when no unambiguous tracked binding reaches it."""
        qualname = canonical(qualname)
        best: str | None = None
        for b in self.imports:
            if b.qualname is None:
                continue
            if b.qualname == qualname:
                text = b.name
            elif qualname.startswith(b.qualname + ".") and b.asname is None and b.imported is None:
                # ``import megatron.core.parallel_state`` binds ``megatron``: spell it out
                # only when that submodule itself was imported.
                if b.module is None or not (b.module == qualname or b.module.startswith(qualname + ".")):
                    continue
                text = qualname
            else:
                continue
            visible = self.bindings_visible(b.name, node)
            if visible and all(v.qualname == b.qualname for v in visible):
                if best is None or len(text) < len(best):
                    best = text
        return best

    def is_bound(self, name: str) -> bool:
        """Whether ``name`` is bound anywhere the model looked (imports, or rebinding of a
        candidate name). A conservative check for fixes that introduce a new name."""
        if any(b.name == name for b in self.imports):
            return True
        return re.search(r"\b%s\b" % re.escape(name), self.source) is not None

    # ------------------------------------------------------------------ positions
    @property
    def line_starts(self) -> list[int]:
        """0-based character offset of each line start (line 1 at index 0)."""
        if self._line_starts is None:
            starts = [0]
            for m in re.finditer(r"\r\n|\r|\n", self.source):
                starts.append(m.end())
            self._line_starts = starts
        return self._line_starts

    def lines_text(self, first: int, last: int) -> str:
        """The text of lines ``first``..``last`` (1-based, inclusive): for cheap textual
        pre-checks before walking a subtree."""
        starts = self.line_starts
        end = starts[last] if last < len(starts) else len(self.source)
        return self.source[starts[first - 1]:end]

    def char_col(self, lineno: int, col_bytes: int) -> int:
        """0-based character column of an ast (UTF-8 byte) column on line ``lineno``."""
        starts = self.line_starts
        start = starts[lineno - 1]
        end = starts[lineno] if lineno < len(starts) else len(self.source)
        line = self.source[start:end]
        if line.isascii():
            return col_bytes
        return len(line.encode("utf-8")[:col_bytes].decode("utf-8", errors="ignore"))

    def location(self, node: ast.AST) -> tuple[Location, Location]:
        """1-based (start, end) character locations of ``node``."""
        start = Location(node.lineno, self.char_col(node.lineno, node.col_offset) + 1)
        end_line = node.end_lineno or node.lineno
        end_col = node.end_col_offset if node.end_col_offset is not None else node.col_offset
        end = Location(end_line, self.char_col(end_line, end_col) + 1)
        return start, end

    def offset(self, loc: Location) -> int:
        """0-based character offset in ``source`` of a 1-based location."""
        return self.line_starts[loc.row - 1] + loc.column - 1

    def segment(self, node: ast.AST) -> str:
        start, end = self.location(node)
        return self.source[self.offset(start): self.offset(end)]

    def line_text(self, row: int) -> str:
        starts = self.line_starts
        end = starts[row] if row < len(starts) else len(self.source)
        return self.source[starts[row - 1]:end].rstrip("\r\n")

    # ------------------------------------------------------------------ internals
    @property
    def _stmts(self) -> list[_Stmt | _Block]:
        """The per-statement records the builder made (imports, hot statements): empty when it
        skipped the file (tests check that a file without a tracked name costs nothing)."""
        return list(self._stmt_info.values())

    def _info(self, stmt: ast.AST) -> "_Stmt | _Block | None":
        """Where ``stmt`` runs (``.scope``, ``.branch``): known for imports and hot statements,
        else from its block."""
        info = self._stmt_info.get(id(stmt))
        return info if info is not None else self._block_of(stmt)

    def _block_of(self, stmt: ast.AST) -> "_Block | None":
        """The block holding ``stmt``. The map from statements to blocks is built on the first
        question (one dict entry per statement: most files never need it)."""
        where = self._where
        if where is None:
            where = self._where = {}
            for blk in self._blocks:
                where.update(dict.fromkeys(map(id, blk.body), blk))
        return where.get(id(stmt))

    def _pos(self, node: ast.AST) -> tuple[int, int]:
        return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))

    def _guard(self, b: Branch) -> Guard | None:
        key = (id(b.node), b.part)
        try:
            return self._guards[key]
        except KeyError:
            got = self._guards[key] = self._make_guard(b)
            return got

    def _make_guard(self, b: Branch) -> Guard | None:
        node = b.node
        if isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            catches: set[str] = set()
            for h in node.handlers:
                catches |= _exception_names(h.type)
            return Guard("try", node, b.part, catches=frozenset(catches))
        if isinstance(node, (ast.If, ast.While)):
            has, ver = _classify_test(node.test)
            return Guard("if", node, b.part, hasattr=has, version=ver)
        return None

    def _resolve(self, name: str, scope: Scope, pos: tuple[int, int], branch: tuple[Branch, ...]) -> list[Binding]:
        """Bindings of ``name`` that may reach a use at ``pos`` in ``scope``."""
        first = True
        s: Scope | None = scope
        while s is not None:
            if name in s.globals and s.kind != "module":
                s = self.module_scope
                first = False
                continue
            if s.kind == "class" and not first:
                s = s.parent
                continue
            bound = s.bindings.get(name)
            if bound:
                if first:
                    before = [b for b in bound if b.position < pos]
                    if not before:
                        return []
                    return _reaching(before, branch)
                return _reaching(bound, ())
            if name in s.nonlocals:
                first = False
                s = s.parent
                continue
            first = False
            s = s.parent
        return []


def _reaching(bindings: list[Binding], branch: tuple[Branch, ...]) -> list[Binding]:
    """From bindings in source order, those that may still hold at a point on ``branch``: walk
    back from the latest; one whose branch path is a prefix of ``branch`` always ran and hides
    the earlier ones."""
    out: list[Binding] = []
    for b in reversed(bindings):
        out.append(b)
        bb = b.branch
        if not bb or len(bb) <= len(branch) and all(
                x.node is y.node and x.part == y.part for x, y in zip(bb, branch)):
            break
    return out


def _exception_names(node: ast.expr | None) -> set[str]:
    if node is None:
        return {""}
    if isinstance(node, ast.Tuple):
        out: set[str] = set()
        for e in node.elts:
            out |= _exception_names(e)
        return out
    if isinstance(node, ast.BoolOp):
        # ``except ImportError or ModuleNotFoundError:`` catches only the first at run time, but
        # its author meant a guard for every name in it (MC502 reports the bug itself)
        out = set()
        for e in node.values:
            out |= _exception_names(e)
        return out
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    return set()


def _classify_test(test: ast.expr) -> tuple[bool, bool]:
    has = ver = False
    for n in ast.walk(test):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "hasattr":
            has = True
        elif isinstance(n, ast.Name) and "version" in n.id.lower():
            ver = True
        elif isinstance(n, ast.Attribute) and "version" in n.attr.lower():
            ver = True
    return has, ver


# ---------------------------------------------------------------------- building
@lru_cache(maxsize=4096)
def _name_regex(name: str, suffix: str) -> re.Pattern:
    body = re.escape(name) + "".join(r"\s*\.\s*" + re.escape(p) for p in suffix.split(".") if p)
    return re.compile(body + r"\b")


_AST = ast.AST

_NO_NAMES: frozenset[str] = frozenset()
#: ``_CHILD_FIELDS`` value of the node types that bind names of their own
_SCOPED: tuple[str, ...] = ("<scoped>",)
#: fields that never hold a node that can hold a name: identifiers, flags, operators, ``ctx``
_LEAF_FIELDS = frozenset({"ctx", "id", "attr", "arg", "name", "kind", "type_comment", "conversion", "is_async",
                          "simple", "level", "module", "op", "ops", "kwd_attrs", "tag"})
#: node type -> the fields the expression walk follows (filled on first sight of a type)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {
    t: _SCOPED for t in (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp, ast.Lambda)}


def _child_fields(t: type) -> tuple[str, ...]:
    """The fields of node type ``t`` that may hold child nodes worth walking (a constant's
    ``value`` is its Python value)."""
    leaf = _LEAF_FIELDS | {"value"} if t in (ast.Constant, ast.MatchSingleton) else _LEAF_FIELDS
    return tuple(f for f in t._fields if f not in leaf)
# statement kinds the builder's first pass acts on; every other statement is a leaf it only lists
_IMPORT, _DEF, _DECL, _LOOP_OR_IF, _WITH, _TRY, _MATCH = range(1, 8)
_KIND: dict[type, int] = {
    ast.Import: _IMPORT, ast.ImportFrom: _IMPORT,
    ast.FunctionDef: _DEF, ast.AsyncFunctionDef: _DEF, ast.ClassDef: _DEF,
    ast.Global: _DECL, ast.Nonlocal: _DECL,
    ast.If: _LOOP_OR_IF, ast.While: _LOOP_OR_IF, ast.For: _LOOP_OR_IF, ast.AsyncFor: _LOOP_OR_IF,
    ast.With: _WITH, ast.AsyncWith: _WITH,
    ast.Try: _TRY, ast.Match: _MATCH,
}
if hasattr(ast, "TryStar"):  # Python 3.11+
    _KIND[ast.TryStar] = _TRY  # type: ignore[attr-defined]


_LINENO = operator.attrgetter("lineno")
_POSITION = operator.attrgetter("position")
_DEF_TYPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})


def _branch(node: ast.stmt, part: str, _new=object.__new__) -> Branch:
    """``Branch(node, part)`` without the frozen dataclass's ``object.__setattr__`` per field
    (pass 1 makes one per ``if``/loop/``try``/``match`` block: half its cost)."""
    b = _new(Branch)
    d = b.__dict__
    d["node"] = node
    d["part"] = part
    return b


def _first_line(stmt: ast.stmt) -> int:
    """First line of ``stmt``'s text (a decorator's line for a decorated definition)."""
    decorators = getattr(stmt, "decorator_list", None)
    if decorators:
        return min(min(d.lineno for d in decorators), stmt.lineno)
    return stmt.lineno


def _any_hot(hot: list[int], first: int, last: int) -> bool:
    """Whether a sorted list of hot lines has one in ``first``..``last``."""
    i = bisect.bisect_left(hot, first)
    return i < len(hot) and hot[i] <= last


def build_model(tree: ast.Module, source: str, filename: str = "<unknown>", module: str | None = None,
                is_package: bool = False, roots: Iterable[str] = DEFAULT_ROOTS) -> SemanticModel:
    """Build the semantic model of a parsed file (see the module docstring for the passes)."""
    model = SemanticModel(tree, source, filename, module, is_package, roots)
    roots = model.roots
    # Cheap exit: no root mentioned and no relative import that could reach one.
    if not any(r.partition(".")[0] in source for r in roots) and not (
        module and any(module == r or module.startswith(r + ".") for r in roots) and "from ." in source
    ):
        return model
    _Builder(model).run()
    return model


#: roots -> {imported dotted name -> ``_Builder._tracking`` answer}
_TRACKING: dict[tuple[str, ...], dict[str, tuple[str | None, tuple[str, ...]]]] = {}


class _Builder:
    def __init__(self, model: SemanticModel):
        self.m = model
        cache = _TRACKING.get(model.roots)
        if cache is None:
            if len(_TRACKING) > 32:
                _TRACKING.clear()
            cache = _TRACKING[model.roots] = {}
        self._track_cache = cache

    def run(self) -> None:
        m = self.m
        self._statements()
        m.imports.sort(key=_POSITION)
        candidates = self._imports()
        if not candidates:
            return
        hot = self._hot_lines(candidates)
        if not hot:
            return
        self.candidates = candidates
        pending_uses: list[tuple[ast.Name, _Stmt, str]] = []
        for info in self._hot_statements(hot):
            self._visit_statement(info, pending_uses)
        # resolve after all bindings are known (a function body may use a later global)
        for scope_bindings in self._all_scopes():
            for lst in scope_bindings.values():
                lst.sort(key=_POSITION)
        for name_node, info, ctx in pending_uses:
            self._resolve_use(name_node, info, ctx)
        m.references.sort(key=lambda r: (r.node.lineno, r.node.col_offset))

    # -- pass 1: statements -------------------------------------------------------------
    def _statements(self) -> None:
        """Every statement list once: record its block, the scopes, ``global``/``nonlocal``
        names and the imports. Leaf statements cost one dict lookup each."""
        m = self.m
        kinds = _KIND
        blocks = m._blocks
        statements = m.statements
        stack: list[_Block] = [_Block(m.tree.body, m.module_scope, (), m.tree)] if m.tree.body else []
        while stack:
            blk = stack.pop()
            blocks.append(blk)
            body, scope, branch = blk.body, blk.scope, blk.branch
            statements.extend(body)
            for stmt in body:
                k = kinds.get(type(stmt))
                if k is None:
                    continue
                if k == _IMPORT:
                    m._stmt_info[id(stmt)] = blk  # its scope and branch
                    self._record_import(stmt, blk)  # type: ignore[arg-type]
                elif k == _DEF:
                    inner = Scope("class" if type(stmt) is ast.ClassDef else "function", stmt, scope)
                    m._scope_of_def[id(stmt)] = inner
                    stack.append(_Block(stmt.body, inner, (), stmt))  # type: ignore[attr-defined]
                elif k == _LOOP_OR_IF:
                    stack.append(_Block(stmt.body, scope, branch + (_branch(stmt, "body"),), stmt))  # type: ignore[attr-defined]
                    if stmt.orelse:  # type: ignore[attr-defined]
                        stack.append(_Block(stmt.orelse, scope, branch + (_branch(stmt, "else"),), stmt))  # type: ignore[attr-defined]
                elif k == _WITH:
                    stack.append(_Block(stmt.body, scope, branch, stmt))  # type: ignore[attr-defined]
                elif k == _DECL:
                    (scope.globals if type(stmt) is ast.Global else scope.nonlocals).update(stmt.names)  # type: ignore[attr-defined]
                elif k == _TRY:
                    stack.append(_Block(stmt.body, scope, branch + (_branch(stmt, "body"),), stmt))  # type: ignore[attr-defined]
                    for i, h in enumerate(stmt.handlers):  # type: ignore[attr-defined]
                        m._parents[id(h)] = stmt
                        stack.append(_Block(h.body, scope, branch + (_branch(stmt, f"handler{i}"),), stmt))
                    if stmt.orelse:  # type: ignore[attr-defined]
                        stack.append(_Block(stmt.orelse, scope, branch + (_branch(stmt, "else"),), stmt))  # type: ignore[attr-defined]
                    if stmt.finalbody:  # type: ignore[attr-defined]
                        stack.append(_Block(stmt.finalbody, scope, branch + (_branch(stmt, "finally"),), stmt))  # type: ignore[attr-defined]
                else:  # _MATCH
                    for i, c in enumerate(stmt.cases):  # type: ignore[attr-defined]
                        stack.append(_Block(c.body, scope, branch + (_branch(stmt, f"case{i}"),), stmt))

    # -- pass 2: which statements mention a candidate name -------------------------------
    def _hot_statements(self, hot: list[int]) -> list[_Stmt]:
        """The statements (compound ones: their header; ``except``/``case`` clauses) with a hot
        line in their lines, in block order (the order of pass 1). A block is looked at only
        when the statement holding it has a hot line (blocks come after their parent's block);
        in it each hot line finds its statements by bisection (statements of a block follow
        each other, so their first and last lines both increase)."""
        m = self.m
        out: list[_Stmt] = []
        nhot = len(hot)
        bisect_left, bisect_right = bisect.bisect_left, bisect.bisect_right
        defs, kinds, info_of = _DEF_TYPES, _KIND, m._stmt_info
        hot_parents = {id(m.tree)}
        for blk in m._blocks:
            if id(blk.parent) not in hot_parents:
                continue
            body = blk.body
            b0 = body[0]
            i = bisect_left(hot, _first_line(b0) if type(b0) in defs else b0.lineno)
            if i == nhot:
                continue
            end = body[-1].end_lineno or body[-1].lineno
            if hot[i] > end:
                continue
            if len(body) == 1:
                chosen: Iterable[int] = (0,)
            else:
                j = bisect_right(hot, end, i)
                n = len(body)
                found: set[int] = set()
                while i < j:
                    h = hot[i]
                    k = bisect_right(body, h, key=_LINENO)
                    top = -1
                    # a decorated definition starts before its ``def`` line
                    if k < n and type(body[k]) in defs and _first_line(body[k]) <= h:
                        found.add(k)
                        top = k
                    k -= 1
                    while k >= 0 and (body[k].end_lineno or body[k].lineno) >= h:
                        found.add(k)
                        top = max(top, k)
                        k -= 1
                    if top < 0:  # a line between statements (a comment)
                        i += 1
                        continue
                    # the hot lines before the last line of that statement are all in it; its
                    # last line may start the next statement too
                    i = bisect_left(hot, body[top].end_lineno or body[top].lineno, i + 1, j)
                chosen = sorted(found)
            scope, branch = blk.scope, blk.branch
            for k in chosen:
                stmt = body[k]
                if type(stmt) not in kinds:  # a leaf: its lines hold a hot line
                    info = _Stmt(stmt, scope, branch, stmt.lineno, stmt.end_lineno or stmt.lineno, False)
                    info_of[id(stmt)] = info
                    out.append(info)
                else:
                    hot_parents.add(id(stmt))
                    self._hot_parts(stmt, blk, hot, out)
        return out

    def _hot_parts(self, stmt: ast.stmt, blk: _Block, hot: list[int], out: list[_Stmt]) -> None:
        """Append the parts of compound statement ``stmt`` worth visiting: its header, its
        ``except`` or ``case`` clauses; imports were handled in pass 1 and ``global``/``nonlocal``
        hold no expressions."""
        m = self.m
        scope, branch = blk.scope, blk.branch
        k = _KIND[type(stmt)]
        if k == _IMPORT or k == _DECL:
            return
        if k == _DEF:
            first, last = _first_line(stmt), stmt.body[0].lineno  # type: ignore[attr-defined]
        elif k == _LOOP_OR_IF or k == _WITH:
            first, last = stmt.lineno, stmt.body[0].lineno  # type: ignore[attr-defined]
        elif k == _TRY:
            m._stmt_info[id(stmt)] = _Stmt(stmt, scope, branch, stmt.lineno, stmt.lineno, True)
            for i, h in enumerate(stmt.handlers):  # type: ignore[attr-defined]
                if _any_hot(hot, h.lineno, h.body[0].lineno):
                    hinfo = _Stmt(stmt, scope, branch + (Branch(stmt, f"handler{i}"),), h.lineno, h.body[0].lineno,
                                  True)
                    hinfo.handler = h  # type: ignore[attr-defined]
                    out.append(hinfo)
            return
        else:  # _MATCH
            cases = stmt.cases  # type: ignore[attr-defined]
            info = _Stmt(stmt, scope, branch, stmt.lineno, cases[0].pattern.lineno if cases else stmt.lineno, True)
            m._stmt_info[id(stmt)] = info
            if _any_hot(hot, info.first, info.last):
                out.append(info)
            for i, c in enumerate(cases):
                if _any_hot(hot, c.pattern.lineno, c.body[0].lineno):
                    cinfo = _Stmt(stmt, scope, branch + (Branch(stmt, f"case{i}"),), c.pattern.lineno,
                                  c.body[0].lineno, True)
                    cinfo.case = c  # type: ignore[attr-defined]
                    out.append(cinfo)
            return
        if _any_hot(hot, first, last):
            info = _Stmt(stmt, scope, branch, first, last, True)
            m._stmt_info[id(stmt)] = info
            out.append(info)

    def _record_import(self, stmt: ast.Import | ast.ImportFrom, info: _Block) -> None:
        m = self.m
        if type(stmt) is ast.Import:
            for a in stmt.names:
                if a.asname:
                    name, qual = a.asname, a.name
                else:
                    name = qual = a.name.partition(".")[0]
                qualname, partial = self._tracking(qual)
                b = Binding(name, "import", a, stmt, info.scope, info.branch, qualname, module=a.name,
                            asname=a.asname, partial=partial)
                self._bind(b)
                m.imports.append(b)
            return
        base = resolve_relative(stmt.module, stmt.level, m.module, m.is_package)
        for a in stmt.names:
            if a.name == "*":
                m.star_imports.append(stmt)
                continue
            qualname, partial = self._tracking(f"{base}.{a.name}") if base is not None else (None, ())
            b = Binding(a.asname or a.name, "import", a, stmt, info.scope, info.branch, qualname, module=base,
                        imported=a.name, asname=a.asname, level=stmt.level, partial=partial)
            self._bind(b)
            m.imports.append(b)

    def _tracking(self, qual: str) -> tuple[str | None, tuple[str, ...]]:
        """(``qualname``, ``partial``) of an import binding of ``qual``: its canonical name when
        it is under a root, ``qual`` and the rest of each root when it is a root's parent
        (``torch`` for ``torch.distributed``), else (None, ()). Cached per roots across files:
        the same imports recur in every file of a project."""
        cache = self._track_cache
        hit = cache.get(qual)
        if hit is None:
            m = self.m
            if m.is_tracked(qual):
                hit = (canonical(qual), ())
            else:
                suffixes = m.root_suffixes(qual)
                hit = (qual, tuple(suffixes)) if suffixes else (None, ())
            if len(cache) > 100_000:  # stay bounded on endless distinct imports
                cache.clear()
            cache[qual] = hit
        return hit

    def _bind(self, b: Binding) -> None:
        scope = b.scope
        if b.name in scope.globals and scope.kind != "module":
            # bound in the module by a function body: only when that function runs, so it
            # never hides the module's other bindings (a branch no use can be on)
            b.branch = (Branch(scope.node, "global"),)  # type: ignore[arg-type]
            scope = self.m.module_scope
            b.scope = scope
        scope.bindings.setdefault(b.name, []).append(b)

    def _imports(self) -> set[str]:
        full: set[str] = set()
        partial: dict[str, set[str]] = {}
        for b in self.m.imports:
            if b.qualname is None:
                continue
            if b.partial:
                partial.setdefault(b.name, set()).update(b.partial)
            else:
                full.add(b.name)
        self._partial = {k: v for k, v in partial.items() if k not in full}
        return full | set(partial)

    def _hot_lines(self, names: set[str]) -> list[int]:
        """Sorted line numbers mentioning a candidate name (one cached regex per name, so
        compiling is paid once per distinct name, not per file)."""
        src = self.m.source
        offsets: list[int] = []
        for name in names:
            suffixes = self._partial.get(name)
            if suffixes is None:
                # a plain name: ``str.find`` and word-boundary checks by hand (compiling a regex
                # per distinct name cost ~0.4 s on the benchmark corpus, ~3,900 names)
                n = len(name)
                o = src.find(name)
                while o != -1:
                    after = src[o + n:o + n + 1]
                    if (o == 0 or not (src[o - 1].isalnum() or src[o - 1] == "_")) and not (
                            after.isalnum() or after == "_"):
                        offsets.append(o)
                    o = src.find(name, o + n)
                continue
            for suffix in suffixes:
                # no leading ``\b`` in the regex: a literal prefix lets ``re`` search fast;
                # the word boundary before the name is checked here
                for mt in _name_regex(name, suffix).finditer(src):
                    o = mt.start()
                    if o == 0 or not (src[o - 1].isalnum() or src[o - 1] == "_"):
                        offsets.append(o)
        if not offsets:
            return []
        offsets.sort()
        if "\r" in src and src.count("\r") != src.count("\r\n"):  # lone CR line ends: slow path
            starts = self.m.line_starts
            return sorted({bisect.bisect_right(starts, o) for o in offsets})
        lines: list[int] = []
        line, prev = 1, 0
        for o in offsets:
            line += src.count("\n", prev, o)
            prev = o
            if not lines or lines[-1] != line:
                lines.append(line)
        return lines

    def _all_scopes(self) -> Iterator[dict[str, list[Binding]]]:
        yield self.m.module_scope.bindings
        for s in self.m._scope_of_def.values():
            yield s.bindings

    # -- pass 2: hot statements ---------------------------------------------------------
    def _visit_statement(self, info: _Stmt, uses: list) -> None:
        stmt = info.stmt
        if not info.header:  # a leaf statement (imports are never visited): walk all of it
            self._walk_expr(stmt, info, uses, self.m._parents)
            return
        t = type(stmt)
        cands = self.candidates
        exprs: list[ast.AST] = []
        handler = getattr(info, "handler", None)
        case = getattr(info, "case", None)
        if handler is not None:
            if handler.type is not None:
                exprs.append(handler.type)
            if handler.name in cands:
                self._bind(Binding(handler.name, "except", handler, stmt, info.scope, info.branch))
        elif case is not None:
            exprs.append(case.pattern)
            if case.guard is not None:
                exprs.append(case.guard)
        elif t is ast.FunctionDef or t is ast.AsyncFunctionDef:
            exprs.extend(stmt.decorator_list)  # type: ignore[attr-defined]
            args = stmt.args  # type: ignore[attr-defined]
            exprs.extend(d for d in args.defaults)
            exprs.extend(d for d in args.kw_defaults if d is not None)
            inner = self.m._scope_of_def[id(stmt)]
            for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
                if a is None:
                    continue
                if a.annotation is not None:
                    exprs.append(a.annotation)
                if a.arg in cands:
                    inner.bindings.setdefault(a.arg, []).append(
                        Binding(a.arg, "parameter", a, stmt, inner, ()))
            if stmt.returns is not None:  # type: ignore[attr-defined]
                exprs.append(stmt.returns)  # type: ignore[attr-defined]
            if stmt.name in cands:  # type: ignore[attr-defined]
                self._bind(Binding(stmt.name, "definition", stmt, stmt, info.scope, info.branch))  # type: ignore[attr-defined]
        elif t is ast.ClassDef:
            exprs.extend(stmt.decorator_list)  # type: ignore[attr-defined]
            exprs.extend(stmt.bases)  # type: ignore[attr-defined]
            exprs.extend(k.value for k in stmt.keywords)  # type: ignore[attr-defined]
            if stmt.name in cands:  # type: ignore[attr-defined]
                self._bind(Binding(stmt.name, "definition", stmt, stmt, info.scope, info.branch))  # type: ignore[attr-defined]
        elif t is ast.If or t is ast.While:
            exprs.append(stmt.test)  # type: ignore[attr-defined]
        elif t is ast.For or t is ast.AsyncFor:
            exprs.append(stmt.target)  # type: ignore[attr-defined]
            exprs.append(stmt.iter)  # type: ignore[attr-defined]
        elif t is ast.With or t is ast.AsyncWith:
            for item in stmt.items:  # type: ignore[attr-defined]
                exprs.append(item.context_expr)
                if item.optional_vars is not None:
                    exprs.append(item.optional_vars)
        elif t is ast.Match:
            exprs.append(stmt.subject)  # type: ignore[attr-defined]
        else:
            exprs.append(stmt)
        parents = self.m._parents
        for e in exprs:
            if e is not stmt:
                parents.setdefault(id(e), stmt)
            self._walk_expr(e, info, uses, parents)

    def _walk_expr(self, root: ast.AST, info: _Stmt, uses: list, parents: dict) -> None:
        """Walk ``root`` (an expression, or a whole leaf statement): record each node's parent
        (``SemanticModel.statement`` follows them up to the statement), the uses of candidate
        names, and rebindings of them. A comprehension or lambda is walked by ``_walk_scoped``
        right when it is reached (the same order as pushing its parts here)."""
        cands = self.candidates
        stmt = info.stmt
        fields_of = _CHILD_FIELDS
        name_type, attribute_type, load_type = ast.Name, ast.Attribute, ast.Load
        stack: list = [root]
        pop, push = stack.pop, stack.append
        while stack:
            node = pop()
            t = type(node)
            if t is name_type:
                nid = node.id
                if nid in cands:
                    c = node.ctx
                    if type(c) is load_type:
                        uses.append((node, info, "load"))
                    else:
                        kind = "delete" if type(c) is ast.Del else "assignment"
                        self._bind(Binding(nid, kind, node, stmt, info.scope, info.branch))
                continue
            if t is attribute_type:  # the most common inner node: one child
                child = node.value
                parents[id(child)] = node
                push(child)
                continue
            fields = fields_of.get(t)
            if fields is None:
                fields = fields_of[t] = _child_fields(t)
            if fields is _SCOPED:
                self._walk_scoped(node, info, uses, parents)
                continue
            # ast.iter_child_nodes inlined, over the fields of this node type that can hold
            # nodes (names, operators and constants hold no names)
            for fname in fields:
                child = getattr(node, fname, None)
                if child is None:
                    continue
                if type(child) is list:
                    for c in child:
                        if isinstance(c, _AST):
                            parents[id(c)] = node
                            push(c)
                elif isinstance(child, _AST):
                    parents[id(child)] = node
                    push(child)

    def _walk_scoped(self, root: ast.AST, info: _Stmt, uses: list, parents: dict) -> None:
        """``_walk_expr`` of a comprehension or lambda: the same, and names bound by it (and
        by the ones nested in it) shadow candidate names inside it."""
        shadow = _NO_NAMES
        cands = self.candidates
        stmt = info.stmt
        fields_of = _CHILD_FIELDS
        name_type, attribute_type, load_type = ast.Name, ast.Attribute, ast.Load
        # a node whose names are shadowed like the root's is pushed bare; inside a comprehension
        # or lambda it is pushed with its own shadow set, as ``(node, shadow)``
        stack: list = [root]
        pop, push = stack.pop, stack.append
        while stack:
            node = pop()
            t = type(node)
            if t is tuple:
                node, sh = node
                t = type(node)
            else:
                sh = shadow
            if t is name_type:
                nid = node.id
                if nid in cands and nid not in sh:
                    c = node.ctx
                    if type(c) is load_type:
                        uses.append((node, info, "load"))
                    else:
                        kind = "delete" if type(c) is ast.Del else "assignment"
                        self._bind(Binding(nid, kind, node, stmt, info.scope, info.branch))
                continue
            if t is attribute_type:  # the most common inner node: one child
                child = node.value
                parents[id(child)] = node
                push(child if sh is shadow else (child, sh))
                continue
            fields = fields_of.get(t)
            if fields is None:
                fields = fields_of[t] = _child_fields(t)
            if fields is _SCOPED:
                bound = set(sh)
                if t is ast.Lambda:
                    a = node.args  # type: ignore[attr-defined]
                    bound.update(x.arg for x in a.posonlyargs + a.args + a.kwonlyargs)
                    bound.update(x.arg for x in (a.vararg, a.kwarg) if x is not None)
                    for d in list(a.defaults) + [d for d in a.kw_defaults if d is not None]:
                        parents[id(d)] = node
                        push((d, sh))
                    parents[id(node.body)] = node  # type: ignore[attr-defined]
                    push((node.body, frozenset(bound)))  # type: ignore[attr-defined]
                    continue
                for g in node.generators:  # type: ignore[attr-defined]
                    for n in ast.walk(g.target):
                        if isinstance(n, ast.Name):
                            bound.add(n.id)
                inner = frozenset(bound)
                for i, g in enumerate(node.generators):  # type: ignore[attr-defined]
                    parents[id(g.iter)] = node
                    push((g.iter, sh if i == 0 else inner))
                    for cond in g.ifs:
                        parents[id(cond)] = node
                        push((cond, inner))
                    self.m._node_stmt[id(g.target)] = stmt
                for fld in ("elt", "key", "value"):
                    child = getattr(node, fld, None)
                    if child is not None:
                        parents[id(child)] = node
                        push((child, inner))
                continue
            # ast.iter_child_nodes inlined, over the fields of this node type that can hold
            # nodes (names, operators and constants hold no names)
            for fname in fields:
                child = getattr(node, fname, None)
                if child is None:
                    continue
                if type(child) is list:
                    for c in child:
                        if isinstance(c, _AST):
                            parents[id(c)] = node
                            push(c if sh is shadow else (c, sh))
                elif isinstance(child, _AST):
                    parents[id(child)] = node
                    push(child if sh is shadow else (child, sh))

    def _resolve_use(self, name: ast.Name, info: _Stmt, ctx: str) -> None:
        m = self.m
        pos = (name.lineno, name.col_offset)
        candidates = m._resolve(name.id, info.scope, pos, info.branch)
        for binding in candidates:
            if binding.qualname is not None:
                break
        else:
            return
        # extend to the longest attribute chain
        node: ast.expr = name
        parts = [binding.qualname]
        parent = m._parents.get(id(node))
        while isinstance(parent, ast.Attribute) and parent.value is node:
            parts.append(parent.attr)
            node = parent
            parent = m._parents.get(id(node))
        ref_ctx = ctx
        if node is not name:
            c = node.ctx  # type: ignore[attr-defined]
            ref_ctx = "load" if isinstance(c, ast.Load) else ("del" if isinstance(c, ast.Del) else "store")
        qualname = canonical(".".join(parts))
        if binding.partial and not m.is_tracked(qualname):
            return  # ``torch.nn`` when only ``torch.distributed`` is tracked
        ref = Reference(node, name, qualname, binding, tuple(candidates), info.scope, info.stmt,
                        info.branch, parent, ref_ctx)
        m.references.append(ref)
        binding.references.append(ref)

"""Read one module (a libcst tree) into the facts the group-threading plan needs.

Why a separate pass: the plan is a fixpoint over the module's functions (a callee that gains a
parameter makes its preset callers gain it too), so every function is summarised once here and
the transform (``transform.py``) only rewrites what the plan decided. Names are resolved from the
module's own imports (including relative ones when the module's dotted name is known); a name a
function rebinds locally is never taken for the module-level import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from mcore_lint.groups import vocabulary as V
from mcore_lint.groups.walk import walk


# ----------------------------------------------------------------------------- imports


def _dotted(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr.value}"
    return None


def _canonical(qualname: str) -> str:
    for alias in V.PARALLEL_STATE_ALIASES:
        if qualname == alias or qualname.startswith(alias + "."):
            return V.PARALLEL_STATE + qualname[len(alias):]
    return qualname


def _resolve_relative(module_name: str | None, is_package: bool, level: int, rest: str) -> str | None:
    if not level:
        return rest
    if not module_name:
        return None
    parts = module_name.split(".")
    if not is_package:
        parts = parts[:-1]
    if level - 1 > len(parts):
        return None
    parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, rest] if rest else parts) or None


def _top_level_statements(body) -> list[cst.CSTNode]:
    """Module statements, looking into top-level if/try/with blocks (guarded imports)."""
    out: list[cst.CSTNode] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, (cst.If, cst.Try, cst.With)):
            blocks = [stmt.body]
            if isinstance(stmt, cst.If) and stmt.orelse is not None:
                blocks.append(stmt.orelse.body if isinstance(stmt.orelse, cst.Else) else stmt.orelse)
            if isinstance(stmt, cst.Try):
                blocks.extend(h.body for h in stmt.handlers)
                if stmt.orelse is not None:
                    blocks.append(stmt.orelse.body)
            for block in blocks:
                if isinstance(block, cst.If):
                    out.extend(_top_level_statements([block]))
                elif hasattr(block, "body"):
                    out.extend(_top_level_statements(block.body))
    return out


def module_bindings(module: cst.Module, module_name: str | None = None,
                    is_package: bool = False, raw: dict[str, str] | None = None,
                    ) -> tuple[dict[str, str], set[str], set[str]]:
    """(imports: local name -> canonical qualified name, top-level def names, class names).

    ``raw``, when given, is filled with local name -> qualified name as written (before the
    ``mpu`` alias is canonicalised), which import removal needs."""
    imports: dict[str, str] = {}
    raw = {} if raw is None else raw
    defs: set[str] = set()
    classes: set[str] = set()
    for stmt in _top_level_statements(module.body):
        if isinstance(stmt, cst.FunctionDef):
            defs.add(stmt.name.value)
        elif isinstance(stmt, cst.ClassDef):
            classes.add(stmt.name.value)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Import):
                    for alias in small.names:
                        full = _dotted(alias.name) or ""
                        if alias.asname is not None:
                            imports[alias.asname.name.value] = _canonical(full)
                        else:
                            head = full.split(".")[0]
                            imports.setdefault(head, head)
                elif isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                    rest = _dotted(small.module) if small.module is not None else ""
                    base = _resolve_relative(module_name, is_package, len(small.relative), rest or "")
                    if base is None:
                        continue
                    for alias in small.names:
                        name = alias.name.value if isinstance(alias.name, cst.Name) else _dotted(alias.name)
                        local = alias.asname.name.value if alias.asname is not None else name
                        imports[local] = _canonical(f"{base}.{name}")
                        raw[local] = f"{base}.{name}"
                elif isinstance(small, (cst.Assign, cst.AnnAssign)):
                    targets = small.targets if isinstance(small, cst.Assign) else [small]
                    for t in targets:
                        tgt = t.target
                        if isinstance(tgt, cst.Name):
                            defs.add(tgt.value)  # any module-level name
    return imports, defs, classes


# ----------------------------------------------------------------------------- functions


@dataclass
class GetterCall:
    node: cst.Call
    getter: str
    group: str
    kind: str  # rank | size | group
    base: str  # "mpu." / "parallel_state." / "" (bare imported name)
    index: int
    exempt: bool = False  # the value assigned to the group's own variable (a fallback)
    guarded: bool = False  # inside `if <group> is None:`
    stmt: cst.SimpleStatementLine | None = None  # statement when `g = getter()` stands alone
    tested: frozenset = frozenset()  # names tested by enclosing ifs / earlier early returns


@dataclass
class LocalCall:
    node: cst.Call
    callee: str  # qualname in this module
    index: int
    keywords: set[str]
    has_double_star: bool


@dataclass
class FunctionInfo:
    qualname: str
    name: str
    class_name: str | None
    node: cst.FunctionDef
    params: list[str]
    locals_first: dict[str, int]  # local name -> index of its first binding
    getters: list[GetterCall] = field(default_factory=list)
    unconvertible: list[tuple[cst.Call, str]] = field(default_factory=list)
    fallback_groups: set[str] = field(default_factory=set)
    attr_sources: dict[str, str] = field(default_factory=dict)
    calls: list[LocalCall] = field(default_factory=list)
    metadata_var: str | None = None  # returned dict variable named *metadata*
    metadata_returns: list[cst.SimpleStatementLine] = field(default_factory=list)
    metadata_has_group: bool = False
    metadata_dicts: list[cst.Dict] = field(default_factory=list)  # literal metadata= dicts
    content_metadata: list[cst.BaseExpression] = field(default_factory=list)  # content_metadata= values
    string_quote: str = '"'

    @property
    def is_init(self) -> bool:
        return self.name == "__init__"


def _param_names(params: cst.Parameters) -> list[str]:
    names = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
    if isinstance(params.star_arg, cst.Param):
        names.append(params.star_arg.name.value)
    if params.star_kwarg is not None:
        names.append(params.star_kwarg.name.value)
    return names


def _is_none_test(test: cst.BaseExpression) -> str | None:
    """``g is None`` -> "g"."""
    if (isinstance(test, cst.Comparison) and isinstance(test.left, cst.Name)
            and len(test.comparisons) == 1
            and isinstance(test.comparisons[0].operator, cst.Is)
            and isinstance(test.comparisons[0].comparator, cst.Name)
            and test.comparisons[0].comparator.value == "None"):
        return test.left.value
    return None


def _ends_in_exit(body: cst.BaseSuite) -> bool:
    stmts = body.body
    if not stmts:
        return False
    last = stmts[-1]
    smalls = last.body if isinstance(last, cst.SimpleStatementLine) else (
        [last] if isinstance(body, cst.SimpleStatementSuite) else [])
    return any(isinstance(x, (cst.Return, cst.Raise)) for x in smalls)


def _names_in(expr: cst.BaseExpression) -> set[str]:
    """Plain names read by an expression (for ``if`` tests)."""
    names: set[str] = set()

    class _Names(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            names.add(node.value)

        def visit_Attribute(self, node: cst.Attribute) -> None:
            names.add(node.attr.value)  # `self.tp_group is None` tests tp_group too

    walk(expr, _Names())
    return names


def _string_value(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        try:
            return node.evaluated_value if isinstance(node.evaluated_value, str) else None
        except Exception:  # noqa: BLE001 - odd prefixes: not a key we care about
            return None
    return None


class _FunctionScanner(cst.CSTVisitor):
    """Walks one function body (not nested defs/classes) in source order."""

    def __init__(self, info: FunctionInfo, imports: dict[str, str], module_defs: set[str],
                 class_methods: set[str]):
        self.info = info
        self.imports = imports
        self.module_defs = module_defs
        self.class_methods = class_methods
        self.index = 0
        self.depth = 0  # nested def/class depth
        self.none_guards: list[str] = []
        self.tested: list[set[str]] = []  # names read by enclosing if / conditional tests
        self.returned_tested: set[str] = set()  # names tested by earlier `if ...: return`
        self.assign_target: list[tuple[str | None, cst.BaseExpression]] = []
        self.stmt_stack: list[cst.SimpleStatementLine] = []
        self.attr_assigned: set[str] = set()
        self.dict_vars: set[str] = set()
        self.quote_seen = False

    # nested scopes are separate functions: not scanned
    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is self.info.node

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Param(self, node: cst.Param) -> bool:
        return False

    def visit_Decorator(self, node: cst.Decorator) -> bool:
        return False

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self.stmt_stack.append(node)

    def leave_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self.stmt_stack.pop()

    def visit_If(self, node: cst.If) -> None:
        self.none_guards.append(_is_none_test(node.test) or "")
        self.tested.append(_names_in(node.test))

    def leave_If(self, node: cst.If) -> None:
        self.none_guards.pop()
        names = self.tested.pop()
        if node.orelse is None and _ends_in_exit(node.body):
            # `if tp_group is not None: return ...` - what follows is the fallback path
            self.returned_tested |= names

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self.tested.append(_names_in(node.test))

    def leave_IfExp(self, node: cst.IfExp) -> None:
        self.tested.pop()

    def _bind(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self.info.locals_first.setdefault(target.value, self.index)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:
                self._bind(el.value)
        elif isinstance(target, cst.StarredElement):
            self._bind(target.value)
        elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            self.attr_assigned.add(f"{target.value.value}.{target.attr.value}")
        elif isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name):
            var = target.value.value
            if var == self.info.metadata_var or var in self.dict_vars:
                sl = target.slice[0].slice if target.slice else None
                if isinstance(sl, cst.Index) and _string_value(sl.value) == V.METADATA_KEY:
                    self.info.metadata_has_group = True

    def visit_Assign(self, node: cst.Assign) -> None:
        self.index += 1
        for t in node.targets:
            self._bind(t.target)
        single = (node.targets[0].target.value
                  if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name) else None)
        self.assign_target.append((single, node.value))
        if single is not None and (isinstance(node.value, cst.Dict) or (
                isinstance(node.value, cst.Call) and _dotted(node.value.func) == "dict")):
            self.dict_vars.add(single)
            if isinstance(node.value, cst.Dict) and any(
                    isinstance(el, cst.DictElement) and _string_value(el.key) == V.METADATA_KEY
                    for el in node.value.elements):
                if "metadata" in single:
                    self.info.metadata_has_group = True

    def leave_Assign(self, node: cst.Assign) -> None:
        self.assign_target.pop()

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self.index += 1
        self._bind(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind(node.target)

    def visit_For(self, node: cst.For) -> None:
        self.index += 1
        self._bind(node.target)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind(node.asname.name)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind(node.target)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._bind(node.target)

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        name = node.asname.name if node.asname is not None else node.name
        if isinstance(name, cst.Name):
            self._bind(name)
        elif isinstance(name, cst.Attribute):
            head = name
            while isinstance(head, cst.Attribute):
                head = head.value
            self._bind(head)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._bind(node.name.name)

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        if not self.quote_seen and not node.value.startswith(('"""', "'''")):
            q = node.quote
            if q in ("'", '"'):
                self.info.string_quote = q
                self.quote_seen = True

    def visit_Return(self, node: cst.Return) -> None:
        if isinstance(node.value, cst.Name) and "metadata" in node.value.value and self.stmt_stack:
            if node.value.value in self.dict_vars:
                self.info.metadata_var = node.value.value
                self.info.metadata_returns.append(self.stmt_stack[-1])

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if (isinstance(node.value, cst.Name) and node.attr.value in V.GROUP_BY_NAME
                and node.value.value in self.info.params):
            self.info.attr_sources.setdefault(node.attr.value, f"{node.value.value}.{node.attr.value}")

    def _shadowed(self, head: str) -> bool:
        return head in self.info.params or head in self.info.locals_first

    def visit_Call(self, node: cst.Call) -> None:
        self.index += 1
        func = node.func
        dotted = _dotted(func)
        if dotted is None:
            return
        head = dotted.split(".")[0]
        # sharded_state_dict(metadata={...}) literal dicts
        last = dotted.split(".")[-1]
        if last == "sharded_state_dict":
            for arg in node.args:
                if (arg.keyword is not None and arg.keyword.value == "metadata"
                        and isinstance(arg.value, cst.Dict)):
                    if not any(isinstance(el, cst.DictElement) and _string_value(el.key) == V.METADATA_KEY
                               for el in arg.value.elements):
                        self.info.metadata_dicts.append(arg.value)
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value == "content_metadata":
                v = arg.value
                if not (isinstance(v, cst.Call) and _dotted(v.func) == V.CLEAN_METADATA_NAME):
                    self.info.content_metadata.append(v)
        # calls to functions of this module
        keywords = {a.keyword.value for a in node.args if a.keyword is not None}
        double_star = any(a.star == "**" for a in node.args)
        if isinstance(func, cst.Name) and func.value in self.module_defs and not self._shadowed(func.value):
            self.info.calls.append(LocalCall(node, func.value, self.index, keywords, double_star))
        elif (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
              and func.value.value in ("self", "cls") and self.info.class_name
              and func.attr.value in self.class_methods):
            self.info.calls.append(LocalCall(node, f"{self.info.class_name}.{func.attr.value}",
                                             self.index, keywords, double_star))
        # global group getters
        if self._shadowed(head) or head not in self.imports:
            return
        qual = _canonical(self.imports[head] + dotted[len(head):])
        module, _, getter = qual.rpartition(".")
        if module != V.PARALLEL_STATE or getter not in V.GETTERS:
            return
        wcp = False
        ok = True
        for i, arg in enumerate(node.args):
            if (getter in V.DATA_PARALLEL_GETTERS and isinstance(arg.value, cst.Name)
                    and arg.value.value in ("True", "False") and not arg.star
                    and ((arg.keyword is None and i == 0)
                         or (arg.keyword is not None and arg.keyword.value == "with_context_parallel"))):
                wcp = arg.value.value == "True"
            else:
                ok = False
        if not ok:
            self.info.unconvertible.append((node, getter))
            return
        group, kind = V.group_for_call(getter, wcp)
        base = dotted[: -len(getter)]
        tested = set(self.returned_tested).union(*self.tested) if self.tested else set(self.returned_tested)
        call = GetterCall(node, getter, group, kind, base, self.index, tested=frozenset(tested))
        if group in tested:
            # `if tp_group is None [and ...]:` / `x if tp_group else getter()`: the author's
            # own fallback for that group, not an ignored group
            call.exempt = call.guarded = True
        target, value = self.assign_target[-1] if self.assign_target else (None, None)
        if kind == "group" and target == group and value is node:
            call.exempt = True
            call.guarded = group in self.none_guards
            stmt = self.stmt_stack[-1] if self.stmt_stack else None
            if stmt is not None and len(stmt.body) == 1:
                call.stmt = stmt
        self.info.getters.append(call)

    def finish(self) -> None:
        body = self.info.node.body
        if isinstance(body, cst.IndentedBlock):
            for stmt in body.body:  # only top-level `if g is None:` covers the whole body
                if isinstance(stmt, cst.If) and stmt.orelse is None:
                    g = _is_none_test(stmt.test)
                    if g in V.GROUP_BY_NAME:
                        self.info.fallback_groups.add(g)
        for g, expr in list(self.info.attr_sources.items()):
            if expr in self.attr_assigned or self.info.is_init:
                del self.info.attr_sources[g]


def scan_functions(module: cst.Module, imports: dict[str, str], module_defs: set[str]) -> list[FunctionInfo]:
    """Top-level functions and methods of top-level classes, in source order."""
    out: list[FunctionInfo] = []

    def one(fn: cst.FunctionDef, cls: str | None, methods: set[str]) -> _FunctionScanner:
        qual = f"{cls}.{fn.name.value}" if cls else fn.name.value
        info = FunctionInfo(qual, fn.name.value, cls, fn, _param_names(fn.params), {})
        scanner = _FunctionScanner(info, imports, module_defs, methods)
        walk(fn, scanner)
        scanner.finish()
        out.append(info)
        return scanner

    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef):
            one(stmt, None, set())
        elif isinstance(stmt, cst.ClassDef) and isinstance(stmt.body, cst.IndentedBlock):
            methods = {s.name.value for s in stmt.body.body if isinstance(s, cst.FunctionDef)}
            scanners = [one(s, stmt.name.value, methods)
                        for s in stmt.body.body if isinstance(s, cst.FunctionDef)]
            # groups the instances carry: `self.tp_group = ...` in any method (usually __init__)
            carried = {a.split(".", 1)[1] for sc in scanners for a in sc.attr_assigned
                       if a.startswith("self.") and a.split(".", 1)[1] in V.GROUP_BY_NAME}
            for sc in scanners:
                info = sc.info
                if info.is_init or not info.params or info.params[0] != "self":
                    continue
                if any(_is_static(d) for d in info.node.decorators):
                    continue
                for g in sorted(carried):
                    if f"self.{g}" not in sc.attr_assigned:
                        # getattr: the method may run before the attribute is first set
                        info.attr_sources.setdefault(g, f'getattr(self, "{g}", None)')
    return out


def _is_static(decorator: cst.Decorator) -> bool:
    return _dotted(decorator.decorator) in ("staticmethod", "classmethod")

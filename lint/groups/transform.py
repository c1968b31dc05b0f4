"""The group-threading codemod: plan over a module's functions, then one libcst rewrite.

What it does (issue 10; rules MC301 and MC302 are thin wrappers around it):

* In functions that already receive a group (a ``tp_group``/... parameter, ``pg_collection``,
  or ``self.tp_group``-style attributes), calls to the matching global getter
  (``mpu.get_tensor_model_parallel_rank()``) become ``get_pg_rank(tp_group)`` etc. (MC301).
* Selected functions (preset or globs) that use global groups gain trailing
  ``Optional[torch.distributed.ProcessGroup] = None`` parameters for exactly those groups
  (keyword-only when the signature already has ``*``/``*args``), with one **per-group**
  fallback each (``if tp_group is None: tp_group = mpu.get_tensor_model_parallel_group()``),
  never upstream's joint ``if a is None and b is None`` which leaves one group ``None``.
* Same-module call sites pass the new groups on as keywords when the caller has them in scope.
* Where the target release reads ``metadata['dp_cp_group']`` (0.16.0+), selected functions that
  build sharded-state-dict metadata gain ``dp_cp_group`` and store it, and literal
  ``metadata={...}`` dicts passed to ``sharded_state_dict`` get the key.
* A selected function calling a same-module function that gained groups gains them too
  (fixpoint), so ``save_checkpoint -> get_rng_state`` is threaded end to end.

The result is the new source *without* import changes plus ``ImportRequest``s, so the engine's
fixer schedules imports in its one place; :func:`apply_import_requests` does the same for
standalone use (tests, one-off runs).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider
from packaging.version import InvalidVersion, Version

from mcore_lint.findings import Edit, ImportRequest, Location
from mcore_lint.groups import vocabulary as V
from mcore_lint.groups.analysis import FunctionInfo, GetterCall, module_bindings, scan_functions
from mcore_lint.groups.presets import matches


#: Calls longer than this after threading get the new keywords on a continuation line.
MAX_LINE = 100


@dataclass(frozen=True)
class Options:
    """What to rewrite. ``select`` are MC302 patterns (expanded, see presets.expand)."""

    select: tuple[str, ...] = ()
    rewrite_in_scope: bool = True
    target: str | None = None  # megatron-core release the code must run on, e.g. "0.16.1"
    module_name: str | None = None
    is_package: bool = False
    #: (qualname, line of its ``def``) of the module's top-level functions and methods, when the
    #: caller knows them (the linter, from its ``ast``): positions are then computed for the
    #: changed functions only instead of for the whole module (see :func:`_positions`)
    def_lines: tuple[tuple[str, int], ...] = ()
    #: decide the findings only (which calls are ignored, which functions change and how):
    #: no positions, no rewritten text. ``mcore-lint`` with a text report needs nothing more,
    #: and the positions (libcst's PositionProvider renders the code) plus the rewrite were
    #: ~60% of this module's cost. Needs ``def_lines`` (functions are placed by their ``def``
    #: line, calls by :attr:`Ignored.anchor`); without them the full result is computed.
    plan_only: bool = False


@dataclass
class Ignored:
    """A getter call that ignores a group the function has (one MC301 finding)."""

    qualname: str
    call: str
    group: str
    source: str  # where the function has the group: "tp_group", "self.tp_group", ...
    replacement: str
    line: int  # 0 in a plan-only result: use ``anchor``
    column: int
    end_line: int
    end_column: int
    #: (function qualname, getter name, n): the call is the n-th call (0-based, source order) of
    #: that name anywhere in the function's ``def`` statement (decorators, defaults, nested defs
    #: included), which the linter finds again in its own ``ast``
    anchor: tuple[str, str, int] | None = None


@dataclass
class FunctionChange:
    """What happened to one function (one MC302 finding)."""

    qualname: str
    line: int
    column: int
    added_params: list[str] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    replaced: int = 0
    threaded_calls: list[str] = field(default_factory=list)
    metadata: bool = False
    selected: bool = False
    cleaned: int = 0

    def summary(self) -> str:
        parts = []
        if self.added_params:
            parts.append("adds " + ", ".join(f"`{p}`" for p in self.added_params))
        if self.replaced:
            parts.append(f"replaces {self.replaced} global getter call(s)")
        if self.fallbacks:
            parts.append("per-group fallback for " + ", ".join(f"`{g}`" for g in self.fallbacks))
        if self.threaded_calls:
            parts.append("passes groups on to " + ", ".join(f"`{c}`" for c in self.threaded_calls))
        if self.metadata:
            parts.append("stores `dp_cp_group` in sharded-state-dict metadata")
        if self.cleaned:
            parts.append("drops the process group from `content_metadata` before it is saved")
        return "; ".join(parts)


@dataclass
class GroupsResult:
    source: str
    code: str  # rewritten source, imports untouched
    changes: list[FunctionChange]
    ignored: list[Ignored]
    imports: list[ImportRequest]
    notes: list[str]
    #: line edits already known (the elided run computed them on its smaller text)
    precomputed_edits: tuple[Edit, ...] | None = None
    #: a plan-only result (``Options.plan_only``): ``code`` is the source, positions are anchors
    deferred: bool = False

    @property
    def changed(self) -> bool:
        if self.deferred:
            return bool(self.changes or self.ignored)
        return self.code != self.source

    def edits(self) -> tuple[Edit, ...]:
        if self.precomputed_edits is not None:
            return self.precomputed_edits
        return edits_from_diff(self.source, self.code)


# ----------------------------------------------------------------------------- release facts


def _at_least(target: str | None, release: str) -> bool:
    if not target:
        return False
    try:
        return Version(target) >= Version(release)
    except InvalidVersion:
        return False


def pg_helpers_module(target: str | None) -> str:
    """``megatron.core.utils`` when the target release has get_pg_rank/size, else mcore_compat."""
    if _at_least(target, V.PG_HELPERS_IN_MCORE_SINCE):
        return V.PG_HELPERS_MCORE_MODULE
    return V.PG_HELPERS_SHIM_MODULE


# ----------------------------------------------------------------------------- planning


@dataclass
class _FuncPlan:
    info: FunctionInfo
    selected: bool
    add_params: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # group -> expression that holds it
    fallbacks: list[str] = field(default_factory=list)  # statement code lines to insert
    fallback_groups: list[str] = field(default_factory=list)
    replace: dict[int, str] = field(default_factory=dict)
    call_kwargs: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    dict_add: set[int] = field(default_factory=set)
    before_stmt: dict[int, str] = field(default_factory=dict)
    wrap_stmt: dict[int, str] = field(default_factory=dict)
    wrap_expr: dict[int, str] = field(default_factory=dict)  # id(expr) -> function to wrap it in
    threaded: list[str] = field(default_factory=list)
    metadata: bool = False


def _touched(p: "_FuncPlan") -> bool:
    return bool(p.add_params or p.replace or p.call_kwargs or p.dict_add or p.before_stmt
                or p.wrap_stmt or p.fallbacks or p.wrap_expr)


def _source_base(expr: str) -> str:
    """``self.tp_group`` -> "self"; ``getattr(pg_collection, "tp", None)`` -> "pg_collection"."""
    if expr.startswith("getattr("):
        return expr[len("getattr("):].split(",", 1)[0].strip()
    return expr.split(".", 1)[0]


def _display(expr: str) -> str:
    """``getattr(self, "tp_group", None)`` -> ``self.tp_group`` (for messages)."""
    if expr.startswith("getattr("):
        obj, name = [x.strip() for x in expr[len("getattr("):].split(",")[:2]]
        return f"{obj}.{name.strip(chr(34))}"
    return expr


def _group_key(g: str) -> int:
    return V.GROUP_ORDER[g]


def _local_group_vars(info: FunctionInfo) -> dict[str, list[GetterCall]]:
    out: dict[str, list[GetterCall]] = {}
    for c in info.getters:
        if c.exempt and not c.guarded:
            out.setdefault(c.group, []).append(c)
    return out


class _Planner:
    def __init__(self, module: cst.Module, options: Options):
        self.module = module
        self.options = options
        self.raw: dict[str, str] = {}
        self.imports, self.defs, self.classes = module_bindings(
            module, options.module_name, options.is_package, self.raw)
        self.funcs = scan_functions(module, self.imports, self.defs)
        self.by_qual = {f.qualname: f for f in self.funcs}
        self.metadata_on = _at_least(options.target, V.METADATA_DP_CP_GROUP_SINCE)
        self.notes: list[str] = []
        self.ps_alias = next((name for name, q in self.imports.items() if q == V.PARALLEL_STATE), None)

    # which groups a function's own body needs
    def _direct_uses(self, f: FunctionInfo, selected: bool) -> set[str]:
        uses = {c.group for c in f.getters if not c.exempt}
        if self.metadata_on and selected:
            if f.metadata_var and not f.metadata_has_group:
                uses.add("dp_cp_group")
            if f.metadata_dicts:
                uses.add("dp_cp_group")
        return uses

    def plan(self) -> dict[str, _FuncPlan]:
        opts = self.options
        plans = {f.qualname: _FuncPlan(f, bool(opts.select) and matches(f.qualname, opts.select, opts.module_name))
                 for f in self.funcs}
        # 1. fixpoint: which groups each selected function gains
        gained: dict[str, set[str]] = {q: set() for q in plans}
        blocked: dict[str, set[str]] = {q: set() for q in plans}
        for q, p in plans.items():
            f = p.info
            for g, calls in _local_group_vars(f).items():
                if any(c.stmt is None for c in calls):
                    blocked[q].add(g)
            for g in V.GROUP_BY_NAME:
                if g in f.locals_first and g not in _local_group_vars(f) and g not in f.params:
                    blocked[q].add(g)  # a local variable of that name means something else
        changed = True
        while changed:
            changed = False
            for q, p in plans.items():
                if not p.selected or not isinstance(p.info.node.body, cst.IndentedBlock):
                    continue
                f = p.info
                need = self._direct_uses(f, True)
                for call in f.calls:
                    if call.callee in gained and call.callee != q:
                        need |= gained[call.callee]
                have = set(f.params) | set(f.attr_sources)
                new = (need - have) - blocked[q]
                if "pg_collection" in f.params:
                    new = set()
                if new - gained[q]:
                    gained[q] |= new
                    changed = True
        # metadata dicts of this module will hold a process group (now or already)
        self.stores_group_in_metadata = self.metadata_on and any(
            f.metadata_has_group or (plans[f.qualname].selected and f.metadata_var)
            for f in self.funcs)
        for q, g in blocked.items():
            for name in sorted(g & (self._direct_uses(plans[q].info, plans[q].selected))):
                if plans[q].selected:
                    self.notes.append(f"{q}: `{name}` is already a local variable there; not threaded")
        # 2. per-function rewrites
        for q, p in plans.items():
            self._plan_function(p, sorted(gained[q], key=_group_key), gained)
        return plans

    def _base_for(self, f: FunctionInfo, group: str) -> str:
        for c in f.getters:
            if c.group == group and c.base:
                return c.base
        if self.ps_alias:
            return f"{self.ps_alias}."
        return ""

    def _plan_function(self, p: _FuncPlan, add: list[str], gained: dict[str, set[str]]) -> None:
        f = p.info
        if not isinstance(f.node.body, cst.IndentedBlock):
            # `def f(): return ...` on one line: no room for a fallback, so no rewrite at all
            if f.getters and (p.selected or any(g.group in f.params for g in f.getters)):
                self.notes.append(f"{f.qualname}: one-line body; not rewritten")
            return
        p.add_params = add
        # where each group comes from in this function
        for g in V.GROUP_BY_NAME:
            if g in f.params or g in add:
                p.sources[g] = g
            elif g in f.attr_sources and g not in f.locals_first:
                p.sources[g] = f.attr_sources[g]
            elif "pg_collection" in f.params and g not in f.locals_first:
                field_ = V.GROUP_BY_NAME[g].collection_field
                p.sources[g] = f'getattr(pg_collection, "{field_}", None)'
        rewrite = p.selected or self.options.rewrite_in_scope
        used: set[str] = set()
        if rewrite:
            for c in f.getters:
                if c.exempt or c.group not in p.sources:
                    continue
                base = _source_base(p.sources[c.group])
                if p.sources[c.group] != c.group and base not in ("self", "cls") and base in c.tested:
                    continue  # `if pg_collection is None: <global>` is the author's fallback
                p.replace[id(c.node)] = V.replacement_text(c.group, c.kind, c.group)
                used.add(c.group)
        if self.metadata_on and "dp_cp_group" in p.sources and (p.selected or "dp_cp_group" in f.params):
            if p.selected and f.metadata_var and not f.metadata_has_group:
                q = f.string_quote
                for stmt in f.metadata_returns:
                    p.before_stmt[id(stmt)] = f"{f.metadata_var}[{q}{V.METADATA_KEY}{q}] = dp_cp_group"
                used.add("dp_cp_group")
                p.metadata = True
            for d in f.metadata_dicts:
                p.dict_add.add(id(d))
                used.add("dp_cp_group")
                p.metadata = True
        if self.metadata_on and p.selected and self.stores_group_in_metadata:
            for value in f.content_metadata:
                p.wrap_expr[id(value)] = V.CLEAN_METADATA_NAME
        # unconditional `g = getter()` locals of a function that now receives g: guard them
        for g, calls in _local_group_vars(f).items():
            if g in add:
                for c in calls:
                    p.wrap_stmt[id(c.stmt)] = g
        # per-group fallbacks, once, at the top
        for g in sorted(used, key=_group_key):
            src = p.sources[g]
            spec = V.GROUP_BY_NAME[g]
            fallback = spec.fallback_call(self._base_for(f, g))
            if src == g:
                if g in f.fallback_groups:
                    continue
                p.fallbacks.append(f"if {g} is None:\n    {g} = {fallback}\n")
            else:
                p.fallbacks.append(f"{g} = {src}\nif {g} is None:\n    {g} = {fallback}\n")
            p.fallback_groups.append(g)
        # call sites of functions that gained groups
        for call in f.calls:
            new = sorted(gained.get(call.callee, ()), key=_group_key)
            if not new:
                continue
            if call.has_double_star:
                self.notes.append(f"{f.qualname}: call to `{call.callee}` passes **kwargs; "
                                  f"groups {', '.join(new)} not added there")
                continue
            kws = []
            for g in new:
                if g in call.keywords:
                    continue
                if p.sources.get(g) == g or g in p.fallback_groups:
                    kws.append((g, g))
                elif g in p.sources:
                    kws.append((g, p.sources[g]))
                elif g in f.locals_first and f.locals_first[g] < call.index:
                    kws.append((g, g))
            if kws:
                p.call_kwargs[id(call.node)] = kws
                p.threaded.append(call.callee)


# ----------------------------------------------------------------------------- rewriting


def _append_items(items: list, new: list) -> list:
    """Append params/args keeping the list's comma layout (trailing comma, one per line)."""
    if not items:
        return list(new)
    last = items[-1]
    space = "whitespace_after_arg" if isinstance(last, cst.Arg) else "whitespace_after_param"
    after = getattr(last, space, None)
    moves = not isinstance(last.comma, cst.Comma) and (
        isinstance(after, cst.ParenthesizedWhitespace)
        or (isinstance(after, cst.SimpleWhitespace) and bool(after.value)))
    if moves:
        # `f(\n    a, b\n)`: the line break before `)` moves behind the new last item
        items = [*items[:-1], last.with_changes(**{space: cst.SimpleWhitespace("")})]
        new = [*new[:-1], new[-1].with_changes(**{space: after})]
        return [*items, *new]
    last = items[-1]
    if isinstance(last.comma, cst.Comma):
        sep = items[-2].comma if len(items) >= 2 and isinstance(items[-2].comma, cst.Comma) else last.comma
        out = [*items[:-1], last.with_changes(comma=sep)]
        for i, n in enumerate(new):
            out.append(n.with_changes(comma=sep if i < len(new) - 1 else last.comma))
        return out
    return [*items, *new]


class _Rewriter(cst.CSTTransformer):
    def __init__(self, plans: dict[str, _FuncPlan], config: cst.PartialParserConfig,
                 param_columns: dict[int, int] | None = None):
        self.config = config
        self.param_columns = param_columns or {}
        self.arg_columns: dict[int, int] = {}
        self.by_func = {id(p.info.node): p for p in plans.values()}
        # every node the plan rewrites is in the own body of a touched function (the scan reads
        # no other code), so the rest of the tree is left unvisited: on a 4,700-line module with
        # one changed function this is most of the rewrite's cost
        self.touched = {id(p.info.node) for p in plans.values() if _touched(p)}
        self.replace: dict[int, str] = {}
        self.call_kwargs: dict[int, list[tuple[str, str]]] = {}
        self.dict_add: set[int] = set()
        self.before_stmt: dict[int, str] = {}
        self.wrap_stmt: dict[int, str] = {}
        self.wrap_expr: dict[int, str] = {}
        for p in plans.values():
            self.wrap_expr.update(p.wrap_expr)
            self.replace.update(p.replace)
            self.call_kwargs.update(p.call_kwargs)
            self.dict_add |= p.dict_add
            self.before_stmt.update(p.before_stmt)
            self.wrap_stmt.update(p.wrap_stmt)

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.FunctionDef) and id(node) not in self.touched:
            return False
        return super().on_visit(node)

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        key = id(original)
        if key in self.replace:
            new = cst.parse_expression(self.replace[key], config=self.config)
            return new.with_changes(lpar=updated.lpar, rpar=updated.rpar)
        if key in self.call_kwargs:
            args = [cst.Arg(keyword=cst.Name(k), value=cst.parse_expression(v, config=self.config),
                            equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                                  whitespace_after=cst.SimpleWhitespace("")))
                    for k, v in self.call_kwargs[key]]
            items = list(updated.args)
            column = self.arg_columns.get(key)
            if column is not None and items and not isinstance(items[-1].comma, cst.Comma):
                # a long one-line call: the new keywords go on one continuation line
                sep = cst.Comma(whitespace_after=cst.ParenthesizedWhitespace(
                    first_line=cst.TrailingWhitespace(), empty_lines=[], indent=False,
                    last_line=cst.SimpleWhitespace(" " * column)))
                items[-1] = items[-1].with_changes(comma=sep)
                current = column
                for i, (k, v) in enumerate(self.call_kwargs[key]):
                    width = len(k) + len(v) + 3  # "k=v, "
                    if i and current + width > MAX_LINE:
                        args[i - 1] = args[i - 1].with_changes(comma=sep)
                        current = column
                    current += width
                return updated.with_changes(args=items + args)
            return updated.with_changes(args=_append_items(items, args))
        return updated

    def on_leave(self, original, updated):
        result = super().on_leave(original, updated)
        fn = self.wrap_expr.get(id(original))
        if fn is not None and isinstance(result, cst.BaseExpression):
            return cst.Call(func=cst.Name(fn), args=[cst.Arg(value=result)])
        return result

    def leave_Dict(self, original: cst.Dict, updated: cst.Dict) -> cst.BaseExpression:
        if id(original) not in self.dict_add:
            return updated
        quote = '"'
        for el in updated.elements:
            if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString):
                quote = el.key.quote if el.key.quote in ("'", '"') else quote
                break
        element = cst.DictElement(key=cst.SimpleString(f"{quote}{V.METADATA_KEY}{quote}"),
                                  value=cst.Name("dp_cp_group"))
        return updated.with_changes(elements=_append_items(list(updated.elements), [element]))

    def leave_SimpleStatementLine(self, original, updated):
        key = id(original)
        if key in self.wrap_stmt:
            g = self.wrap_stmt[key]
            inner = updated.with_changes(leading_lines=())
            updated = cst.If(test=cst.parse_expression(f"{g} is None", config=self.config),
                             body=cst.IndentedBlock(body=[inner]), leading_lines=updated.leading_lines)
        if key in self.before_stmt:
            store = cst.parse_statement(self.before_stmt[key] + "\n", config=self.config)
            return cst.FlattenSentinel([store.with_changes(leading_lines=updated.leading_lines),
                                        updated.with_changes(leading_lines=())])
        return updated

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        p = self.by_func.get(id(original))
        if p is None:
            return updated
        if p.add_params:
            column = self.param_columns.get(id(original))
            updated = updated.with_changes(params=self._add_params(updated.params, p.add_params, column))
        if p.fallbacks and isinstance(updated.body, cst.IndentedBlock):
            body = list(updated.body.body)
            at = 0
            if body and _is_docstring(body[0]):
                at = 1
            while at < len(body) and _is_group_fallback(body[at]):
                at += 1
            new_stmts = [stmt for code in p.fallbacks
                         for stmt in cst.parse_module(code, config=self.config).body]
            body[at:at] = new_stmts
            updated = updated.with_changes(body=updated.body.with_changes(body=body))
        return updated

    def _add_params(self, params: cst.Parameters, names: list[str], column: int | None) -> cst.Parameters:
        """Append ``names`` as ``Optional[ProcessGroup] = None`` parameters, one per line aligned
        with the first parameter (``column``), keeping a trailing-comma layout as it is."""
        new = [cst.Param(name=cst.Name(n),
                         annotation=cst.Annotation(cst.parse_expression(V.ANNOTATION, config=self.config)),
                         equal=cst.AssignEqual(), default=cst.Name("None")) for n in names]
        kwonly = not isinstance(params.star_arg, cst.MaybeSentinel) or bool(params.kwonly_params)
        field_ = "kwonly_params" if kwonly else "params"
        items = list(getattr(params, field_))
        # the element just before the new parameters (its comma decides the layout)
        if items:
            before = items[-1]
        elif kwonly:
            before = params.star_arg
        else:
            before = params.posonly_ind if not isinstance(params.posonly_ind, cst.MaybeSentinel) else None
            if before is None and params.posonly_params:
                before = params.posonly_params[-1]
        comma = getattr(before, "comma", None)
        one_per_line = isinstance(comma, cst.Comma) and isinstance(comma.whitespace_after, cst.ParenthesizedWhitespace)
        if column is None or before is None or (one_per_line and items):
            return params.with_changes(**{field_: _append_items(items, new)})
        sep = cst.Comma(whitespace_after=cst.ParenthesizedWhitespace(
            first_line=cst.TrailingWhitespace(), empty_lines=[], indent=False,
            last_line=cst.SimpleWhitespace(" " * column)))
        # the last new parameter: libcst writes ", " itself when `**kwargs` follows
        new = [n.with_changes(comma=sep) for n in new[:-1]] + [new[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)]
        if items:
            items[-1] = items[-1].with_changes(comma=sep)
            return params.with_changes(**{field_: items + new})
        if kwonly:
            return params.with_changes(star_arg=params.star_arg.with_changes(comma=sep), kwonly_params=new)
        return params.with_changes(**{field_: new})


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _is_group_fallback(stmt: cst.CSTNode) -> bool:
    from mcore_lint.groups.analysis import _is_none_test

    return isinstance(stmt, cst.If) and _is_none_test(stmt.test) in V.GROUP_BY_NAME


# ----------------------------------------------------------------------------- entry points


class _ShiftedPositions:
    """Positions of nodes inside the changed functions, each computed on a small module holding
    only that function (inside its class for a method) and moved down to the function's real
    line. Columns need no shift: a method keeps its class's indentation."""

    def __init__(self, parts: list[tuple[object, int]]):
        self.parts = parts  # (positions of one small module, line shift)

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        for mapping, shift in self.parts:
            got = mapping.get(node)  # type: ignore[attr-defined]
            if got is not None:
                return CodeRange(CodePosition(got.start.line + shift, got.start.column),
                                 CodePosition(got.end.line + shift, got.end.column))
        raise KeyError(node)


def _positions(module: cst.Module, plans: dict[str, _FuncPlan], def_lines: tuple[tuple[str, int], ...]):
    """Positions for the rewrite: per changed function when ``def_lines`` places each one
    unambiguously, else for the whole module (libcst's PositionProvider renders the code it
    covers, so on a big module with one changed function this saves most of the cost)."""
    lines: dict[str, int] = {}
    dupes: set[str] = set()
    for q, line in def_lines:
        if q in lines:
            dupes.add(q)
        lines[q] = line
    touched = [p for p in plans.values() if _touched(p)]
    if not def_lines or any(p.info.qualname not in lines or p.info.qualname in dupes for p in touched):
        return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    owner: dict[int, cst.ClassDef] = {}
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and isinstance(stmt.body, cst.IndentedBlock):
            owner.update((id(m), stmt) for m in stmt.body.body)
    parts = []
    for p in touched:
        fn = p.info.node
        stmt: cst.CSTNode = fn
        if p.info.class_name is not None:
            cls = owner.get(id(fn))
            if cls is None:
                return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
            stmt = cls.with_changes(body=cls.body.with_changes(body=[fn]))
        small = module.with_changes(body=[stmt])
        mapping = MetadataWrapper(small, unsafe_skip_copy=True).resolve(PositionProvider)
        parts.append((mapping, lines[p.info.qualname] - mapping[fn.name].start.line))
    return _ShiftedPositions(parts)


def thread_groups(source: str, options: Options = Options()) -> GroupsResult:
    """Plan and apply the rewrite to one module's source. Raises ``libcst.ParserSyntaxError``
    on unparsable input (the caller reports it with the file name)."""
    module = cst.parse_module(source)
    planner = _Planner(module, options)
    plans = planner.plan()
    if not any(_touched(p) for p in plans.values()):  # the common case: no positions, no rewrite
        return GroupsResult(source, source, [], [], [], planner.notes)
    if options.plan_only and _placeable(plans, options.def_lines):
        return _plan_result(source, module, plans, options.def_lines, planner.notes)
    positions = _positions(module, plans, options.def_lines)
    config = module.config_for_parsing
    param_columns = {}
    for p in plans.values():
        fp = p.info.node.params
        first = next(iter([*fp.posonly_params, *fp.params,
                           *([] if isinstance(fp.star_arg, cst.MaybeSentinel) else [fp.star_arg]),
                           *fp.kwonly_params]), None)
        if p.add_params and first is not None:
            param_columns[id(p.info.node)] = positions[first].start.column
    # calls that would run past MAX_LINE get the new keywords on a continuation line
    lines = source.splitlines()
    arg_columns: dict[int, int] = {}
    for p in plans.values():
        for call in p.info.calls:
            kws = p.call_kwargs.get(id(call.node))
            if not kws or not call.node.args:
                continue
            first, end = positions[call.node.args[0]].start, positions[call.node].end
            added = sum(len(k) + len(v) + 3 for k, v in kws)
            if first.line == end.line and len(lines[end.line - 1]) + added > MAX_LINE:
                arg_columns[id(call.node)] = first.column
    rewriter = _Rewriter(plans, config, param_columns)
    rewriter.arg_columns = arg_columns
    new_module = module.visit(rewriter)
    code = new_module.code

    changes: list[FunctionChange] = []
    ignored: list[Ignored] = []
    need_rank = need_size = imports_clean = False
    fallback_names: set[str] = set()
    removable: set[str] = set()
    for p in plans.values():
        f = p.info
        for c in f.getters:
            if id(c.node) not in p.replace:
                continue
            need_rank |= c.kind == "rank"
            need_size |= c.kind == "size"
            if not c.base:
                removable.add(c.getter)
            if not p.selected or c.group in f.params or c.group not in p.add_params:
                pos = positions[c.node]
                src = p.sources.get(c.group, c.group)
                src = c.group if c.group in f.params or c.group in p.add_params else _display(src)
                ignored.append(Ignored(f.qualname, module.code_for_node(c.node), c.group, src,
                                       p.replace[id(c.node)], pos.start.line, pos.start.column + 1,
                                       pos.end.line, pos.end.column + 1))
        for g in p.fallback_groups:
            spec = V.GROUP_BY_NAME[g]
            if not planner._base_for(f, g):
                fallback_names.add(spec.getter)
        touched = _touched(p)
        if p.wrap_expr and V.CLEAN_METADATA_NAME not in planner.imports and V.CLEAN_METADATA_NAME not in planner.defs:
            imports_clean = True
        if touched:
            pos = positions[f.node.name]
            changes.append(FunctionChange(
                f.qualname, pos.start.line, pos.start.column + 1, list(p.add_params),
                list(p.fallback_groups), len(p.replace), sorted(set(p.threaded)), p.metadata,
                p.selected, len(p.wrap_expr)))

    imports: list[ImportRequest] = []
    bound = set(planner.imports) | planner.defs | planner.classes
    pg_module = pg_helpers_module(options.target)
    for needed, name in ((need_rank, "get_pg_rank"), (need_size, "get_pg_size")):
        if needed and name not in bound:
            imports.append(ImportRequest(pg_module, name))
    if any(p.add_params for p in plans.values()):
        if "Optional" not in bound:
            imports.append(ImportRequest("typing", "Optional"))
        if "torch" not in bound:
            imports.append(ImportRequest("torch"))
    if imports_clean:
        imports.append(ImportRequest(V.CLEAN_METADATA_MODULE, V.CLEAN_METADATA_NAME))
    for name in sorted(fallback_names):
        if planner.imports.get(name) != f"{V.PARALLEL_STATE}.{name}":
            imports.append(ImportRequest(V.PARALLEL_STATE, name))
    for name in sorted(removable - fallback_names):
        qual = planner.raw.get(name)
        if qual and qual.endswith("." + name):
            imports.append(ImportRequest(qual[: -len(name) - 1], name, remove=True))
    return GroupsResult(source, code, changes, ignored, imports, planner.notes)


def _placeable(plans: dict[str, _FuncPlan], def_lines: tuple[tuple[str, int], ...]) -> bool:
    """Every changed function has exactly one ``def`` line among ``def_lines``."""
    seen: dict[str, int] = {}
    for q, _ in def_lines:
        seen[q] = seen.get(q, 0) + 1
    return bool(def_lines) and all(seen.get(p.info.qualname) == 1 for p in plans.values() if _touched(p))


def _last_name(func: cst.BaseExpression) -> str | None:
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return None


def _call_ordinal(fn: cst.FunctionDef, call: cst.Call, name: str) -> int:
    """How many calls named ``name`` come before ``call`` in ``fn``'s statement (visit order,
    which is source order; see :func:`Ignored.anchor`)."""
    from mcore_lint.groups.walk import children

    n = 0
    stack: list[cst.CSTNode] = [fn]
    while stack:
        node = stack.pop()
        if node is call:
            return n
        if isinstance(node, cst.Call) and _last_name(node.func) == name:
            n += 1
        stack.extend(reversed(children(node)))
    raise ValueError(f"call not found in {fn.name.value}")  # the scanner found it there


def _plan_result(source: str, module: cst.Module, plans: dict[str, _FuncPlan],
                 def_lines: tuple[tuple[str, int], ...], notes: list[str]) -> GroupsResult:
    """The findings of the plan without positions or rewrite (see ``Options.plan_only``): the
    same changes and ignored calls :func:`thread_groups` reports, functions placed at their
    ``def`` line, calls by anchor, columns 0."""
    lines = dict(def_lines)
    changes: list[FunctionChange] = []
    ignored: list[Ignored] = []
    for p in plans.values():
        f = p.info
        for c in f.getters:
            if id(c.node) not in p.replace:
                continue
            if not p.selected or c.group in f.params or c.group not in p.add_params:
                src = p.sources.get(c.group, c.group)
                src = c.group if c.group in f.params or c.group in p.add_params else _display(src)
                anchor = (f.qualname, c.getter, _call_ordinal(f.node, c.node, c.getter))
                ignored.append(Ignored(f.qualname, module.code_for_node(c.node), c.group, src,
                                       p.replace[id(c.node)], 0, 0, 0, 0, anchor))
        if _touched(p):
            changes.append(FunctionChange(
                f.qualname, lines[f.qualname], 0, list(p.add_params), list(p.fallback_groups), len(p.replace),
                sorted(set(p.threaded)), p.metadata, p.selected, len(p.wrap_expr)))
    return GroupsResult(source, source, changes, ignored, [], notes, deferred=True)


def edits_from_diff(old: str, new: str) -> tuple[Edit, ...]:
    """Line-level edits turning ``old`` into ``new`` (each replaces whole lines)."""
    a = old.splitlines(keepends=True)
    b = new.splitlines(keepends=True)
    if not a:
        return (Edit(new, Location(1, 1), Location(1, 1)),) if new else ()
    edits = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        content = "".join(b[j1:j2])
        start = Location(i1 + 1, 1)
        if i2 < len(a) or (a and a[-1].endswith("\n")):
            end = Location(i2 + 1, 1)
        else:  # last line without newline
            end = Location(len(a), len(a[-1]) + 1)
            if i1 == len(a):
                start = end
        edits.append(Edit(content, start, end))
    return tuple(edits)


def apply_import_requests(code: str, requests: list[ImportRequest]) -> str:
    """Schedule ``requests`` with the engine's one import scheduler (libcst Add/Remove
    ImportsVisitor), for callers that run the transform outside the fix loop."""
    from mcore_lint.fix.imports import schedule_imports

    return schedule_imports(code, requests)


def fix_source(source: str, options: Options = Options()) -> str:
    """Rewrite + imports, until nothing changes (at most 5 passes): the standalone codemod."""
    code = source
    for _ in range(5):
        result = thread_groups(code, options)
        if not result.changed and not [r for r in result.imports if not r.remove]:
            return code
        new = apply_import_requests(result.code, result.imports)
        if new == code:
            return code
        code = new
    return code

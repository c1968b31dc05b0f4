"""Where a file calls a ``megatron.core`` callable: the call sites the signature rules bind.

Why a module of its own: MC201-MC204 and ``mcore-lint supported-range`` ask the same
question of the same calls, so the sites are found once per semantic model (cached) and
shared. Only calls whose callee the semantic model resolved statically are sites; nothing is
guessed from names:

* ``f(...)`` / ``mod.f(...)`` / ``Cls(...)`` / ``Cls.method(obj, ...)`` -- a reference to a
  tracked name that is called (style ``call``);
* ``functools.partial(f, ...)`` -- the arguments after ``f`` (style ``partial``: keywords and
  positions are checked, missing arguments are not, they may come later);
* ``Cls(...).method(...)`` -- a method of a freshly built instance (style ``bound``), also
  through a local name bound exactly once in its function (``x = Cls(...)`` ... ``x.m(...)``:
  no other assignment, ``del``, ``global``/``nonlocal``, walrus or ``setattr`` of ``x``, and no
  ``x.m = ...``);
* ``super().__init__(...)`` / ``super().method(...)`` in a class whose only base is a tracked
  megatron class (style ``init`` / ``bound``). ``self.method(...)`` is not a site: a subclass
  may override the method.

Every site records whether it is *guarded*: inside the compatibility guards the symbol rules
honour (``try/except ImportError/AttributeError``, ``if hasattr(...)``, version checks), or a
guard specific to signatures (``try: ... except TypeError``, an ``if`` that inspects a
signature: ``inspect.signature``, ``getfullargspec``, ``__code__``, ``co_varnames``,
``__dataclass_fields__``, ``dataclasses.fields``).
"""

from __future__ import annotations

import ast
import weakref
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from .text import SourceText

if TYPE_CHECKING:
    from ..semantic import Reference, SemanticModel

ROOT = "megatron.core"

#: Exceptions whose ``except`` marks the ``try`` body as code that expects a signature mismatch.
SIGNATURE_EXCEPTIONS = frozenset({"TypeError", "Exception", "BaseException", ""})
#: Names in an ``if`` test that mean the branch depends on a signature check.
_INTROSPECTION = frozenset({"signature", "getfullargspec", "getargspec", "__code__", "co_varnames",
                            "__dataclass_fields__", "fields", "parameters", "__init__", "__signature__",
                            "getcallargs", "_fields"})


@dataclass(eq=False)
class CallSite:
    """One call of a statically known megatron.core callable.

    ``qualname`` is the name as the model resolved it (``megatron.core.transformer.
    TransformerConfig``; ``...RowParallelLinear.forward`` for methods); the API index maps it
    to its definition per release. ``style``: ``call``, ``partial``, ``bound`` (instance
    method: the first parameter is bound) or ``init`` (``super().__init__``: the constructor of
    class ``qualname``). ``node`` is the callee expression findings point at.
    """

    call: ast.Call
    qualname: str
    style: str
    node: ast.AST
    guarded: bool
    ref: "Reference | None" = None
    #: release -> binding (:func:`mcore_lint.calls.binding_in`'s cache; the rules ask the same
    #: site for the same releases up to four times).
    bound: dict = field(default_factory=dict, repr=False)

    # The argument views are computed once: the rules read them per release per site (160k
    # reads on the benchmark corpus). Callers must not mutate the lists.
    @cached_property
    def args(self) -> list[ast.expr]:
        """The positional arguments bound to the callee's parameters (``partial``: after ``f``)."""
        return list(self.call.args[1:] if self.style == "partial" else self.call.args)

    @cached_property
    def keywords(self) -> list[ast.keyword]:
        return list(self.call.keywords)

    @cached_property
    def has_star_args(self) -> bool:
        """``*args`` or ``**kwargs`` at the call: the bound arguments are unknown."""
        return any(isinstance(a, ast.Starred) for a in self.args) or any(k.arg is None for k in self.keywords)

    @cached_property
    def shape(self) -> tuple:
        """What binding depends on besides the signature: the number of positional arguments,
        the keyword names in order, and whether the call is a ``partial``. Calls of the same
        shape bind the same way against the same parameters."""
        return (len(self.args), tuple(k.arg for k in self.keywords), self.style == "partial", self.has_star_args)

    @property
    def display(self) -> str:
        """Short human name of the callee: ``TransformerConfig``, ``RowParallelLinear.forward``."""
        parts = self.qualname.split(".")
        # keep the class for methods: the last two components when the second-last is capitalised
        if len(parts) >= 2 and parts[-2][:1].isupper():
            return ".".join(parts[-2:])
        return parts[-1]


_CACHE: "weakref.WeakKeyDictionary[SemanticModel, list[CallSite]]" = weakref.WeakKeyDictionary()


def call_sites(model: "SemanticModel") -> list[CallSite]:
    """Every call site of a megatron.core callable in ``model`` (computed once per model), in
    source order. Ambiguous references (another binding may reach them) are left out."""
    got = _CACHE.get(model)
    if got is None:
        got = _find(model)
        _CACHE[model] = got
    return got


def _find(model: "SemanticModel") -> list[CallSite]:
    out: list[CallSite] = []
    seen: set[int] = set()
    local_uses: dict[int, dict[str | None, _LocalUses]] = {}
    text = SourceText(model)
    guards: dict[tuple, bool] = {}
    tests: dict[int, bool] = {}

    def add(call: ast.Call, qualname: str, style: str, node: ast.AST, ref=None, guard_node=None) -> None:
        key = id(call)
        if key in seen:
            return
        seen.add(key)
        at = guard_node if guard_node is not None else call
        # The guards of a node are those of its branch (SemanticModel.guards_of): sites in one
        # block share the answer (a branch is a tuple of identity-hashed steps).
        branch = model.branch_of(at)
        guarded = guards.get(branch)
        if guarded is None:
            guarded = guards[branch] = _signature_guarded(model, at, tests)
        out.append(CallSite(call, qualname, style, node, guarded, ref))

    prefix = ROOT + "."
    for ref in model.references:
        q = ref.qualname
        if not q.startswith(prefix) or ref.ctx != "load" or ref.ambiguous:  # cheapest test first
            continue
        call = ref.call
        if call is not None:
            add(call, q, "call", ref.node, ref)
            # Cls(...).method(...)
            attr = model.parent(call)
            if isinstance(attr, ast.Attribute) and attr.value is call:
                outer = model.parent(attr)
                if isinstance(outer, ast.Call) and outer.func is attr:
                    add(outer, f"{q}.{attr.attr}", "bound", attr, ref)
            # x = Cls(...) ... x.method(...)
            stmt = model.statement(call)
            if (isinstance(stmt, ast.Assign) and stmt.value is call and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)):
                _instance_calls(model, text, stmt, stmt.targets[0].id, q, ref, add, local_uses)
            continue
        parent = ref.parent
        if isinstance(parent, ast.Call) and parent.args and parent.args[0] is ref.node and _is_partial(model, parent):
            add(parent, q, "partial", ref.node, ref)
        elif isinstance(parent, ast.ClassDef) and ref.node in parent.bases:
            _super_calls(model, text, parent, q, add)
    out.sort(key=lambda s: (s.call.lineno, s.call.col_offset))
    return out


def _is_partial(model: "SemanticModel", call: ast.Call) -> bool:
    """``call.func`` is ``functools.partial`` (``from functools import partial`` or
    ``import functools``), checked through the file's import bindings."""
    func = call.func
    if isinstance(func, ast.Name):
        seen = model.bindings_visible(func.id, call)
        return bool(seen) and all(b.is_import and b.module == "functools" and b.imported == "partial" for b in seen)
    if isinstance(func, ast.Attribute) and func.attr == "partial" and isinstance(func.value, ast.Name):
        seen = model.bindings_visible(func.value.id, call)
        return bool(seen) and all(b.is_import and b.module == "functools" and b.imported is None for b in seen)
    return False


def _super_calls(model: "SemanticModel", text: SourceText, cls: ast.ClassDef, base: str, add) -> None:
    """``super().m(...)`` in the methods of ``cls`` when its only base is ``base`` (no
    metaclass, no other base: the next class in the MRO is ``base``)."""
    if len(cls.bases) != 1 or cls.keywords:
        return
    # only lines holding ``super`` can hold a ``super()`` call: the walk skips the others
    lines = text.word_lines("super")
    if not lines:
        return
    for stmt in cls.body:
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        last = stmt.end_lineno or stmt.lineno
        if not text.has_word("super", stmt.lineno, last):
            continue
        for node, owner in _walk_function(stmt, lines if text.is_ascii(stmt.lineno, last) else None):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            sup = node.func.value
            if not (isinstance(sup, ast.Call) and isinstance(sup.func, ast.Name) and sup.func.id == "super"):
                continue
            if sup.args and not (len(sup.args) == 2 and isinstance(sup.args[0], ast.Name)
                                 and sup.args[0].id == cls.name):
                continue
            if model.bindings_visible("super", owner):
                continue  # ``super`` rebound: not the builtin
            name = node.func.attr
            if name == "__init__":
                add(node, base, "init", node.func, guard_node=owner)
            else:
                add(node, f"{base}.{name}", "bound", node.func, guard_node=owner)


_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp,
           ast.DictComp, ast.GeneratorExp)
_NESTED_TYPES = frozenset(_NESTED)


@dataclass
class _LocalUses:
    """How a function's own body uses its plain names: the facts :func:`_instance_calls` needs
    per name. One walk per function and name, restricted to the lines that spell the name (on
    plain ASCII text, where a node can only use a name its lines spell), or one walk of the
    whole function shared by all names. (A whole walk per assignment was quadratic on long
    functions: MC201's largest cost on the corpus.)"""

    killed: set[str]  # rebound in a way that defeats tracking (global, walrus, import, ...)
    stores: dict[str, int]  # name -> plain assignments
    overridden: dict[str, set[str]]  # name -> attributes assigned on it
    calls: dict[str, list[tuple[ast.Call, ast.stmt]]]  # name -> ``name.m(...)`` calls (walk order)


def _local_uses(fn: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[int] | None = None) -> _LocalUses:
    """The facts of ``fn``'s body. With ``lines`` (sorted line numbers), nodes whose lines
    (decorators included) hold none of them are skipped with their subtrees: the facts are then
    complete only for names spelled on those lines. (Dispatch on the exact node class: ``ast``
    builds no subclasses.)"""
    uses = _LocalUses(set(), {}, {}, {})
    killed, stores, overridden, calls = uses.killed, uses.stores, uses.overridden, uses.calls
    stack: list[tuple[ast.AST, ast.stmt | None]] = [(s, s) for s in fn.body]
    pop, push = stack.pop, stack.append
    while stack:
        node, owner = pop()
        if lines is not None and _off_lines(node, lines):
            continue
        t = type(node)
        if t in _NESTED_TYPES:
            # nested scopes: a ``nonlocal`` rebinding or a walrus there also rebinds the name
            for inner in (ast.walk(node) if lines is None else _walk_lines(node, lines)):
                ti = type(inner)
                if ti is ast.Nonlocal:
                    killed.update(inner.names)  # type: ignore[attr-defined]
                elif ti is ast.NamedExpr and type(inner.target) is ast.Name:  # type: ignore[attr-defined]
                    killed.add(inner.target.id)  # type: ignore[attr-defined]
            if t is ast.FunctionDef or t is ast.AsyncFunctionDef or t is ast.ClassDef:
                killed.add(node.name)  # type: ignore[attr-defined]
            continue
        if t is ast.Name:
            if type(node.ctx) is not ast.Load:  # type: ignore[attr-defined]
                stores[node.id] = stores.get(node.id, 0) + 1  # type: ignore[attr-defined]
            continue  # a Name's children are its context only
        if t is ast.Global or t is ast.Nonlocal:
            killed.update(node.names)  # type: ignore[attr-defined]
        elif t is ast.NamedExpr:
            if type(node.target) is ast.Name:  # type: ignore[attr-defined]
                killed.add(node.target.id)  # type: ignore[attr-defined]
        elif t is ast.alias:
            killed.add(node.asname or node.name.partition(".")[0])  # type: ignore[attr-defined]
        elif t is ast.ExceptHandler:
            if node.name:  # type: ignore[attr-defined]
                killed.add(node.name)  # type: ignore[attr-defined]
        elif t is ast.Attribute:
            if type(node.value) is ast.Name and type(node.ctx) is not ast.Load:  # type: ignore[attr-defined]
                overridden.setdefault(node.value.id, set()).add(node.attr)  # type: ignore[attr-defined]
        elif t is ast.Call:
            f = node.func  # type: ignore[attr-defined]
            tf = type(f)
            if tf is ast.Name and f.id in {"setattr", "delattr", "vars"} and node.args \
                    and type(node.args[0]) is ast.Name:  # type: ignore[attr-defined]
                killed.add(node.args[0].id)  # type: ignore[attr-defined]
            if tf is ast.Attribute and type(f.value) is ast.Name:
                calls.setdefault(f.value.id, []).append((node, owner))  # type: ignore[arg-type]
        for field_name in node._fields:
            value = getattr(node, field_name, None)
            if type(value) is list:
                for child in value:
                    if isinstance(child, ast.AST):
                        push((child, child if isinstance(child, ast.stmt) else owner))
            elif isinstance(value, ast.AST):
                push((value, value if isinstance(value, ast.stmt) else owner))
    return uses


def _off_lines(node: ast.AST, lines: list[int]) -> bool:
    """``node`` has lines and none of them (its decorators' included) is in ``lines``."""
    end = getattr(node, "end_lineno", None)
    if end is None:
        return False
    first = node.lineno  # type: ignore[attr-defined]
    decorators = getattr(node, "decorator_list", None)
    if decorators:  # a def's lines start at ``def``: its decorators come before
        first = min(first, *(d.lineno for d in decorators))
    i = bisect_left(lines, first)
    return i == len(lines) or lines[i] > end


def _walk_lines(node: ast.AST, lines: list[int]):
    """``ast.walk(node)`` without the subtrees :func:`_off_lines` rules out."""
    todo = [node]
    while todo:
        n = todo.pop()
        if _off_lines(n, lines):
            continue
        yield n
        todo.extend(ast.iter_child_nodes(n))


def _instance_calls(model: "SemanticModel", text: SourceText, assign: ast.Assign, name: str, cls: str, ref, add,
                    local_uses: dict[int, dict[str | None, _LocalUses]]) -> None:
    """``name.m(...)`` in the function where ``name = cls(...)`` is the only binding of ``name``
    (``local_uses`` caches each function's walks: per name, or ``None`` for the whole body)."""
    fn = model.enclosing_function(assign)
    if fn is None:
        return  # module level: any function may rebind it through ``global``
    if any(a.arg == name for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs,
                                   fn.args.vararg, fn.args.kwarg) if a is not None):
        return
    last = fn.end_lineno or fn.lineno
    walks = local_uses.get(id(fn))
    if walks is None:
        # The first tracked assignment of a function walks it only when ``name.m(`` follows in
        # the text; once walked, later assignments in it skip this check (as they always did).
        if not text.method_call(name, assign.lineno, last):
            return  # no ``name.m(`` in the text after the assignment: skip walking the function
        walks = local_uses[id(fn)] = {}
    uses = walks.get(None) or walks.get(name)
    if uses is None:
        if text.is_ascii(fn.lineno, last):
            uses = walks[name] = _local_uses(fn, text.name_lines(name, fn.lineno, last))
        else:  # NFKC-normalised identifiers may not spell the name: walk it all, once
            uses = walks[None] = _local_uses(fn)
    if name in uses.killed or uses.stores.get(name, 0) != 1:
        return
    overridden = uses.overridden.get(name, set())
    if "__class__" in overridden:
        return
    after = (assign.lineno, assign.col_offset)
    for call, owner in uses.calls.get(name, ()):
        attr = call.func.attr  # type: ignore[attr-defined]
        if (call.lineno, call.col_offset) > after and attr not in overridden:
            add(call, f"{cls}.{attr}", "bound", call.func, ref, guard_node=owner)


def _walk_function(fn: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[int] | None = None):
    """(node, innermost statement) of a method body, not descending into nested functions or
    classes (their ``super()`` means something else). With ``lines`` (sorted line numbers),
    nodes whose lines hold none of them are skipped with their subtrees (the order of the
    others is kept)."""
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
    stack: list[tuple[ast.AST, ast.stmt]] = [(s, s) for s in fn.body if not isinstance(s, nested)]
    while stack:
        node, owner = stack.pop()
        if lines is not None and _off_lines(node, lines):
            continue
        yield node, owner
        for child in ast.iter_child_nodes(node):
            if isinstance(child, nested):
                continue
            stack.append((child, child if isinstance(child, ast.stmt) else owner))


def is_signature_guarded(model: "SemanticModel", node: ast.AST) -> bool:
    """Inside a compatibility guard: the symbol rules' guards (:meth:`SemanticModel.is_guarded`),
    a ``try`` whose handlers catch TypeError (or everything), or an ``if`` that inspects a
    signature."""
    return _signature_guarded(model, node, {})


def _signature_guarded(model: "SemanticModel", node: ast.AST, tests: dict[int, bool]) -> bool:
    """:func:`is_signature_guarded`; ``tests`` remembers per ``if`` node whether its test
    inspects a signature (an outer ``if`` guards many branches)."""
    if model.is_guarded(node):
        return True
    for g in model.guards_of(node):
        if g.kind == "try" and g.part == "body" and g.catches & SIGNATURE_EXCEPTIONS:
            return True
        if g.kind == "if":
            key = id(g.node)
            inspects = tests.get(key)
            if inspects is None:
                inspects = tests[key] = _inspects_signature(getattr(g.node, "test", None))
            if inspects:
                return True
    return False


def _inspects_signature(test: ast.expr | None) -> bool:
    """A name or attribute in ``test`` is one of :data:`_INTROSPECTION` (a plain stack walk on
    the exact node classes ``ast`` builds: ``ast.walk`` cost 0.1 s, profiled, on the corpus)."""
    if test is None:
        return False
    stack: list[ast.AST] = [test]
    while stack:
        n = stack.pop()
        t = type(n)
        if t is ast.Name:
            if n.id in _INTROSPECTION:  # type: ignore[attr-defined]
                return True
            continue
        if t is ast.Attribute and n.attr in _INTROSPECTION:  # type: ignore[attr-defined]
            return True
        for field_name in n._fields:
            value = getattr(n, field_name, None)
            if type(value) is list:
                stack.extend(v for v in value if isinstance(v, ast.AST))
            elif isinstance(value, ast.AST):
                stack.append(value)
    return False

"""What MC301/MC302 share: finding their candidates on the ``ast`` fast path, running the
libcst transform for a file only when there is one, and locating results.

Why here: both rules need the same libcst rewrite of the same text (MC301 with the functions
that already receive groups, MC302 with a selection), and libcst is ~9x slower than ``ast``
(``libcst.parse_module`` plus the plan cost 55 s CPU on the 2,155-file benchmark corpus when 57
files reached it). So detection runs on the shared semantic model: :func:`ignored_candidates`
over-approximates MC301's findings call by call (every call the transform reports is among
them), :func:`selected_uses` does the same for MC302, and only files with a candidate
are parsed with libcst (a handful per corpus), which then decides exactly and builds the fix.
libcst itself is imported only then. Results are memoised per (text, options).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from packaging.version import Version

from mcore_lint.groups import vocabulary as V

if TYPE_CHECKING:
    from mcore_lint.groups.transform import GroupsResult, Options
    from mcore_lint.semantic import SemanticModel
    from mcore_lint.target import Target


def uses_global_getters(model: "SemanticModel") -> bool:
    """True when the file calls a parallel_state group getter (cheap, from resolved names)."""
    for ref in model.references_to(V.PARALLEL_STATE):
        if ref.qualname.rsplit(".", 1)[-1] in V.GETTERS:
            return True
    return False


_GROUP_WORD = re.compile(r"\b(?:%s)\b" % "|".join([*V.GROUP_BY_NAME, *V.COLLECTION_PARAMS]))


# ----------------------------------------------------------------------------- MC301 candidates
#
# The transform (analysis.py) reports a getter call as ignoring a group when: the call sits in
# the own body of a top-level function or of a method of a top-level class (nested defs and
# classes are not scanned); its arguments are convertible (none, or a literal
# ``with_context_parallel`` for the data-parallel getters); it is not the author's fallback
# (an enclosing ``if``/conditional expression tests the group, or ``<group> = get_..._group()``);
# and the function has the group: a parameter of that name, ``pg_collection``, a
# ``<param>.<group>`` read, or (methods) ``self.<group>`` assigned in a method of the class.
# :func:`ignored_candidates` checks exactly these conditions where they are cheap and
# over-approximates the rest (early returns that test the group, locals shadowing it,
# ``@staticmethod``), so it never misses a call the transform reports.


def _test_names(test: ast.expr) -> set[str]:
    """Names and attribute names read by a test (the transform's ``_names_in``)."""
    out: set[str] = set()
    for n in ast.walk(test):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Attribute):
            out.add(n.attr)
    return out


def _own_function(model: "SemanticModel", call: ast.Call):
    """(function, class or None, names tested by enclosing ifs) when ``call`` is in the own body
    of a top-level function or of a method of a top-level class; else None."""
    tested: set[str] = set()
    node: ast.AST = call
    while True:
        parent = model.parent(node)
        if parent is None or isinstance(parent, (ast.Module, ast.ClassDef)):
            return None
        if isinstance(parent, (ast.If, ast.IfExp)):
            tested |= _test_names(parent.test)
        elif isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
            outer = model.parent(parent)
            if isinstance(outer, ast.Module):
                return parent, None, tested
            if isinstance(outer, ast.ClassDef) and isinstance(model.parent(outer), ast.Module):
                return parent, outer, tested
            return None
        node = parent


def _convertible_group(getter: str, call: ast.Call) -> str | None:
    """The group a getter call reads, or None when its arguments make it unconvertible."""
    wcp = False
    if call.args and (getter not in V.DATA_PARALLEL_GETTERS or len(call.args) > 1
                      or not _is_bool(call.args[0])):
        return None
    if call.args:
        wcp = call.args[0].value is True  # type: ignore[attr-defined]
    for kw in call.keywords:
        if getter not in V.DATA_PARALLEL_GETTERS or kw.arg != "with_context_parallel" or not _is_bool(kw.value):
            return None
        wcp = kw.value.value is True  # type: ignore[attr-defined]
    hit = V.group_for_call(getter, wcp)
    return hit[0] if hit else None


def _is_bool(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, bool)


def _param_names(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    a = fn.args
    names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    names += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
    return names


_OWN_SCOPE_STOP = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)  # the transform enters lambdas


@dataclass
class _FunctionFacts:
    """What the transform's scan of one function decides sources with, read with ``ast``:
    ``locals``/``attr_stored`` are subsets of the transform's and ``attr_bases`` a superset, so every
    test built on them errs towards "may have a source"."""

    params: list[str]
    locals: set[str]  # plain names bound in the function's own body
    attr_bases: dict[str, set[str]]  # group -> params P read as ``P.<group>``
    attr_stored: set[str]  # ``P.<attr>`` assigned in the own body
    exits: list[tuple[tuple[int, int], set[str]]] = field(default_factory=list)  # (end, names) of
    # each ``if <test>: ... return/raise`` without ``else``: what follows is its fallback path


def _function_facts(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> _FunctionFacts:
    facts = _FunctionFacts(_param_names(fn), set(), {}, set())
    params = set(facts.params)
    stack: list[ast.AST] = list(fn.body)
    if fn.returns is not None:
        stack.append(fn.returns)
    while stack:
        node = stack.pop()
        if isinstance(node, _OWN_SCOPE_STOP):
            continue
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Store):
                facts.locals.add(node.id)
            continue
        if isinstance(node, ast.If) and not node.orelse and isinstance(node.body[-1], (ast.Return, ast.Raise)):
            facts.exits.append(((node.end_lineno or node.lineno, node.end_col_offset or 0), _test_names(node.test)))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if isinstance(node.ctx, ast.Store):
                facts.attr_stored.add(f"{node.value.id}.{node.attr}")
            elif node.attr in V.GROUP_BY_NAME and node.value.id in params:
                facts.attr_bases.setdefault(node.attr, set()).add(node.value.id)
        stack.extend(ast.iter_child_nodes(node))
    return facts


#: ``self.<group>`` in text, whitespace and line continuations allowed around the dot
_SELF_GROUP = re.compile(r"\bself(?:\s|\\)*\.(?:\s|\\)*(?:%s)\b" % "|".join(V.GROUP_BY_NAME))


def _self_attr_stores(cls: ast.ClassDef, model: "SemanticModel") -> set[str]:
    """Attribute names assigned as ``self.<attr>`` in the methods of ``cls`` (only group names
    are asked for: a class whose text names no ``self.<group>`` has none, without a walk)."""
    out: set[str] = set()
    text = model.lines_text(_first_line(cls), cls.end_lineno or cls.lineno)
    if not any(g in text for g in V.GROUP_BY_NAME) or not _SELF_GROUP.search(text):
        return out
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for n in ast.walk(stmt):
                if (isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
                        and isinstance(n.value, ast.Name) and n.value.id == "self"):
                    out.add(n.attr)
    return out


def _has_source(group: str, fn, cls, facts: _FunctionFacts, tested: set[str],
                carried_of: dict[int, set[str]], model: "SemanticModel") -> bool:
    """May the transform find a source for ``group`` in ``fn`` that it would use here?"""
    if group in facts.params:
        return True
    if group not in facts.locals:
        if fn.name != "__init__":
            for base in facts.attr_bases.get(group, ()):
                if f"{base}.{group}" not in facts.attr_stored and (base in ("self", "cls") or base not in tested):
                    return True
        if any(c in facts.params for c in V.COLLECTION_PARAMS) and not tested.intersection(V.COLLECTION_PARAMS):
            return True
    if (cls is not None and fn.name != "__init__" and facts.params[:1] == ["self"]
            and f"self.{group}" not in facts.attr_stored):
        carried = carried_of.get(id(cls))
        if carried is None:
            carried = carried_of[id(cls)] = _self_attr_stores(cls, model)
        if group in carried:
            return True
    return False


def ignored_candidates(model: "SemanticModel") -> list[ast.Call]:
    """Getter calls that may ignore a group their function has (a superset of the calls the
    transform reports for MC301; see the comment above). Empty for almost every file, so MC301
    parses a file with libcst only when this is not empty."""
    out: list[ast.Call] = []
    worded: bool | None = None  # does the text name a group at all (checked once, if needed)
    facts_of: dict[int, _FunctionFacts] = {}
    carried_of: dict[int, set[str]] = {}
    for ref in model.references_to(V.PARALLEL_STATE):
        module, _, getter = ref.qualname.rpartition(".")
        call = ref.call
        if module != V.PARALLEL_STATE or getter not in V.GETTERS or call is None:
            continue
        if ref.binding.scope.kind != "module":
            continue  # imported inside a function: the transform resolves module imports only
        if worded is None:
            worded = bool(_GROUP_WORD.search(model.source))
        if not worded:
            return []
        group = _convertible_group(getter, call)
        if group is None:
            continue
        placed = _own_function(model, call)
        if placed is None:
            continue
        fn, cls, tested = placed
        if group in tested:
            continue  # the author's own fallback for that group
        parent = model.parent(call)
        if (V.GETTERS[getter][1] == "group" and isinstance(parent, ast.Assign) and parent.value is call
                and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name)
                and parent.targets[0].id == group):
            continue  # `tp_group = get_tensor_model_parallel_group()`: a fallback
        facts = facts_of.get(id(fn))
        if facts is None:
            facts = facts_of[id(fn)] = _function_facts(fn)
        at = (call.lineno, call.col_offset)
        for end, names in facts.exits:
            if end <= at:
                tested = tested | names
        if group in tested:
            continue  # after `if <group> is not None: return ...`: the fallback path
        if _has_source(group, fn, cls, facts, tested, carried_of, model):
            out.append(call)
    return out


def selected_uses(model: "SemanticModel", select: tuple[str, ...], metadata: bool) -> bool:
    """Some selected function may gain groups: its span calls a parallel_state group getter, or
    (``metadata``: targets that read ``metadata['dp_cp_group']``) mentions ``metadata``.

    A superset of the functions the transform's fixpoint starts from (a selected function gains
    only through its own getter calls or metadata dicts, or by calling a selected function that
    gained), so when this is False MC302's rewrite of the selected functions is empty. On the
    benchmark corpus it sends 9 files to libcst instead of 66."""
    from mcore_lint.groups.presets import matches

    if not select:
        return False
    spans = [(fn.lineno, fn.end_lineno or fn.lineno) for fn in _functions(model)
             if matches(_qualname(model, fn), select, model.module)]
    if not spans:
        return False
    for ref in model.references_to(V.PARALLEL_STATE):
        if ref.call is None or ref.qualname.rsplit(".", 1)[-1] not in V.GETTERS:
            continue
        line = ref.node.lineno
        if any(a <= line <= b for a, b in spans):
            return True
    if metadata:
        return any("metadata" in model.lines_text(a, b) for a, b in spans)
    return False


def metadata_dict_in_scope(model: "SemanticModel") -> bool:
    """A function with a ``dp_cp_group`` parameter passes a literal ``metadata={...}`` without
    the ``dp_cp_group`` key to ``*.sharded_state_dict(...)``: the one rewrite MC302 makes outside
    the selected functions (targets 0.16.0+). Mirrors the transform's scan of such calls."""
    for fn in _metadata_dict_functions(model):
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name != "sharded_state_dict":
                continue
            for kw in node.keywords:
                if kw.arg == "metadata" and isinstance(kw.value, ast.Dict) and not any(
                        isinstance(k, ast.Constant) and k.value == V.METADATA_KEY for k in kw.value.keys):
                    return True
    return False


def oldest_release(target: "Target") -> str | None:
    """The oldest release the code must run on (facts must hold on all of them), or None."""
    releases = target.releases
    if target.version is None and not str(target.span):
        return None  # unconstrained: assume the oldest (mcore_compat imports, no metadata key)
    return str(min(releases)) if releases else None


@lru_cache(maxsize=16)
def _cached(source: str, options: "Options") -> "GroupsResult":
    from mcore_lint.groups.transform import thread_groups

    return thread_groups(source, options)


def _qualname(model: "SemanticModel", fn) -> str:
    cls = model.parent(fn)
    return f"{cls.name}.{fn.name}" if isinstance(cls, ast.ClassDef) else fn.name


def _metadata_dict_functions(model: "SemanticModel") -> list:
    """Functions with a ``dp_cp_group`` parameter that pass ``metadata={...}`` to
    ``sharded_state_dict`` (a superset: any such keyword, with or without the key)."""
    src = model.source
    if "sharded_state_dict" not in src or "dp_cp_group" not in src or "metadata" not in src:
        return []
    return [fn for fn in _functions(model) if "dp_cp_group" in _param_names(fn) and any(
        isinstance(n, ast.keyword) and n.arg == "metadata" for n in ast.walk(fn))]


def kept_functions(model: "SemanticModel", target: "Target", *, select: tuple[str, ...],
                   rewrite_in_scope: bool) -> set[int]:
    """``id()``s of the top-level statements the transform may change or must see, for
    :mod:`.elide`: a superset, decided on the ``ast``.

    MC301 (``rewrite_in_scope``, nothing selected) changes the functions holding a candidate
    getter call and, on 0.16.0+ targets, metadata dicts of functions with ``dp_cp_group``.
    MC302 changes selected functions (all are kept: they may gain groups through each other),
    those metadata dicts, and call sites of selected functions in any function (kept when it
    names one). A kept method also keeps the methods of its class that assign a
    ``self.<group>`` attribute (the transform reads those to know what instances carry)."""
    fns: list = []
    if min_version(target, "0.16.0"):
        fns += _metadata_dict_functions(model)
    if rewrite_in_scope:
        fns += [placed[0] for call in ignored_candidates(model)
                if (placed := _own_function(model, call)) is not None]
    if select:
        from mcore_lint.groups.presets import matches

        selected = [fn for fn in _functions(model) if matches(_qualname(model, fn), select, model.module)]
        fns += selected
        names = {fn.name for fn in selected}
        if names:
            # the text first: walking every function of a big module was most of this call
            word = re.compile(r"\b(?:%s)\b" % "|".join(map(re.escape, sorted(names))))
            for fn in _functions(model):
                if not word.search(model.lines_text(_first_line(fn), fn.end_lineno or fn.lineno)):
                    continue
                if any((isinstance(n, ast.Name) and n.id in names)
                       or (isinstance(n, ast.Attribute) and n.attr in names) for n in ast.walk(fn)):
                    fns.append(fn)
    keep: set[int] = set()
    classes: set[int] = set()
    for fn in fns:
        keep.add(id(fn))
        parent = model.parent(fn)
        if isinstance(parent, ast.ClassDef) and id(parent) not in classes:
            classes.add(id(parent))
            keep.update(id(m) for m in parent.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                        and _stores_group_attr(m, model))
    return keep


def _first_line(node) -> int:
    """First line of a definition, decorators included."""
    return min([d.lineno for d in getattr(node, "decorator_list", ())] + [node.lineno])


def _stores_group_attr(fn, model: "SemanticModel") -> bool:
    text = model.lines_text(_first_line(fn), fn.end_lineno or fn.lineno)
    if not any(g in text for g in V.GROUP_BY_NAME):
        return False  # the text first: walking every method of a big class was most of kept_functions
    return any(isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and n.attr in V.GROUP_BY_NAME
               for n in ast.walk(fn))


def run(model: "SemanticModel", target: "Target", *, select: tuple[str, ...], rewrite_in_scope: bool,
        plan_only: bool = False) -> "GroupsResult | None":
    """The transform's result for ``model``'s text, or None when libcst cannot parse it.

    The transform sees the module with the definitions it cannot touch elided (see
    :mod:`.elide`); its line edits are then applied to the real text. Should an edit ever land
    on an elided line, the whole module is transformed instead. ``plan_only``: the findings
    without the rewrite (``Options.plan_only``; a text report needs no edits); then there are
    no edits to check against the elided lines (the differential test
    ``tests/real/test_groups_elided.py`` shows the elided plan equals the whole module's)."""
    from mcore_lint.fix.edits import apply_edits
    from mcore_lint.groups.elide import edits_touch, elide
    from mcore_lint.groups.transform import GroupsResult, Options, edits_from_diff

    def_lines = tuple((_qualname(model, fn), fn.lineno) for fn in _functions(model))
    options = Options(select=select, rewrite_in_scope=rewrite_in_scope, target=oldest_release(target),
                      module_name=model.module, is_package=model.is_package, def_lines=def_lines,
                      plan_only=plan_only)
    keep = kept_functions(model, target, select=select, rewrite_in_scope=rewrite_in_scope)
    part = elide(model.tree, model.source, keep, compact=plan_only)
    if part.trimmed:
        try:
            got = _cached(part.text, options)
            if got.deferred:
                return GroupsResult(model.source, model.source, got.changes, got.ignored, got.imports, got.notes,
                                    deferred=True)
            edits = edits_from_diff(part.text, got.code) if got.changed else ()
            if plan_only and edits:
                raise ValueError("positions on a compacted text")  # the transform could not defer
            if not edits_touch(edits, part.lines):
                code = apply_edits(model.source, edits) if edits else model.source
                return GroupsResult(model.source, code, got.changes, got.ignored, got.imports, got.notes,
                                    precomputed_edits=edits)
        except Exception:  # noqa: BLE001 - whatever went wrong on the elided text, the whole module decides
            pass
    try:
        return _cached(model.source, options)
    except Exception:  # noqa: BLE001 - libcst rejects some code ast accepts: no finding, no crash
        return None


def _char_col(line: str, col_bytes: int) -> int:
    return len(line.encode("utf-8")[:col_bytes].decode("utf-8", errors="replace"))


def _functions(model: "SemanticModel"):
    for node in model.tree.body:
        for c in (node.body if isinstance(node, ast.ClassDef) else [node]):
            if isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield c


def find_function(model: "SemanticModel", name_line: int) -> ast.AST | None:
    """The top-level function or method whose ``def`` is on ``name_line``."""
    return next((fn for fn in _functions(model) if fn.lineno == name_line), None)


def locate_ignored(model: "SemanticModel", item) -> ast.AST | None:
    """The ast.Call of an :class:`~mcore_lint.groups.transform.Ignored` call: by its position,
    or in a plan-only result by its anchor (the n-th call of that name in the function's
    ``def`` statement, in source order, as the transform counted on its libcst tree)."""
    if item.anchor is None:
        return find_call(model, item.line, item.column)
    qualname, name, n = item.anchor
    fns = [fn for fn in _functions(model) if _qualname(model, fn) == qualname]
    if len(fns) != 1:
        return None
    calls = [c for c in ast.walk(fns[0]) if isinstance(c, ast.Call) and (
        (isinstance(c.func, ast.Name) and c.func.id == name)
        or (isinstance(c.func, ast.Attribute) and c.func.attr == name))]
    calls.sort(key=lambda c: (c.lineno, c.col_offset, -(c.end_lineno or 0), -(c.end_col_offset or 0)))
    return calls[n] if n < len(calls) else None


def find_call(model: "SemanticModel", line: int, column: int) -> ast.AST | None:
    """The ast.Call starting at 1-based ``line``/``column`` (characters); walks only the
    function containing that line."""
    lines = model.source.splitlines()
    for fn in _functions(model):
        if not fn.lineno <= line <= (fn.end_lineno or fn.lineno):
            continue
        for node in ast.walk(fn):
            if (isinstance(node, ast.Call) and node.lineno == line
                    and _char_col(lines[line - 1], node.col_offset) + 1 == column):
                return node
    return None


def min_version(target: "Target", release: str) -> bool:
    oldest = oldest_release(target)
    return oldest is not None and Version(oldest) >= Version(release)

"""What MC301/MC302 share: running the transform for a rule's file, once, and locating results.

Why here: both rules need the same libcst rewrite of the same text (MC301 with the functions
that already receive groups, MC302 with a selection), and libcst is ~9x slower than ``ast``;
the cheap ``ast`` prefilter (:func:`uses_global_getters`) decides whether a file is parsed with
libcst at all, and results are memoised per (text, options).
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from packaging.version import Version

from mcore_lint.groups import vocabulary as V
from mcore_lint.groups.transform import GroupsResult, Options, thread_groups

if TYPE_CHECKING:
    from mcore_lint.semantic import SemanticModel
    from mcore_lint.target import Target


def uses_global_getters(model: "SemanticModel") -> bool:
    """True when the file calls a parallel_state group getter (cheap, from resolved names)."""
    for ref in model.references_to(V.PARALLEL_STATE):
        if ref.qualname.rsplit(".", 1)[-1] in V.GETTERS:
            return True
    return False


_HOLDERS = frozenset(V.GROUP_BY_NAME) | frozenset(V.COLLECTION_PARAMS)


def _reads_group_attribute(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr in V.GROUP_BY_NAME for n in ast.walk(node))


def may_ignore_groups(model: "SemanticModel") -> bool:
    """Cheap (ast) test for MC301: some getter call sits in a function that has a group - a
    parameter ``tp_group``/``pg_collection``/..., a ``x.tp_group`` read, or a class whose
    instances carry ``self.tp_group``. Only files passing it are parsed with libcst."""
    if not _GROUP_WORD.search(model.source):
        return False
    seen: set[int] = set()
    for ref in model.references_to(V.PARALLEL_STATE):
        if ref.qualname.rsplit(".", 1)[-1] not in V.GETTERS:
            continue
        fn = model.enclosing_function(ref.node)
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        a = fn.args
        names = {x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)}
        if names & _HOLDERS or _reads_group_attribute(fn):
            return True
        cls = model.enclosing_class(fn)
        if cls is not None and id(cls) not in seen:
            seen.add(id(cls))
            if _reads_group_attribute(cls):
                return True
    return False


_GROUP_WORD = re.compile(r"\b(?:%s)\b" % "|".join([*V.GROUP_BY_NAME, *V.COLLECTION_PARAMS]))


def oldest_release(target: "Target") -> str | None:
    """The oldest release the code must run on (facts must hold on all of them), or None."""
    releases = target.releases
    if target.version is None and not str(target.span):
        return None  # unconstrained: assume the oldest (mcore_compat imports, no metadata key)
    return str(min(releases)) if releases else None


@lru_cache(maxsize=16)
def _cached(source: str, options: Options) -> GroupsResult:
    return thread_groups(source, options)


def run(model: "SemanticModel", target: "Target", *, select: tuple[str, ...], rewrite_in_scope: bool) -> GroupsResult | None:
    """The transform's result for ``model``'s text, or None when libcst cannot parse it."""
    options = Options(select=select, rewrite_in_scope=rewrite_in_scope, target=oldest_release(target),
                      module_name=model.module, is_package=model.is_package)
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

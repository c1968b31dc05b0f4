"""What MC301/MC302 share: running the transform for a rule's file, once, and locating results.

Why here: both rules need the same libcst rewrite of the same text (MC301 with the functions
that already receive groups, MC302 with a selection), and libcst is ~9x slower than ``ast``;
the cheap ``ast`` prefilter (:func:`uses_global_getters`) decides whether a file is parsed with
libcst at all, and results are memoised per (text, options).
"""

from __future__ import annotations

import ast
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

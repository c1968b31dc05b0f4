"""A read-only walk of a libcst tree that calls a visitor's ``visit_X``/``leave_X`` methods in the
order ``node.visit(visitor)`` would, about 4x cheaper.

Why: ``CSTNode.visit`` rebuilds every node it passes through (``_visit_and_replace_children``
constructs a new node even for a read-only ``CSTVisitor``), and it visits whitespace, commas and
parentheses too. The group analysis only reads, and only cares about expressions and statements:
scanning the functions MC301/MC302 keep cost 3.0 s of a 25 s profiled corpus run with
``visit``. This walk reads each node's dataclass fields (per type, once), skips whitespace and
operator/bracket tokens, and keeps libcst's source order where the field order differs from it
(:data:`_SOURCE_ORDER`; ``tests/real/test_groups_walk.py`` checks the order against ``visit`` on
real code).

Semantics kept from ``CSTVisitor``: ``visit_X`` returning ``False`` skips the node's children,
``leave_X`` runs after the children (also when they were skipped).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import libcst as cst

#: Node types whose dataclass field order is not the source order ``visit`` uses (libcst 1.x),
#: checked against ``visit`` on every file of the benchmark corpus. Fields not named here
#: follow in field order (they hold only whitespace/tokens in these types today).
_SOURCE_ORDER: dict[type, tuple[str, ...]] = {
    cst.Arg: ("star", "keyword", "value"),
    cst.FunctionDef: ("decorators", "asynchronous", "name", "type_parameters", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    cst.IfExp: ("body", "test", "orelse"),
    cst.ExceptHandler: ("type", "name", "body"),
    cst.ExceptStarHandler: ("type", "name", "body"),
    cst.Parameters: ("posonly_params", "posonly_ind", "params", "star_arg", "kwonly_params", "star_kwarg"),
    cst.MatchCase: ("pattern", "guard", "body"),
    cst.With: ("asynchronous", "items", "body"),
    cst.For: ("asynchronous", "target", "iter", "body", "orelse"),
    cst.CompFor: ("asynchronous", "target", "iter", "ifs", "inner_for_in"),
}

_TRIVIA_MODULES = ("libcst._nodes.whitespace", "libcst._nodes.op")
_TRIVIA_NAMES = frozenset({"LeftParen", "RightParen", "LeftSquareBracket", "RightSquareBracket",
                           "LeftCurlyBrace", "RightCurlyBrace"})

_FIELDS: dict[type, tuple[str, ...]] = {}
_TRIVIA: dict[type, bool] = {}
_CST = cst.CSTNode


def _fields(t: type) -> tuple[str, ...]:
    names = [f.name for f in dataclasses.fields(t)]
    first = [n for n in _SOURCE_ORDER.get(t, ()) if n in names]
    out = tuple(first + [n for n in names if n not in first])
    _FIELDS[t] = out
    return out


def _is_trivia(t: type) -> bool:
    hit = _TRIVIA.get(t)
    if hit is None:
        hit = _TRIVIA[t] = t.__module__ in _TRIVIA_MODULES or t.__name__ in _TRIVIA_NAMES
    return hit


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The node's non-trivia children in source order."""
    t = type(node)
    names = _FIELDS.get(t) or _fields(t)
    out: list[cst.CSTNode] = []
    trivia = _TRIVIA
    for name in names:
        v = getattr(node, name)
        if isinstance(v, _CST):
            tv = type(v)
            if not (trivia.get(tv) if tv in trivia else _is_trivia(tv)):
                out.append(v)
        elif type(v) is tuple or type(v) is list:
            for x in v:
                if isinstance(x, _CST):
                    tx = type(x)
                    if not (trivia.get(tx) if tx in trivia else _is_trivia(tx)):
                        out.append(x)
    return out


_Handlers = tuple[Callable[[Any], Any] | None, Callable[[Any], Any] | None]


def walk(node: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """``node.visit(visitor)`` for a read-only visitor, without rebuilding nodes."""
    table: dict[type, _Handlers] = {}
    _walk(node, visitor, table)


def _handlers(visitor: cst.CSTVisitor, t: type, table: dict[type, _Handlers]) -> _Handlers:
    name = t.__name__
    got = (getattr(visitor, f"visit_{name}", None), getattr(visitor, f"leave_{name}", None))
    table[t] = got
    return got


def _walk(node: cst.CSTNode, visitor: cst.CSTVisitor, table: dict[type, _Handlers]) -> None:
    t = type(node)
    enter, leave = table.get(t) or _handlers(visitor, t, table)
    if enter is None or enter(node) is not False:
        for child in children(node):
            _walk(child, visitor, table)
    if leave is not None:
        leave(node)

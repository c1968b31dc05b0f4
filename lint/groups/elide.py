"""Hand libcst only the part of a module the group transform can change.

Why: libcst parses ~9x slower than ``ast`` and its metadata and visits cost more again, and the
files MC301/MC302 must rewrite are the big ones (``training.py`` 211 kB, ``checkpointing.py``
120-165 kB), where the functions involved are a few percent of the text. So the transform runs on
a copy of the module in which every other top-level function and class is *elided*: its first
line becomes a one-line stub that keeps the name bound (``def name(*a, **k): ...`` /
``class Name: ...``, so the transform still sees what the module defines), every further line
becomes a comment naming its line number. Methods of a class the transform needs are elided the
same way, one by one. Line numbers and columns of the kept code do not move,
so the transform's positions and line edits apply to the original text unchanged.

Which definitions to keep is decided on the ``ast`` (see ``rule_support.kept_functions``): a
superset of what the transform can touch. Every non-definition top-level statement is kept
(imports, ``try``/``if`` blocks, assignments: the transform reads imports and module names from
them). :func:`edits_touch` lets the caller check that no edit lands on an elided line; if one
ever did, the caller falls back to the whole module.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from mcore_lint.findings import Edit

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")


@dataclass(frozen=True)
class Elided:
    text: str  # the module with the elided definitions replaced
    lines: frozenset[int]  # 1-based line numbers that were replaced (stub and comment lines)

    @property
    def trimmed(self) -> bool:
        return bool(self.lines)


def _lines(source: str) -> list[str]:
    """Lines with their endings, split as ``ast`` counts lines (\\r\\n, \\r, \\n only)."""
    out = _LINE.findall(source)
    if out and out[-1] == "":
        out.pop()
    return out


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")):]


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", ())
    return min([node.lineno, *(d.lineno for d in decorators)])


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip(" \t"))]


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def elide(tree: ast.Module, source: str, keep: set[int], compact: bool = False) -> Elided:
    """``source`` with the definitions not in ``keep`` (``id()``s) elided: top-level functions
    and classes, and methods of top-level classes. A class none of whose methods is kept, and
    that is not kept itself, goes whole; otherwise only its methods that are not kept go.

    ``compact``: the lines after each stub are dropped instead of commented out, so line
    numbers move. For a caller that needs no positions from the result (the plan-only run of a
    text report, which places functions by their ``ast`` lines and calls by anchor): libcst then
    parses thousands of lines less on the big files (a commented line still costs it a node)."""
    lines = _lines(source)
    replaced: set[int] = set()

    def drop(node: ast.stmt) -> None:
        first, last = _first_line(node), node.end_lineno or node.lineno
        if last > len(lines) or replaced.intersection((first, last)):
            return
        head = lines[first - 1]
        if head[node.col_offset:node.col_offset + 1] in ("", " ", "\t") and node.col_offset:
            return  # defensive: the statement does not start its line as expected
        stub = (f"class {node.name}: ..." if isinstance(node, ast.ClassDef)
                else f"def {node.name}(*args, **kwargs): ...")
        lines[first - 1] = _indent(head) + stub + _ending(head)
        for n in range(first + 1, last + 1):
            lines[n - 1] = "" if compact else f"# mcore-lint elided line {n}" + _ending(lines[n - 1])
        replaced.update(range(first, last + 1))

    for node in tree.body:
        if not isinstance(node, _DEFS) or id(node) in keep:
            continue
        if isinstance(node, ast.ClassDef):
            methods = [m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
            if any(id(m) in keep for m in methods):
                for m in methods:
                    if id(m) not in keep:
                        drop(m)
                continue
        drop(node)
    if not replaced:
        return Elided(source, frozenset())
    return Elided("".join(lines), frozenset(replaced))


def edits_touch(edits: tuple[Edit, ...], lines: frozenset[int]) -> bool:
    """True when an edit replaces text on an elided line (an insertion between lines does not)."""
    for e in edits:
        start, end = e.location, e.end_location
        if (start.row, start.column) == (end.row, end.column):
            continue
        last = end.row if end.column > 1 else end.row - 1  # an end at column 1 stops before that line
        if any(n in lines for n in range(start.row, last + 1)):
            return True
    return False

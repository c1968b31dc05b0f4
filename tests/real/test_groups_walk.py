"""``lint/groups/walk.py`` visits real code's nodes in exactly libcst's own ``visit`` order.

The group analysis counts statements and calls in visit order (a local's first binding vs a
getter call, ``if ...: return`` before a call), so the cheap walk must reproduce the order of
``CSTNode.visit`` node for node (whitespace and tokens aside), and call the visitor's
``visit_X``/``leave_X`` the same way, on every construct real Megatron code uses.
"""

from __future__ import annotations

import libcst as cst
import pytest

from mcore_lint.groups.walk import _is_trivia, children, walk

pytestmark = pytest.mark.real

PARTS = ("megatron-core-0.16.1", "megatron-core-0.19.2", "megatron-bridge-0.6.2", "nemo-2.2.1")
#: every 10th file of each part (~215 files; libcst parsing is the cost of this test, ~20 s; the
#: whole corpus was checked once, 2,155 files, no difference)
STRIDE = 10


class _Order(cst.CSTVisitor):
    def __init__(self) -> None:
        self.seq: list[int] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if not _is_trivia(type(node)):
            self.seq.append(id(node))
        return True


class _Events(cst.CSTVisitor):
    """Records visit/leave events of a few types and prunes nested functions' bodies, as the
    group scanner does."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.depth = 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.events.append(("def", id(node)))
        self.depth += 1
        return self.depth == 1

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth -= 1
        self.events.append(("/def", id(node)))

    def visit_Call(self, node: cst.Call) -> None:
        self.events.append(("call", id(node)))

    def visit_If(self, node: cst.If) -> None:
        self.events.append(("if", id(node)))

    def leave_If(self, node: cst.If) -> None:
        self.events.append(("/if", id(node)))

    def visit_Name(self, node: cst.Name) -> None:
        self.events.append(("name", id(node)))


def _preorder(node: cst.CSTNode, out: list[int]) -> None:
    out.append(id(node))
    for child in children(node):
        _preorder(child, out)


def test_walk_order_equals_visit_on_real_code():
    from tools.corpus import files

    checked = 0
    for part in PARTS:
        for path in files(part)[::STRIDE]:
            try:
                module = cst.parse_module(path.read_text(encoding="utf-8"))
            except Exception:  # noqa: BLE001 - libcst rejects a few files ast accepts
                continue
            ref = _Order()
            module.visit(ref)
            got: list[int] = []
            _preorder(module, got)
            assert got == ref.seq, f"{path}: walk order differs from CSTNode.visit"
            a, b = _Events(), _Events()
            module.visit(a)
            walk(module, b)
            assert b.events == a.events, f"{path}: visit/leave events differ"
            checked += 1
    assert checked > 150

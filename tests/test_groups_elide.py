"""lint/groups/elide.py: what the explicit-group rules hand libcst instead of the whole module."""

from __future__ import annotations

import ast
import re
import textwrap

from mcore_lint.findings import Edit, Location
from mcore_lint.groups.elide import edits_touch, elide

SOURCE = textwrap.dedent('''\
    import torch
    from megatron.core import mpu


    @decorator(
        arg=1,
    )
    def unrelated(x):
        """Docstring."""
        return x + 1


    class Trainer:
        attr = 1

        def __init__(self, dp_group=None):
            self.dp_group = dp_group

        @property
        def name(self):
            return "t"

        def loss(self, x):
            return mpu.get_data_parallel_world_size()


    class Other:
        def run(self):
            pass
    ''').replace("\n", "\r\n", 3)  # a few CRLF line ends: kept as they were


def _defs(tree: ast.Module) -> dict[str, ast.AST]:
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out[node.name] = node
            for m in getattr(node, "body", []):
                if isinstance(m, ast.FunctionDef):
                    out[f"{node.name}.{m.name}"] = m
    return out


def _lines(text: str) -> list[str]:
    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)", text)


def test_elided_text_keeps_every_line_and_the_kept_code_byte_for_byte():
    tree = ast.parse(SOURCE)
    d = _defs(tree)
    keep = {id(d["Trainer.loss"]), id(d["Trainer.__init__"])}
    part = elide(tree, SOURCE, keep)
    old, new = _lines(SOURCE), _lines(part.text)
    assert len(old) == len(new)
    # line endings survive on every line
    assert [line[len(line.rstrip("\r\n")):] for line in old] == [line[len(line.rstrip("\r\n")):] for line in new]
    # the kept method, the class header and attributes, and the imports are untouched
    for node in (d["Trainer.loss"], d["Trainer.__init__"]):
        for n in range(node.lineno, node.end_lineno + 1):
            assert new[n - 1] == old[n - 1]
    assert new[0] == old[0] and "class Trainer:" in new[d["Trainer"].lineno - 1]
    assert "attr = 1" in new[d["Trainer"].lineno]
    # a whole unrelated function, decorator included, becomes a stub on its first line
    first = d["unrelated"].decorator_list[0].lineno
    assert new[first - 1].rstrip() == "def unrelated(*args, **kwargs): ..."
    assert all(new[n - 1].startswith("# mcore-lint elided line") for n in range(first + 1, d["unrelated"].end_lineno + 1))
    # an unneeded method of a kept class: a stub at its own indentation
    prop = d["Trainer.name"]
    assert new[prop.decorator_list[0].lineno - 1].rstrip() == "    def name(*args, **kwargs): ..."
    # a class none of whose methods is kept: one stub line
    assert new[d["Other"].lineno - 1].rstrip() == "class Other: ..."
    assert part.lines == frozenset(
        set(range(first, d["unrelated"].end_lineno + 1))
        | set(range(prop.decorator_list[0].lineno, prop.end_lineno + 1))
        | set(range(d["Other"].lineno, d["Other"].end_lineno + 1)))
    # still Python, with the same names bound at the top level and in the kept class (the
    # elided class Other is only its name now)
    again = _defs(ast.parse(part.text))
    assert set(again) == set(d) - {"Other.run"}


def test_nothing_elided_when_everything_is_kept():
    tree = ast.parse(SOURCE)
    keep = {id(n) for n in tree.body}
    part = elide(tree, SOURCE, keep)
    assert part.text == SOURCE and not part.trimmed


def test_edits_touch_elided_lines_only_when_they_replace_them():
    elided = frozenset({5, 6, 7})
    insert_before = Edit("x\n", Location(5, 1), Location(5, 1))
    replace_line_4 = Edit("y\n", Location(4, 1), Location(5, 1))  # ends where line 5 starts
    replace_line_6 = Edit("z\n", Location(6, 1), Location(7, 1))
    replace_8_9 = Edit("w\n", Location(8, 1), Location(10, 1))
    assert not edits_touch((insert_before, replace_line_4, replace_8_9), elided)
    assert edits_touch((replace_line_6,), elided)
    assert edits_touch((Edit("v", Location(3, 1), Location(6, 2)),), elided)


def test_compact_elision_drops_the_elided_lines_and_keeps_the_rest():
    tree = ast.parse(SOURCE)
    d = _defs(tree)
    keep = {id(d["Trainer.loss"]), id(d["Trainer.__init__"])}
    full, compact = elide(tree, SOURCE, keep), elide(tree, SOURCE, keep, compact=True)
    assert compact.lines == full.lines
    new = _lines(compact.text)
    # one stub line per elided definition, nothing else of it
    assert len(new) == len(_lines(SOURCE)) - len(full.lines) + 3
    assert "elided line" not in compact.text and "Docstring" not in compact.text
    # the kept methods are there byte for byte, in order
    text = compact.text
    for node in (d["Trainer.__init__"], d["Trainer.loss"]):
        body = "".join(_lines(SOURCE)[node.lineno - 1:node.end_lineno])
        assert body in text
    assert text.index("def __init__") < text.index("    def name(*args, **kwargs): ...") < text.index("def loss")
    again = _defs(ast.parse(text))
    assert set(again) == set(d) - {"Other.run"}

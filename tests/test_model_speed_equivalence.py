"""The shortcuts that make the semantic model cheap give the answers a plain walk gives.

The builder records blocks instead of statements, finds hot statements by bisection, derives a
node's statement from its parents, and MC501 skips subtrees whose lines never spell the
variable; MC102's analysis keeps answers across files. Each test here checks one shortcut
against a brute-force oracle over the whole tree (or a second, independent run).
"""

from __future__ import annotations

import ast
import random
import textwrap

from mcore_lint.semantic import build_model

PRELUDE = "import megatron.core.parallel_state as ps\nfrom megatron.core import tensor_parallel as tp\n"

# statement shapes that stress the hot-statement search: decorators on their own lines,
# several statements on one line, headers sharing a line with their body, handlers, cases
SHAPES = [
    "x{i} = ps.get_data_parallel_rank()",
    "a{i} = 1; b{i} = tp.layers",
    "if ps.is_pipeline_first_stage(): y{i} = 2",
    "@ps.decorator\n@other\ndef f{i}(a=tp.x):\n    return a",
    "@other\ndef g{i}():\n    return ps.get_tensor_model_parallel_rank()",
    "@ps.only_the_decorator\ndef h{i}():\n    pass",
    "class C{i}(tp.Base):\n    attr = ps.group\n    def m(self):\n        return [q for q in tp.items]",
    "try:\n    z{i} = 1\nexcept (ps.Error, ValueError) as e:\n    z{i} = tp.fallback",
    "for k{i} in tp.things:\n    pass\nelse:\n    ps.done()",
    "with ps.ctx() as c{i}:\n    c{i}.run(tp.arg)",
    "match v{i}:\n    case tp.Kind.A:\n        ps.one()\n    case _ if ps.flag:\n        pass",
    "while ps.more():\n    break",
    "w{i} = {{\n    'k': 1,\n    'v': tp.value,\n}}",
    "# ps in a comment only\nu{i} = 3",
    "s{i} = 'ps.in_a_string'",
    "lam{i} = lambda ps: ps + 1",
    "gen{i} = [tp for tp in range(3)]",
]


def _program(seed: int, n: int = 40) -> str:
    rnd = random.Random(seed)
    parts = [PRELUDE]
    for i in range(n):
        shape = rnd.choice(SHAPES).format(i=i)
        if rnd.random() < 0.3:  # nest it in a function or an if
            shape = f"def outer{i}():\n" + textwrap.indent(shape, "    ")
        elif rnd.random() < 0.2:
            shape = f"if cond{i}:\n" + textwrap.indent(shape, "    ")
        parts.append(shape)
    return "\n".join(parts) + "\n"


def _oracle_parents(tree: ast.AST) -> dict[int, ast.AST]:
    out: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            out[id(child)] = node
    return out


def _shadowed(node: ast.Name, parents: dict[int, ast.AST]) -> bool:
    """Inside a lambda or comprehension that binds the same name (the model's rule)."""
    p = parents.get(id(node))
    while p is not None and not isinstance(p, ast.stmt):
        if isinstance(p, ast.Lambda) and node.id in {a.arg for a in p.args.args}:
            return True
        if isinstance(p, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)) and any(
                isinstance(t, ast.Name) and t.id == node.id for g in p.generators for t in ast.walk(g.target)):
            return True
        p = parents.get(id(p))
    return False


def test_every_use_of_an_imported_name_is_a_reference_in_generated_programs():
    for seed in range(25):
        src = _program(seed)
        tree = ast.parse(src)
        model = build_model(tree, src)
        parents = _oracle_parents(tree)
        want = sorted((n.lineno, n.col_offset) for n in ast.walk(tree)
                      if isinstance(n, ast.Name) and n.id in {"ps", "tp"} and isinstance(n.ctx, ast.Load)
                      and not _shadowed(n, parents))
        got = sorted((r.root.lineno, r.root.col_offset) for r in model.references)
        assert got == want, f"seed {seed}:\n{src}"


def test_statement_facts_computed_on_demand_match_the_tree():
    for seed in range(10):
        src = _program(seed)
        tree = ast.parse(src)
        model = build_model(tree, src)
        parents = _oracle_parents(tree)
        stmts = [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]
        assert sorted(map(id, model.statements)) == sorted(map(id, stmts))
        for stmt in stmts:
            # the model's parent of a statement is a statement (or the module): an ``except`` or
            # ``case`` clause's body belongs to its ``try``/``match`` (as before blocks)
            up = parents[id(stmt)]
            if isinstance(up, (ast.excepthandler, ast.match_case)):
                up = parents[id(up)]
            assert model.parent(stmt) is up
            # the scope: the nearest enclosing def/class, else the module
            p = parents[id(stmt)]
            while not isinstance(p, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                p = parents[id(p)]
            assert model.scope_of(stmt).node is p
            assert model.enclosing_function(stmt) is (p if isinstance(p, ast.FunctionDef) else
                                                      model.enclosing_function(p) if p is not tree else None)


def test_a_walked_expression_knows_its_statement_and_others_do_not():
    src = PRELUDE + textwrap.dedent("""
        def f():
            x = ps.get_data_parallel_rank() + [y for y in tp.items if y]
            other = 1 + 2
            try:
                pass
            except ps.Error:
                pass
    """)
    tree = ast.parse(src)
    model = build_model(tree, src)
    fn = tree.body[2]
    assign, other, trystmt = fn.body
    for node in ast.walk(assign.value):
        if isinstance(node, ast.expr) and model.parent(node) is not None:
            assert model.statement(node) is assign
    # not a hot statement: its expressions were never walked
    assert model.statement(other.value) is None
    handler = trystmt.handlers[0]
    assert model.parent(handler) is trystmt and model.statement(handler) is None
    assert model.statement(handler.type) is trystmt
    assert model.branch_of(handler.type) == ()  # the try's own place, not inside its handler


def test_mc501_pruned_walk_finds_what_a_full_walk_finds():
    from mcore_lint.rules.mc501_string_version_compare import StringVersionCompare, _walk_mentioning

    src = PRELUDE + textwrap.dedent('''
        import megatron.core
        ver = megatron.core.__version__
        def a(v=1):
            if (ver
                    >= "0.9"):
                pass
            doc = "ver >= 0.1"
            return [x for x in range(3) if ver < "1"]
        def b(ver):
            return ver > "0.2"
        class K:
            ver2 = ver
            ok = ver2 < ver
    ''')
    tree = ast.parse(src)
    model = build_model(tree, src)
    for scope in [tree, *[n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]]:
        for name in ("ver", "ver2", "x", "v", "nothing"):
            full = [n for n in ast.walk(scope)]
            pruned = list(_walk_mentioning(scope, name, model))
            kept = {id(n) for n in pruned}
            placed = [n for n in full if id(n) in kept and hasattr(n, "lineno")]  # (ctx/operator
            assert placed == [n for n in pruned if hasattr(n, "lineno")]  # nodes are shared): same order
            got = StringVersionCompare._compares_of_variable(scope, name, model)
            want = StringVersionCompare._compares_of_variable(scope, name)  # no model: ast.walk
            assert [(id(c), id(o)) for c, o in got] == [(id(c), id(o)) for c, o in want]
    assert list(_walk_mentioning(tree, "nothing", model)) == [tree]  # it does prune
    # the module has two stores of ``ver`` (the assignment and b's parameter): nothing reported
    assert StringVersionCompare._compares_of_variable(tree, "ver", model) == []
    assert len(StringVersionCompare._compares_of_variable(tree.body[4], "ver", model)) == 2


def test_mc501_pruned_walk_is_the_full_walk_on_non_ascii_source():
    from mcore_lint.rules.mc501_string_version_compare import _walk_mentioning

    src = "ｖｅｒ = 1\nok = ver < '2'\n"  # NFKC: the first line binds ``ver`` too
    tree = ast.parse(src)
    model = build_model(tree, src)
    assert list(_walk_mentioning(tree, "ver", model)) == list(ast.walk(tree))


def test_symbol_answers_kept_across_files_do_not_leak_between_problems():
    from mcore_lint.api.symbols import problems_of
    from mcore_lint.target import Target

    src = "from megatron.core.transformer.moe.router import TopKRoutr\n"
    target = Target.parse("0.16.1")
    found = []
    for name in ("a.py", "b.py"):
        tree = ast.parse(src)
        model = build_model(tree, src, name)
        probs = problems_of(model, target)
        assert len(probs) == 1
        found.append(probs[0])
        probs[0].close.append("mutated")  # a caller changing its copy
        probs[0].missing_in.clear()
    first, second = found
    assert second.close == ["megatron.core.transformer.moe.router.TopKRouter", "mutated"]
    assert first.close is not second.close
    tree = ast.parse(src)
    third = problems_of(build_model(tree, src, "c.py"), target)[0]
    assert third.close == ["megatron.core.transformer.moe.router.TopKRouter"]
    assert third.missing_in == ["0.16.1"] and third.category == "unknown"

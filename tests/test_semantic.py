"""The semantic model: every import style, scoping, shadowing, guards, relative imports."""

from __future__ import annotations

import ast
import textwrap

import pytest

from mcore_lint.semantic import build_model, module_name_for, resolve_relative


def model(code: str, module: str | None = None, is_package: bool = False, roots=("megatron",)):
    src = textwrap.dedent(code)
    return build_model(ast.parse(src), src, "t.py", module, is_package, roots)


def quals(m) -> list[tuple[int, str]]:
    return [(r.node.lineno, r.qualname) for r in m.references]


PS = "megatron.core.parallel_state"
TP = "megatron.core.tensor_parallel"


@pytest.mark.parametrize("imp,expr", [
    ("import megatron.core.tensor_parallel as tp", "tp.get_x"),
    ("from megatron.core import tensor_parallel", "tensor_parallel.get_x"),
    ("from megatron.core import tensor_parallel as t", "t.get_x"),
    ("import megatron.core.tensor_parallel", "megatron.core.tensor_parallel.get_x"),
    ("import megatron", "megatron.core.tensor_parallel.get_x"),
    ("from megatron import core", "core.tensor_parallel.get_x"),
    ("from megatron import core as mc", "mc.tensor_parallel.get_x"),
    ("from megatron.core.tensor_parallel import get_x", "get_x"),
    ("from megatron.core.tensor_parallel import get_x as gx", "gx"),
])
def test_import_styles_resolve_to_one_qualname(imp, expr):
    m = model(f"{imp}\ny = {expr}()\n")
    assert quals(m) == [(2, f"{TP}.get_x")]
    ref = m.references[0]
    assert ref.call is not None and ref.binding.stmt.lineno == 1
    assert isinstance(ref.binding.stmt, (ast.Import, ast.ImportFrom))


@pytest.mark.parametrize("imp,expr", [
    ("from megatron.core import mpu", "mpu.get_data_parallel_rank"),
    ("import megatron.core.parallel_state as mpu", "mpu.get_data_parallel_rank"),
    ("import megatron.core", "megatron.core.mpu.get_data_parallel_rank"),
    ("from megatron.core.mpu import get_data_parallel_rank", "get_data_parallel_rank"),
])
def test_mpu_is_parallel_state(imp, expr):
    m = model(f"{imp}\n{expr}()\n")
    assert quals(m) == [(2, f"{PS}.get_data_parallel_rank")]


def test_file_without_megatron_builds_nothing():
    m = model("import os\nx = os.path.join('a')\n")
    assert m.imports == [] and m.references == [] and m._stmts == []


def test_untracked_imports_only_recorded_when_root_present():
    m = model("import os\nimport megatron.core as mc\nos.getcwd(); mc.x\n")
    assert [b.name for b in m.imports] == ["os", "mc"]
    assert [b.qualname for b in m.imports] == [None, "megatron.core"]
    assert quals(m) == [(3, "megatron.core.x")]


def test_function_parameter_shadows_module_import():
    m = model("""
        from megatron.core import tensor_parallel
        def f(tensor_parallel):
            return tensor_parallel.a()
        def g():
            return tensor_parallel.b()
    """)
    assert quals(m) == [(6, f"{TP}.b")]


def test_local_assignment_shadows_only_after_it_and_only_in_its_scope():
    m = model("""
        from megatron.core import tensor_parallel
        tensor_parallel.a()
        def f():
            tensor_parallel = object()
            return tensor_parallel.b()
        tensor_parallel.c()
        tensor_parallel = None
        tensor_parallel.d()
    """)
    assert quals(m) == [(3, f"{TP}.a"), (7, f"{TP}.c")]


def test_nested_function_sees_enclosing_function_import():
    m = model("""
        def outer():
            import megatron.core.parallel_state as ps
            def inner():
                return ps.get_data_parallel_group()
            return inner
        ps.get_data_parallel_group()
    """)
    assert quals(m) == [(5, f"{PS}.get_data_parallel_group")]
    ref = m.references[0]
    assert m.enclosing_function(ref.node).name == "inner"
    assert ref.scope.node.name == "inner"


def test_class_scope_not_visible_in_methods():
    m = model("""
        class T:
            from megatron.core import parallel_state as ps
            size = ps.get_data_parallel_world_size()
            def f(self):
                return ps.get_data_parallel_rank()
    """)
    assert quals(m) == [(4, f"{PS}.get_data_parallel_world_size")]
    assert m.enclosing_class(m.references[0].node).name == "T"


def test_global_declaration_binds_module_scope():
    m = model("""
        ps = None
        def setup():
            global ps
            from megatron.core import parallel_state as ps
        def use():
            return ps.get_data_parallel_rank()
    """)
    assert quals(m) == [(7, f"{PS}.get_data_parallel_rank")]
    assert m.references[0].ambiguous  # ``ps = None`` may still hold


def test_conditional_import_is_ambiguous_but_resolved():
    m = model("""
        try:
            from megatron.core import parallel_state as ps
        except ImportError:
            ps = None
        ps.get_data_parallel_rank()
    """)
    assert quals(m) == [(6, f"{PS}.get_data_parallel_rank")]
    assert m.references[0].ambiguous


def test_comprehension_and_lambda_variables_shadow():
    m = model("""
        from megatron.core import tensor_parallel as tp
        a = [tp.x for tp in range(3)]
        b = lambda tp: tp.y
        c = [tp.z for _ in range(3)]
    """)
    assert quals(m) == [(5, f"{TP}.z")]


def test_relative_imports_inside_megatron():
    code = "from ..tensor_parallel import get_x\nfrom .. import parallel_state\nfrom . import sibling\nget_x(); parallel_state.g(); sibling.h()\n"
    m = model(code, module="megatron.core.models.gpt", is_package=False)
    assert quals(m) == [(4, f"{TP}.get_x"), (4, f"{PS}.g"), (4, "megatron.core.models.sibling.h")]


def test_module_name_and_relative_resolution(tmp_path):
    pkg = tmp_path / "megatron" / "core" / "models"
    pkg.mkdir(parents=True)
    for d in (tmp_path / "megatron", tmp_path / "megatron" / "core", pkg):
        (d / "__init__.py").write_text("")
    (pkg / "gpt.py").write_text("")
    assert module_name_for(pkg / "gpt.py") == ("megatron.core.models.gpt", False)
    assert module_name_for(pkg / "__init__.py") == ("megatron.core.models", True)
    assert module_name_for(tmp_path / "loose.py") == ("loose", False)
    assert resolve_relative("x", 1, "megatron.core.models", True) == "megatron.core.models.x"
    assert resolve_relative(None, 2, "megatron.core.models.gpt", False) == "megatron.core"
    assert resolve_relative("x", 5, "megatron.core", False) is None


def test_guards():
    m = model("""
        import megatron.core.tensor_parallel as tp
        from megatron.core import __version__
        try:
            tp.a()
        except (ImportError, AttributeError):
            pass
        if hasattr(tp, "b"):
            tp.b()
        if Version(__version__) >= Version("0.13"):
            tp.c()
        try:
            tp.d()
        except ValueError:
            pass
        tp.e()
    """)
    by = {r.attr: r for r in m.references if r.qualname.startswith(TP + ".")}
    assert m.is_guarded(by["a"].node) and m.guards_of(by["a"].node)[0].is_import_guard
    assert m.is_guarded(by["b"].node) and m.guards_of(by["b"].node)[0].hasattr
    assert m.is_guarded(by["c"].node) and m.guards_of(by["c"].node)[0].version
    assert not m.is_guarded(by["d"].node) and m.guards_of(by["d"].node)[0].kind == "try"
    assert not m.is_guarded(by["e"].node) and m.guards_of(by["e"].node) == ()


def test_positions_are_characters_not_bytes():
    m = model("import megatron.core as mc\nx = 'é'; mc.f()\n")
    (start, end) = m.location(m.references[0].node)
    assert (start.row, start.column, end.column) == (2, 10, 14)
    assert m.segment(m.references[0].node) == "mc.f"


def test_local_name_for_reuses_existing_import():
    m = model("from megatron.core import mpu, tensor_parallel\ntensor_parallel.x()\n")
    assert m.local_name_for(PS, m.references[0].node) == "mpu"
    m = model("import megatron.core.parallel_state\nimport megatron.core.tensor_parallel as tp\ntp.x()\n")
    assert m.local_name_for(PS, m.references[0].node) == PS
    m = model("import megatron.core.tensor_parallel as tp\ntp.x()\n")
    assert m.local_name_for(PS, m.references[0].node) is None


def test_extra_roots_track_other_packages():
    m = model("import mcore_compat as mc\nmc.resolve_groups()\n", roots=("megatron", "mcore_compat"))
    assert quals(m) == [(2, "mcore_compat.resolve_groups")]


def test_attribute_store_and_multiline_statement():
    m = model("""
        from megatron.core import parallel_state
        parallel_state._X = 1
        y = foo(
            1,
            parallel_state.get_data_parallel_group(
            ),
        )
    """)
    assert [(r.ctx, r.qualname, r.node.lineno) for r in m.references] == [
        ("store", f"{PS}._X", 3), ("load", f"{PS}.get_data_parallel_group", 6)]


def test_dotted_root_tracks_only_uses_below_it():
    m = model("""
        import torch
        import torch.nn as nn
        from torch import distributed as dist
        torch.distributed.all_reduce(x)
        torch.nn.Linear(1, 2)
        dist.barrier()
        nn.ReLU()
    """, roots=("megatron", "torch.distributed"))
    assert quals(m) == [(5, "torch.distributed.all_reduce"), (7, "torch.distributed.barrier")]
    assert [b.partial for b in m.imports if b.qualname] == [("distributed",), ()]


def test_megatron_is_a_namespace_package(tmp_path):
    core = tmp_path / "megatron" / "core" / "tensor_parallel"
    core.mkdir(parents=True)
    for d in (tmp_path / "megatron" / "core", core):
        (d / "__init__.py").write_text("")
    assert module_name_for(core / "layers.py") == ("megatron.core.tensor_parallel.layers", False)
    (tmp_path / "other").mkdir()
    assert module_name_for(tmp_path / "other" / "x.py") == ("x", False)


def test_except_boolop_of_exception_names_is_an_import_guard():
    """``except ImportError or ModuleNotFoundError:`` evaluates to ImportError alone, but its
    author meant a guard: the try body is guarded (MC502 reports the expression itself)."""
    m = model("""\
        try:
            from megatron.core.parallel_state import a
        except ImportError or ModuleNotFoundError:
            a = None
        try:
            from megatron.core.parallel_state import b
        except (ValueError or ModuleNotFoundError):
            b = None
        try:
            from megatron.core.parallel_state import c
        except ValueError or KeyError:
            c = None
    """)
    by = {b.name: b.stmt for b in m.imports}
    (g,) = m.guards_of(by["a"])
    assert g.catches == {"ImportError", "ModuleNotFoundError"} and g.is_import_guard
    assert m.is_guarded(by["a"]) and m.is_guarded(by["b"])
    assert not m.is_guarded(by["c"])


def _lint(code: str, select: str, target: str = "0.16.1") -> list:
    from mcore_lint.engine import check_source
    from mcore_lint.rules.registry import rule_by_code
    from mcore_lint.target import Target

    return check_source(textwrap.dedent(code), "t.py", [rule_by_code(c) for c in select.split(",")],
                        Target.parse(target))


def test_mc102_respects_boolop_guard_and_mc502_still_reports_it():
    code = """\
        try:
            from megatron.core.parallel_state import get_gone_since_forever
        except ImportError or ModuleNotFoundError:
            get_gone_since_forever = None
        from megatron.core.parallel_state import get_unguarded_missing
    """
    found = _lint(code, "MC102,MC502")
    assert [(f.code, f.location.row) for f in found] == [("MC502", 3), ("MC102", 5)]


@pytest.mark.parametrize("header", [
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:",
    "import typing\nif typing.TYPE_CHECKING:",
])
def test_mc102_ignores_imports_under_type_checking(header):
    """Imports under ``if TYPE_CHECKING:`` never run: no MC102 there; the same import outside
    is flagged (so the rule does look at the name)."""
    code = (f"{header}\n    from megatron.core.parallel_state import get_nothing_here\n"
            "    import megatron.core.no_such_module\n")
    assert _lint(code, "MC102") == []
    outside = "from megatron.core.parallel_state import get_nothing_here\nimport megatron.core.no_such_module\n"
    assert [f.location.row for f in _lint(outside, "MC102")] == [1, 2]

"""The reviewed facts table against the real megatron-core wheels (read statically, never imported).

Each row of ``mcore_compat/data/facts.toml`` claims something about releases ("0.15.0 renamed
X to Y", "the default of P flipped in 0.13.0"). Here those claims are checked against the
wheels of the releases the shim is tested on, read with ``ast`` - a second reading,
independent of the API index generator that tests/test_facts.py checks the rows against.
"""

from __future__ import annotations

import ast
import functools
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from packaging.version import Version  # noqa: E402

from mcore_compat import facts  # noqa: E402

CONFIGS = [
    ("model_parallel_config.py", "ModelParallelConfig", "megatron.core.model_parallel_config.ModelParallelConfig"),
    ("transformer/transformer_config.py", "TransformerConfig", "megatron.core.transformer.transformer_config.TransformerConfig"),
    ("transformer/transformer_config.py", "MLATransformerConfig", "megatron.core.transformer.transformer_config.MLATransformerConfig"),
    ("optimizer/optimizer_config.py", "OptimizerConfig", "megatron.core.optimizer.optimizer_config.OptimizerConfig"),
    ("distributed/distributed_data_parallel_config.py", "DistributedDataParallelConfig", "megatron.core.distributed.distributed_data_parallel_config.DistributedDataParallelConfig"),
]


# -- static reading of a release ------------------------------------------------------------

def _find(tree: ast.AST, dotted: str) -> ast.AST | None:
    node: ast.AST | None = tree
    for part in dotted.split("."):
        found = None
        for child in getattr(node, "body", []):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and child.name == part:
                found = child
        node = found
        if node is None:
            return None
    return node


def _params(fn: ast.FunctionDef) -> dict[str, str]:
    a = fn.args
    positional = a.posonlyargs + a.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    out = {p.arg: (ast.unparse(d) if d is not None else "<required>") for p, d in zip(positional, defaults)}
    out.update({p.arg: (ast.unparse(d) if d is not None else "<required>") for p, d in zip(a.kwonlyargs, a.kw_defaults)})
    out.pop("self", None)
    out.pop("cls", None)
    return out


def _field_default(value: ast.expr | None) -> str:
    if value is None:
        return "<required>"
    if isinstance(value, ast.Call) and getattr(value.func, "id", getattr(value.func, "attr", "")) == "field":
        for kw in value.keywords:
            if kw.arg == "default":
                return ast.unparse(kw.value)
            if kw.arg == "default_factory":
                return "<factory>"
        return "<required>"
    return ast.unparse(value)


@functools.lru_cache(maxsize=None)
def _parse_file(path: Path) -> ast.Module | None:
    if not path.is_file():
        return None
    with warnings.catch_warnings():  # megatron sources have invalid escapes in docstrings
        warnings.simplefilter("ignore")
        return ast.parse(path.read_text(encoding="utf-8"))


def _parse(root: Path, rel: str) -> ast.Module | None:
    return _parse_file(root / "megatron" / "core" / rel)


def callable_params(root: Path, file: str, name: str) -> dict[str, str] | None:
    """Parameters (name -> default source) of ``name`` in one release; None when absent or a
    bare ``(*args, **kwargs)`` wrapper (which accepts everything)."""
    tree = _parse(root, file)
    node = _find(tree, name) if tree else None
    if isinstance(node, ast.ClassDef):
        node = next((c for c in node.body if isinstance(c, ast.FunctionDef) and c.name == "__init__"), None)
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    if node.args.vararg and node.args.kwarg and not [a for a in node.args.args if a.arg != "self"]:
        return None
    return _params(node)


def config_fields(root: Path, file: str, name: str) -> dict[str, str] | None:
    """Annotated fields declared in the body of dataclass ``name`` (name -> default source)."""
    tree = _parse(root, file)
    node = _find(tree, name) if tree else None
    if not isinstance(node, ast.ClassDef):
        return None
    return {
        s.target.id: _field_default(s.value)
        for s in node.body
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
    }


# -- tests ------------------------------------------------------------------------------------

def _release_roots() -> dict[str, Path]:
    from tools.downloads import SHIM_TEST_RELEASES, megatron_core

    return {v: megatron_core(v) for v in SHIM_TEST_RELEASES}


@pytest.fixture(scope="module")
def roots() -> dict[str, Path]:
    return _release_roots()


def _in_span(version: str, first: str | None, last: str | None) -> bool:
    v = Version(version)
    return (not first or v >= Version(first)) and (not last or v <= Version(last))


def _has_symbol(root: Path, dotted: str) -> bool:
    """Static: is ``dotted`` a module, or a name defined/imported at the top of its module."""
    parts = dotted.split(".")
    base = root.joinpath(*parts)
    if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
        return True
    module = root.joinpath(*parts[:-1])
    path = module.with_suffix(".py") if module.with_suffix(".py").is_file() else module / "__init__.py"
    if not path.is_file():
        return False
    tree = _parse_file(path)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == parts[-1]:
            return True
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == parts[-1] for a in node.names):
            return True
    return False


@pytest.mark.real
def test_symbol_rows_match_the_releases(roots):
    checked = 0
    for row in facts.load().symbols:
        for version, root in roots.items():
            if _in_span(version, row.old_first, row.old_last):
                assert _has_symbol(root, row.old), f"{row.old} should exist in {version}"
                checked += 1
            elif Version(version) >= Version(row.old_first):
                assert not _has_symbol(root, row.old), f"{row.old} should be gone in {version}"
            if _in_span(version, row.new_first, None):
                assert _has_symbol(root, row.new), f"{row.new} should exist in {version}"
                checked += 1
            else:
                assert not _has_symbol(root, row.new), f"{row.new} should not exist yet in {version}"
    assert checked > 20


@pytest.mark.real
def test_field_rows_match_the_releases(roots):
    files = {q: (f, n) for f, n, q in CONFIGS}
    for row in facts.load().renamed_fields:
        file, name = files[row.cls]
        for version, root in roots.items():
            fields = config_fields(root, file, name)
            if fields is None:
                continue
            old_there = _in_span(version, row.old_first, row.old_last or None)
            new_there = _in_span(version, row.new_first, None)
            assert (row.old in fields) == old_there, (row, version)
            assert (row.new in fields) == new_there, (row, version)
    for row in facts.load().moved_fields:
        file, name = files[row.cls]
        to_file, to_name = files[row.to_class]
        for version, root in roots.items():
            fields = config_fields(root, file, name) or {}
            if _in_span(version, row.old_first, row.old_last):
                assert row.field in fields, (row, version)
            if _in_span(version, row.new_first, None):
                assert row.field in (config_fields(root, to_file, to_name) or {}), (row, version)


@pytest.mark.real
def test_changed_defaults_match_the_releases(roots):
    files = {q: (f, n) for f, n, q in CONFIGS}
    for row in facts.load().changed_defaults:
        for version, root in roots.items():
            if row.callable in files:
                values = config_fields(root, *files[row.callable])
            else:
                module, _, name = row.callable.rpartition(".")
                values = callable_params(root, module.removeprefix("megatron.core.").replace(".", "/") + ".py", name)
            if not values or row.param not in values:
                continue
            expected = row.new if Version(version) >= Version(row.first) else row.old
            assert values[row.param] == expected, (row.callable, row.param, version, values[row.param])


@pytest.mark.real
def test_removed_rows_match_the_releases(roots):
    for row in facts.load().removed:
        for version, root in roots.items():
            assert _has_symbol(root, row.symbol) == _in_span(version, row.first, row.last), (row.symbol, version)

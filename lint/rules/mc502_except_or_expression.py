"""MC502: ``except A or B:`` (catches only ``A``) and a bare ``except:`` around a megatron import.

Source of the pattern: NVIDIA/NeMo ``nemo/lightning/_strategy_lib.py`` (nemo-toolkit 2.2.1,
line 549: ``except ImportError or ModuleNotFoundError:``) and the bare ``except:`` around
``from megatron.core.parallel_state import ...`` in ``nemo/lightning/megatron_init.py`` (line 83);
``../shared/research/downstream-compat.md`` §5.10. Python evaluates the ``except`` clause's
expression once: ``A or B`` is ``A`` (a class is truthy), ``A and B`` is ``B``.
"""

from __future__ import annotations

import ast
import builtins
from typing import Iterator

from .base import Applicability, Context, Invalid, Rule, Valid

ROOT = "megatron.core"
_TRY_TYPES = tuple(t for t in (ast.Try, getattr(ast, "TryStar", None)) if t is not None)


def try_statements(model) -> Iterator[ast.Try]:
    """Every ``try`` of the file, from the statement list the semantic model already built."""
    for stmt in model.statements:
        if isinstance(stmt, _TRY_TYPES):
            yield stmt  # type: ignore[misc]


def header_node(handler: ast.ExceptHandler) -> ast.AST:
    """A node spanning only the ``except`` keyword of a handler (what a finding points at)."""
    return ast.Name(id="except", lineno=handler.lineno, col_offset=handler.col_offset,
                    end_lineno=handler.lineno, end_col_offset=handler.col_offset + len("except"))


def _is_exception_class_name(node: ast.expr) -> bool:
    """A Name/Attribute that names an exception class (a builtin one, or ``...Error`` /
    ``...Exception`` / ``...Warning``): always truthy, so ``or`` stops at it."""
    if isinstance(node, ast.Name):
        name = node.id
        obj = getattr(builtins, name, None)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            return True
    elif isinstance(node, ast.Attribute):
        name = node.attr
    else:
        return False
    return name.endswith(("Error", "Exception", "Warning"))


def _operands(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BoolOp):
        out: list[ast.expr] = []
        for v in node.values:
            out += _operands(v)
        return out
    return [node]


def _caught(node: ast.expr) -> ast.expr:
    """The operand a BoolOp of exception classes evaluates to (``or``: first; ``and``: last)."""
    while isinstance(node, ast.BoolOp):
        node = node.values[0] if isinstance(node.op, ast.Or) else node.values[-1]
    return node


def _imports_megatron(ctx: Context, try_node: ast.Try) -> str | None:
    """The first megatron.core name the ``try`` body imports (innermost try = this one)."""
    model = ctx.model
    for b in model.imports:
        q = b.qualname
        module = b.module or ""
        if q is None or not (q == ROOT or q.startswith(ROOT + ".") or module == ROOT or module.startswith(ROOT + ".")):
            continue
        tries = [br for br in model.branch_of(b.stmt) if isinstance(br.node, _TRY_TYPES)]
        if tries and tries[-1].node is try_node and tries[-1].part == "body":
            return b.module if b.imported is None else f"{b.module}.{b.imported}"
    return None


class ExceptOrExpression(Rule):
    """## What it does
    Flags an `except` clause whose exception is a boolean expression of exception classes,
    `except ImportError or ModuleNotFoundError:`, and a bare `except:` whose `try` body
    imports from `megatron.core`. Only files that mention megatron are checked (the linter
    skips the others before building their model).

    ## Why is this bad?
    Python evaluates the expression once: `ImportError or ModuleNotFoundError` is just
    `ImportError` (a class is truthy), `A and B` is just `B`; the other classes are never
    caught. NeMo 2.2.1 ships `except ImportError or ModuleNotFoundError:` around an import of
    `megatron.core.distributed.custom_fsdp`. A bare `except:` around a megatron import also
    swallows `KeyboardInterrupt`, `SystemExit` and every error raised *inside* the imported
    module, so a broken installation silently looks like an old megatron-core release.

    ## Example
    ```python
    try:
        from megatron.core.distributed.custom_fsdp import FullyShardedDataParallel
        HAVE_CUSTOM_FSDP = True
    except ImportError or ModuleNotFoundError:
        HAVE_CUSTOM_FSDP = False
    ```
    Use instead:
    ```python
    try:
        from megatron.core.distributed.custom_fsdp import FullyShardedDataParallel
        HAVE_CUSTOM_FSDP = True
    except (ImportError, ModuleNotFoundError):
        HAVE_CUSTOM_FSDP = False
    ```

    ## Fix safety
    Safe for `A or B`: the tuple catches what the author listed (for `ImportError or
    ModuleNotFoundError` nothing changes at run time, since `ModuleNotFoundError` is a subclass
    of `ImportError`). The bare `except:` fix (`except ImportError:`) is display-only: code that
    relied on catching other errors there would now see them.
    """

    code = "MC502"
    name = "except-or-expression"
    message = "{text}"
    fix = Applicability.SAFE
    releases = ""

    VALID = [
        Valid("""
            try:
                from megatron.core.distributed.custom_fsdp import FullyShardedDataParallel
            except (ImportError, ModuleNotFoundError):
                FullyShardedDataParallel = None
        """),
        Valid("""
            import megatron.core
            try:
                x = compute()
            except:
                x = None
        """),
        Valid("""
            import megatron.core
            try:
                import yaml_backend
            except (getattr(yaml_backend, "Error", None) or Exception):
                pass
        """),
        Valid("""
            try:
                from megatron.core import parallel_state
            except ImportError:
                parallel_state = None
        """),
    ]
    INVALID = [
        Invalid(
            """
            try:
                from megatron.core.distributed.custom_fsdp import FullyShardedDataParallel
                have_custom_fsdp = True
            except ImportError or ModuleNotFoundError:
                have_custom_fsdp = False
            """,
            message="`except ImportError or ModuleNotFoundError:` catches only `ImportError`",
            fixed="""
            try:
                from megatron.core.distributed.custom_fsdp import FullyShardedDataParallel
                have_custom_fsdp = True
            except (ImportError, ModuleNotFoundError):
                have_custom_fsdp = False
            """,
        ),
        Invalid(
            """
            import megatron.core
            try:
                run()
            except (ValueError or KeyError) as exc:
                print(exc)
            """,
            message="catches only `ValueError`, never `KeyError`",
            fixed="""
            import megatron.core
            try:
                run()
            except (ValueError, KeyError) as exc:
                print(exc)
            """,
        ),
        Invalid(
            """
            import megatron.core
            try:
                run()
            except (OSError, ImportError or ModuleNotFoundError) as exc:
                pass
            """,
            message="catches only `ImportError`, never `ModuleNotFoundError`",
            fixed="""
            import megatron.core
            try:
                run()
            except (OSError, ImportError, ModuleNotFoundError) as exc:
                pass
            """,
        ),
        Invalid(
            """
            import megatron.core
            try:
                run()
            except ValueError and TypeError or KeyError:
                pass
            """,
            message="catches only `TypeError`, never `ValueError`, `KeyError`",
            fixed="""
            import megatron.core
            try:
                run()
            except (ValueError, TypeError, KeyError):
                pass
            """,
        ),
        Invalid(
            """
            try:
                from megatron.core.parallel_state import set_virtual_pipeline_model_parallel_world_size
                HAVE_INTERLEAVED = True
            except:
                HAVE_INTERLEAVED = False
            """,
            message="bare `except:` around the import of "
                    "`megatron.core.parallel_state.set_virtual_pipeline_model_parallel_world_size`",
            fixed=None,
        ),
    ]

    def check(self, ctx: Context) -> None:
        model = ctx.model
        for node in try_statements(model):
            for h in node.handlers:
                if h.type is None:
                    imported = _imports_megatron(ctx, node)
                    if imported is not None:
                        self._bare(ctx, h, imported)
                elif isinstance(h.type, ast.BoolOp):
                    self._boolop(ctx, h.type, in_tuple=False)
                elif isinstance(h.type, ast.Tuple):  # `except (A or B, C):`
                    for elt in h.type.elts:
                        if isinstance(elt, ast.BoolOp):
                            self._boolop(ctx, elt, in_tuple=True)

    def _boolop(self, ctx: Context, expr: ast.BoolOp, in_tuple: bool) -> None:
        model = ctx.model
        ops = _operands(expr)
        if not all(_is_exception_class_name(o) for o in ops):
            return  # `except (maybe_none or Exception)` is a deliberate fallback idiom
        caught = _caught(expr)
        others = ", ".join(f"`{model.segment(o)}`" for o in ops if o is not caught)
        tuple_text = ", ".join(model.segment(o) for o in ops)
        start, end = model.location(expr)
        src = model.source
        before = src[:model.offset(start)].rstrip()
        after = src[model.offset(end):].lstrip()
        wrapped = in_tuple or (before.endswith("(") and after.startswith(")"))
        text = tuple_text if wrapped else f"({tuple_text})"
        fix = ctx.fix(f"Catch the tuple `({tuple_text})`", [ctx.replace(expr, text)])
        clause = f"{model.segment(expr)}` in `except (...)" if in_tuple else f"except {model.segment(expr)}:"
        ctx.report(expr, fix=fix, caught=model.segment(caught),
                   text=f"`{clause}` catches only `{model.segment(caught)}`, "
                        f"never {others}: the expression is evaluated to one class; use a tuple")

    def _bare(self, ctx: Context, handler: ast.ExceptHandler, imported: str) -> None:
        node = header_node(handler)
        fix = ctx.fix("Catch `ImportError` only", [ctx.replace(node, "except ImportError")],
                      applicability=Applicability.DISPLAY_ONLY)
        ctx.report(node, fix=fix, caught="",
                   text=f"bare `except:` around the import of `{imported}` also hides errors raised "
                        f"inside megatron (and KeyboardInterrupt); catch `ImportError`")

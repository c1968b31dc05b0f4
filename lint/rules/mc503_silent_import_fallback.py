"""MC503: ``try: from megatron.core.X import Y`` / ``except ImportError: HAVE_Y = False`` where the
target release keeps ``Y`` under another module: the feature silently turns off.

Source of the pattern: alibaba/Pai-Megatron-Patch (``except ImportError: HAVE_TE = False`` around
``megatron.core.transformer.custom_layers.transformer_engine``, a module removed in 0.17.0),
``../shared/research/downstream-compat.md`` §1 #31 and §5.7. Where a name lives in each release
comes from the API index (``mcore_compat/data/api_index.jsonl``, generated from the PyPI
wheels) and the reviewed moves of ``mcore_compat/data/facts.toml`` (``symbol_candidates``).
"""

from __future__ import annotations

import ast
import re

from ..findings import Location
from .base import Applicability, Context, Invalid, Rule, Valid
from .mc502_except_or_expression import _TRY_TYPES

ROOT = "megatron.core"
#: Handlers that catch a failed import (by name as written; "" is a bare ``except:``).
_CATCHES_IMPORT = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException", ""})


def _caught_names(handler: ast.ExceptHandler) -> set[str]:
    t = handler.type
    if t is None:
        return {""}
    while isinstance(t, ast.BoolOp):  # `except ImportError or ModuleNotFoundError:` (MC502)
        t = t.values[0] if isinstance(t.op, ast.Or) else t.values[-1]
    elts = t.elts if isinstance(t, ast.Tuple) else [t]
    out = set()
    for e in elts:
        if isinstance(e, ast.Name):
            out.add(e.id)
        elif isinstance(e, ast.Attribute):
            out.add(e.attr)
    return out


def disabled_names(handler: ast.ExceptHandler) -> list[tuple[str, str]]:
    """``(name, "False"/"None")`` the handler sets when it only disables a feature: no import
    of an alternative anywhere in it and no ``raise`` at its top level (else: empty)."""
    if not _caught_names(handler) & _CATCHES_IMPORT:
        return []
    names: list[tuple[str, str]] = []
    for stmt in handler.body:
        if isinstance(stmt, ast.Raise):
            return []
        for node in ast.walk(stmt):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                return []
        value = getattr(stmt, "value", None)
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(value, ast.Constant) \
                and value.value in (False, None):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names.append((n.id, repr(value.value)))
    return names


def same_definition(idx, old: str, new: str, release: str) -> bool:
    """Whether ``new`` in ``release`` has the kind and signature ``old`` had in the last
    release that had it: the moved object, not another one of the same name."""
    before = [r for r in idx.releases if idx.resolve(r, old).found]
    if not before:
        return False
    a = idx.resolve(before[-1], old).record or {}
    b = idx.resolve(release, new).record or {}
    return all(a.get(k) == b.get(k) for k in ("k", "p", "i"))


def relocation(idx, release: str, qualname: str) -> str | None:
    """Where ``release`` keeps the object ``qualname`` named in another release: a reviewed
    move (facts) found there, else the single same-named definition with the same signature."""
    from mcore_compat import facts

    for cand in facts.symbol_candidates(qualname)[1:]:
        if idx.resolve(release, cand).found:
            return cand
    name = qualname.rsplit(".", 1)[1]
    elsewhere = [w for w in idx.where_defined(release, name) if w != qualname]
    if len(elsewhere) == 1 and same_definition(idx, qualname, elsewhere[0], release):
        return elsewhere[0]
    return None


class SilentImportFallback(Rule):
    """## What it does
    Flags a `megatron.core` import inside `try:` whose `except ImportError:` branch only
    disables a feature (`HAVE_TE = False`, `TENorm = None`; no alternative import, no
    `raise`), when the target release keeps the imported object under another module (or
    under its reviewed new name). In the target release that import always fails, so the
    feature is always off.

    ## Why is this bad?
    Nothing crashes: the fallback looks like "Transformer Engine is not installed" while the
    code simply asks the old address. `megatron.core.transformer.custom_layers.transformer_engine`
    (gone in 0.17.0) still appears in such blocks, and Transformer Engine layers are silently
    replaced by the local fallbacks. A fallback around an import the target release really
    lacks (or that fails because an optional dependency is missing) is fine and not flagged.

    ## Example
    ```python
    try:
        from megatron.core.transformer.custom_layers.transformer_engine import TENorm
        HAVE_TE = True
    except ImportError:
        HAVE_TE = False
    ```
    Use instead (0.9.0 and later):
    ```python
    try:
        from megatron.core.extensions.transformer_engine import TENorm
        HAVE_TE = True
    except ImportError:
        HAVE_TE = False
    ```
    or `TENorm = mcore_compat.import_symbol("megatron.core.transformer.custom_layers.transformer_engine.TENorm")`,
    which finds it where the installed release keeps it and re-raises a real import failure.

    ## Fix safety
    Unsafe: the import is pointed at the module the target release keeps the object in
    (`from new.module import Name`, `as OldName` for a reviewed rename). Releases older than
    that module then take the fallback branch instead: review the supported range.
    """

    code = "MC503"
    name = "silent-import-fallback"
    message = "{text}"
    fix = Applicability.UNSAFE
    releases = ">=0.5"

    VALID = [
        Valid("""
            try:
                from megatron.core.extensions.transformer_engine import TENorm
                HAVE_TE = True
            except ImportError:
                HAVE_TE = False
        """, target="0.17.1"),
        Valid("""
            try:
                from megatron.core.transformer.custom_layers.transformer_engine import TENorm
                HAVE_TE = True
            except ImportError:
                HAVE_TE = False
        """, target="0.16.1"),
        Valid("""
            try:
                from megatron.core.transformer.custom_layers.transformer_engine import TENorm
            except ImportError:
                from megatron.core.extensions.transformer_engine import TENorm
        """, target="0.17.1"),
        Valid("""
            try:
                from megatron.core.extensions.transformer_engine import TENorm
            except ImportError:
                try:
                    from megatron.core.transformer.custom_layers.transformer_engine import TENorm
                except ImportError:
                    TENorm = None
        """, target="0.17.1"),
        Valid("""
            try:
                from megatron.core.transformer.custom_layers.transformer_engine import TENorm
            except ImportError:
                raise RuntimeError("Transformer Engine is required")
        """, target="0.17.1"),
        Valid("""
            try:
                from megatron.core.utils import unwrap_model
            except ImportError:
                unwrap_model = None
        """, target="0.12.3"),
    ]
    INVALID = [
        Invalid(
            """
            try:
                from megatron.core.transformer.custom_layers.transformer_engine import TENorm
                HAVE_TE = True
            except ImportError:
                HAVE_TE = False
            """,
            message="`megatron.core.transformer.custom_layers.transformer_engine.TENorm` does not exist in "
                    "megatron-core 0.17.1, which keeps it at `megatron.core.extensions.transformer_engine.TENorm`: "
                    "the `except` branch always runs and sets `HAVE_TE = False`",
            target="0.17.1",
            unsafe=True,
            fixed="""
            try:
                from megatron.core.extensions.transformer_engine import TENorm
                HAVE_TE = True
            except ImportError:
                HAVE_TE = False
            """,
        ),
        Invalid(
            """
            def model_comm_pgs():
                try:
                    from megatron.core.process_groups_config import ModelCommProcessGroups, GradCommProcessGroups
                except (ImportError, ModuleNotFoundError):
                    ModelCommProcessGroups = GradCommProcessGroups = None
                return ModelCommProcessGroups
            """,
            message="keeps it at `megatron.core.process_groups_config.ProcessGroupCollection`",
            target=">=0.15,<0.17",
            unsafe=True,
            count=2,
            fixed="""
            def model_comm_pgs():
                try:
                    from megatron.core.process_groups_config import ProcessGroupCollection as GradCommProcessGroups
                    from megatron.core.process_groups_config import ProcessGroupCollection as ModelCommProcessGroups
                except (ImportError, ModuleNotFoundError):
                    ModelCommProcessGroups = GradCommProcessGroups = None
                return ModelCommProcessGroups
            """,
        ),
        Invalid(
            """
            try:
                from megatron.core.distributed.custom_fsdp import FullyShardedDataParallel
                HAVE_FSDP = True
            except:
                FullyShardedDataParallel = None
                HAVE_FSDP = False
            """,
            message="sets `FullyShardedDataParallel = None`, `HAVE_FSDP = False`",
            target="0.16.1",
        ),
    ]

    def check(self, ctx: Context) -> None:
        from mcore_compat.api_index import load

        from ..api.target import target_releases

        model = ctx.model
        candidates = []
        for b in model.imports:
            q = b.qualname
            if q is None or not q.startswith(ROOT + ".") or b.level:
                continue
            if isinstance(b.stmt, ast.Import) and b.asname is None:
                continue  # `import megatron.core.x` binds `megatron`: nothing to point elsewhere
            tries = [br for br in model.branch_of(b.stmt) if isinstance(br.node, _TRY_TYPES)]
            if not tries or tries[-1].part != "body":
                continue
            try_node = tries[-1].node
            disabled = [n for h in try_node.handlers for n in disabled_names(h)]  # type: ignore[attr-defined]
            if disabled:
                candidates.append((b, tries, disabled))
        if not candidates:
            return
        idx = load()
        releases = target_releases(ctx.target, idx)
        for b, tries, disabled in candidates:
            where: dict[str, str] = {}
            for rel in releases:
                if idx.resolve(rel, b.qualname).missing:
                    loc = relocation(idx, rel, b.qualname)
                    if loc is not None:
                        where[rel] = loc
            if not where or self._tried_before(ctx, tries, where, idx):
                continue
            self._report(ctx, b, where, disabled)

    @staticmethod
    def _tried_before(ctx: Context, tries, where: dict[str, str], idx) -> bool:
        """An enclosing ``try`` whose body already imports the object from where the target
        keeps it (``try: new`` / ``except: try: old`` / ``except: X = None``)."""
        model = ctx.model
        outer = {id(br.node) for br in tries[:-1] if br.part.startswith("handler")}
        if not outer:
            return False
        for b in model.imports:
            if b.qualname is None:
                continue
            bt = [br for br in model.branch_of(b.stmt) if isinstance(br.node, _TRY_TYPES)]
            if not bt or id(bt[-1].node) not in outer or bt[-1].part != "body":
                continue
            for rel, loc in where.items():
                got = idx.resolve(rel, b.qualname)
                if got.found and got.qualname == idx.resolve(rel, loc).qualname:
                    return True
        return False

    def _report(self, ctx: Context, b, where: dict[str, str], disabled: list[tuple[str, str]]) -> None:
        from ..api.symbols import describe_presence
        from mcore_compat.api_index import load

        idx = load()
        rels = list(where)
        locs = sorted(set(where.values()))
        keeps = " and ".join(f"`{loc}`" for loc in locs)
        sets = ", ".join(f"`{n} = {v}`" for n, v in dict.fromkeys(disabled))
        text = (f"`{b.qualname}` does not exist in megatron-core {describe_presence(idx, rels)}, which keeps "
                f"it at {keeps}: the `except` branch always runs and sets {sets} "
                f"(the feature is silently off); import it from there or use "
                f"`mcore_compat.import_symbol(\"{b.qualname}\")`")
        fix = self._fix(ctx, b, locs[0]) if len(locs) == 1 else None
        ctx.report(b.node, fix=fix, text=text, symbol=b.qualname, moved_to=locs, releases=rels)

    @staticmethod
    def _fix(ctx: Context, b, loc: str):
        model = ctx.model
        stmt = b.stmt
        module, _, name = loc.rpartition(".")
        alias_text = name if name == b.name else f"{name} as {b.name}"
        if isinstance(stmt, ast.Import):
            return ctx.fix(f"Import `{loc}`", [ctx.replace(b.node, f"{loc} as {b.asname}")])
        line = model.line_text(stmt.lineno)
        indent = line[:model.char_col(stmt.lineno, stmt.col_offset)]
        if indent.strip():
            return None  # `try: from x import y` on one line: leave it to a human
        if len(stmt.names) == 1:
            text = model.segment(stmt)
            m = re.match(r"from\s+([\w.]+)\s+import\s+", text)
            if not m:
                return None
            start, _ = model.location(stmt)
            col = start.column + m.start(1)
            edits = [ctx.replace_range(Location(start.row, col), Location(start.row, col + len(m.group(1))), module)]
            if alias_text != model.segment(b.node):
                edits.append(ctx.replace(b.node, alias_text))
            return ctx.fix(f"Import `{name}` from `{module}`", edits)
        kept = [a for a in stmt.names if a is not b.node]
        first, last = stmt.names[0], stmt.names[-1]
        start, _ = model.location(first)
        _, end = model.location(last)
        _, stmt_end = model.location(stmt)
        edits = [ctx.replace_range(start, end, ", ".join(model.segment(a) for a in kept)),
                 ctx.replace_range(stmt_end, stmt_end, f"\n{indent}from {module} import {alias_text}")]
        return ctx.fix(f"Import `{name}` from `{module}`", edits)


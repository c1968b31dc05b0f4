"""MC204: a call that relies on a default whose value differs between supported releases.

Facts: parameter defaults of every release from the API index
(``mcore_compat/data/api_index.jsonl``, generated from the PyPI wheels 0.5.0-0.19.2), e.g.
``is_pipeline_first_stage(ignore_virtual=False)`` up to 0.12.3, ``ignore_virtual=True`` from
0.13.0 (wheels 0.12.3..0.13.0 parallel_state.py); notes from the reviewed facts table
(``mcore_compat/data/facts.toml``, ``changed_default``). Binding: :mod:`mcore_lint.calls`.
"""

from __future__ import annotations

import ast
from functools import lru_cache

from ..calls import call_sites, describe, index, span_bindings
from ..findings import Location
from .base import Applicability, Context, Invalid, Rule, Valid

_MISSING = object()


@lru_cache(maxsize=8192)
def literal(text: str | None):
    """The value of a default's source text when it is a literal (``False``, ``'full'``,
    ``0.1``, ``None``); ``_MISSING`` otherwise (names, calls, factories are not compared).
    Remembered per text (``literal_eval`` parses; the same defaults recur for every call and
    release: 40k evaluations on the benchmark corpus). The value is shared: compare, never mutate."""
    if text is None:
        return _MISSING
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _MISSING


def same_value(a, b) -> bool:
    """``0`` and ``0.0`` are the same default; ``1`` and ``True`` are not."""
    numbers = (int, float)
    if type(a) in numbers and type(b) in numbers:
        return a == b
    return type(a) is type(b) and a == b


@lru_cache(maxsize=256)
def _shim(qualname: str) -> str | None:
    """The ``mcore_compat.parallel_state`` function that gives ``qualname`` one meaning on every
    release, when the shim wraps it."""
    prefix = "megatron.core.parallel_state."
    if not qualname.startswith(prefix):
        return None
    try:
        from mcore_compat import parallel_state
    except Exception:  # the shim is optional for the linter
        return None
    name = qualname[len(prefix):]
    return f"mcore_compat.parallel_state.{name}" if name in getattr(parallel_state, "WRAPPED", {}) else None


def _note(definition: str, param: str) -> str:
    try:
        from mcore_compat import facts

        row = facts.changed_default(definition, param)
    except Exception:  # another module's data: never fail a lint run on it
        return ""
    return getattr(row, "note", "") if row is not None else ""


class DefaultChangedMeaning(Rule):
    """## What it does
    Flags a megatron-core call that leaves out a parameter whose default is not the same in
    every release the project supports (the supported span; the release the code was written
    for is `--from-version` / `from-version`, else its low end): `is_pipeline_first_stage()` / `is_pipeline_last_stage()` /
    `is_rank_in_embedding_group()` without `ignore_virtual` (False up to 0.12, True from
    0.13), `MLATransformerConfig(...)` without `mscale` (0.707 up to 0.13, 1.0 from 0.14), a
    `TransformerConfig(...)` that relies on `cpu_offloading_weights`. Derived from the defaults
    in the API index; only literal defaults are compared (`0` and `0.0` are the same).

    Callees, guards and `*args`/`**kwargs` are handled as in MC201; `functools.partial` is not
    checked (the parameter may come later). With a single target release (and no `from-version`)
    the rule is silent.

    ## Why is this bad?
    Nothing fails: after the upgrade the same line answers another question (the virtual or the
    physical pipeline stage) and the job computes something else.

    ## Example
    ```python
    from megatron.core import parallel_state
    if parallel_state.is_pipeline_first_stage():  # supported: >=0.12,<0.14
        ...
    ```
    Use instead:
    ```python
    if parallel_state.is_pipeline_first_stage(ignore_virtual=False):
        ...
    ```
    or `mcore_compat.parallel_state.is_pipeline_first_stage`, which means the same on every release.

    ## Fix safety
    Unsafe: the fix passes the default of the release the code was written for, which keeps the
    old behaviour; whether the new default is what the code needs is the author's call. No fix
    when an old default is not a literal or a supported release lacks the parameter.
    """

    code = "MC204"
    name = "default-changed-meaning"
    message = "{text}"
    fix = Applicability.UNSAFE
    releases = ""

    VALID = [
        Valid("""
            from megatron.core import parallel_state
            first = parallel_state.is_pipeline_first_stage(ignore_virtual=False)
            last = parallel_state.is_pipeline_last_stage(True)
        """, target=">=0.12,<0.14"),
        Valid("""
            from megatron.core import parallel_state
            first = parallel_state.is_pipeline_first_stage()
        """, target=">=0.13"),
        Valid("""
            from megatron.core import parallel_state
            first = parallel_state.is_pipeline_first_stage()
        """, target="0.12.0"),
        Valid("""
            import megatron.core
            from megatron.core import parallel_state
            from packaging.version import Version
            if Version(megatron.core.__version__) >= Version("0.13"):
                first = parallel_state.is_pipeline_first_stage()
        """, target=">=0.12,<0.14"),
    ]
    INVALID = [
        Invalid("""
            from megatron.core import parallel_state
            first = parallel_state.is_pipeline_first_stage()
        """, message="`ignore_virtual` is False in megatron-core 0.12.0 but True in 0.13.0-0.13.1",
            target=">=0.12,<0.14", unsafe=True, fixed="""
            from megatron.core import parallel_state
            first = parallel_state.is_pipeline_first_stage(ignore_virtual=False)
        """),
        Invalid("""
            from megatron.core.parallel_state import is_pipeline_last_stage
            if is_pipeline_last_stage(vp_stage=None) and True:
                pass
        """, message="relies on the default of `ignore_virtual`", target=">=0.12.3,<0.14", unsafe=True, fixed="""
            from megatron.core.parallel_state import is_pipeline_last_stage
            if is_pipeline_last_stage(vp_stage=None, ignore_virtual=False) and True:
                pass
        """),
        Invalid("""
            from megatron.core import parallel_state
            first = parallel_state.is_pipeline_first_stage()
        """, message="relies on the default of `ignore_virtual`", target=">=0.12,<0.14", fixed=None),
        Invalid("""
            from megatron.core.transformer import MLATransformerConfig
            cfg = MLATransformerConfig(num_layers=2, hidden_size=8, num_attention_heads=2)
        """, message="`mscale` is 0.707 in megatron-core 0.13.1 but 1.0 in 0.14.0", target=">=0.13.1,<0.15",
            unsafe=True, fixed="""
            from megatron.core.transformer import MLATransformerConfig
            cfg = MLATransformerConfig(num_layers=2, hidden_size=8, num_attention_heads=2, mscale=0.707, mscale_all_dim=0.707)
        """),
    ]

    def check(self, ctx: Context) -> None:
        sites = call_sites(ctx.model)
        if not sites:
            return
        idx = index()
        for site, base, b0, others in span_bindings(idx, ctx.target, sites, skip=lambda s: s.style == "partial"):
            passed = {p.name for p in b0.positional if p is not None} | set(b0.keywords)
            if not others:
                continue
            changes: list[tuple[str, str, dict[str, list[str]]]] = []
            for p0 in b0.signature.params:
                if p0.name in passed or not p0.by_keyword:
                    continue
                v0 = literal(p0.default)
                if v0 is _MISSING:
                    continue
                new: dict[str, list[str]] = {}
                for r, b in others.items():
                    p = b.signature.param(p0.name)
                    v = literal(p.default) if p is not None else _MISSING
                    if v is not _MISSING and not same_value(v0, v):
                        new.setdefault(p.default, []).append(r)  # type: ignore[union-attr, arg-type]
                if new:
                    changes.append((p0.name, p0.default, new))  # type: ignore[arg-type]
            if changes:
                self._report(ctx, idx, site, base, b0, others, changes)

    def _report(self, ctx, idx, site, base, b0, others, changes) -> None:
        parts = []
        for name, old, new in changes:
            later = ", ".join(f"{text} in {describe(rels, idx)}" for text, rels in new.items())
            parts.append(f"`{name}` is {old} in megatron-core {base} but {later}")
        plural = "s" if len(changes) > 1 else ""
        text = f"`{site.display}()` relies on the default{plural} of " + ", ".join(f"`{c[0]}`" for c in changes)
        text += ", which differ" if plural else ", which differs"
        text += " between supported releases: " + "; ".join(parts) + f"; pass {'them' if plural else 'it'} explicitly"
        shim = _shim(b0.signature.definition)
        if shim:
            text += f" or call `{shim}`"
        note = _note(b0.signature.definition, changes[0][0])
        if note:
            text += f" ({note})"
        fix = None
        names = [c[0] for c in changes]
        keywordable = all(all((p := b.signature.param(n)) is not None and p.by_keyword for n in names)
                          for b in others.values())
        if keywordable:
            addition = ", ".join(f"{n}={old}" for n, old, _ in changes)
            call = site.call
            items = [*call.args, *call.keywords]
            if items:
                last = max(items, key=lambda n: (n.end_lineno, n.end_col_offset))
                _, end = ctx.model.location(last)
                edit = ctx.replace_range(end, end, f", {addition}")
            else:
                _, end = ctx.model.location(call)
                at = Location(end.row, end.column - 1)
                edit = ctx.replace_range(at, at, addition)
            fix = ctx.fix(f"Pass {addition} (the defaults of megatron-core {base})", edits=[edit])
        ctx.report(site.node, text=text, fix=fix, callee=site.qualname, parameters=names)

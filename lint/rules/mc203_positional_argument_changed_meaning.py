"""MC203: a positional argument that lands on a different parameter in another supported release.

Facts: parameter order of every release from the API index
(``mcore_compat/data/api_index.jsonl``, generated from the PyPI wheels 0.5.0-0.19.2), e.g.
``get_tensor_and_data_parallel_group(with_context_parallel)`` became ``(check_initialized,
with_context_parallel)`` in 0.15.0 and 0.19.0 inserted ``with_gtp_remat`` second in the
data-parallel getters (research/megatron-core-api-history.md s2.1). Binding: :mod:`mcore_lint.calls`.
"""

from __future__ import annotations

from ..calls import VARARG, Bound, call_sites, describe, index, span_bindings
from .base import Applicability, Context, Invalid, Rule, Valid


def _moved(old: str, new: str, b0: Bound, b: Bound) -> bool:
    """The slot's meaning changed: the old parameter is still there at another place, or the new
    one was elsewhere before (an insertion, a removal, a reorder). A slot whose parameter was
    only renamed (the old name gone or kept as a keyword-only alias, the new one new) keeps its
    meaning and is not flagged."""
    then, now = b.signature.param(old), b0.signature.param(new)
    # a parameter that survives only as keyword-only is a deprecated alias, not a shifted slot
    return (then is not None and then.positional) or (now is not None and now.positional)


class PositionalArgumentChangedMeaning(Rule):
    """## What it does
    Flags a positional argument of a megatron-core call whose parameter is not the same in
    every release the project supports (the supported span in `[tool.mcore-compat] supported`):
    `get_tensor_and_data_parallel_group(True)` means `with_context_parallel=True` up to 0.14 and
    `check_initialized=True` from 0.15; `get_data_parallel_group(True, True)` means
    `partial_data_parallel=True` up to 0.18 and `with_gtp_remat=True` from 0.19. The release the
    code was written for is `--from-version` / `from-version` when set, else the low end of the
    span.

    A parameter that was only renamed in place (the old name gone or kept as a keyword-only
    alias, the new one new: `inference_params` -> `inference_context`) keeps its meaning and is
    not flagged; an argument with no parameter at all in a later release is.
    Only calls whose callee is known statically are checked (as MC201), never calls with
    `*args`/`**kwargs`, and not inside compatibility guards. With a single target release (and no
    `from-version`) there is nothing to compare and the rule is silent.

    ## Why is this bad?
    Nothing fails: the call silently means something else after the upgrade (the context-
    parallel group becomes the plain data-parallel one, a flag lands on another switch) and the
    training run is wrong rather than broken.

    ## Example
    ```python
    from megatron.core import parallel_state
    group = parallel_state.get_tensor_and_data_parallel_group(True)  # supported: >=0.14,<0.16
    ```
    Use instead:
    ```python
    group = parallel_state.get_tensor_and_data_parallel_group(with_context_parallel=True)
    ```

    ## Fix safety
    The fix passes the argument (and the positional ones after it) by the keyword it means in
    the release the code was written for. Safe when every supported release accepts those
    keywords; unsafe when some release lacks one (the call then fails loudly there instead of
    silently meaning something else). Positional-only parameters are not fixed.
    """

    code = "MC203"
    name = "positional-argument-changed-meaning"
    message = "{text}"
    fix = Applicability.SAFE
    releases = ""

    VALID = [
        Valid("""
            from megatron.core import parallel_state
            group = parallel_state.get_tensor_and_data_parallel_group(with_context_parallel=True)
            parallel_state.get_data_parallel_group(True)
        """, target=">=0.14,<0.16"),
        Valid("""
            from megatron.core import parallel_state
            group = parallel_state.get_tensor_and_data_parallel_group(True)
        """, target="0.14.0"),
        Valid("""
            from megatron.core import parallel_state
            if parallel_state.__version__ >= "0.15":
                group = parallel_state.get_tensor_and_data_parallel_group(True, True)
        """, target=">=0.14,<0.16"),
    ]
    INVALID = [
        Invalid("""
            from megatron.core import parallel_state
            group = parallel_state.get_tensor_and_data_parallel_group(True)
        """, message="positional argument 1 of `get_tensor_and_data_parallel_group()` is `with_context_parallel` "
                     "in megatron-core 0.14.0 but `check_initialized` in 0.15.0-0.15.3", target=">=0.14,<0.16",
            fixed="""
            from megatron.core import parallel_state
            group = parallel_state.get_tensor_and_data_parallel_group(with_context_parallel=True)
        """),
        Invalid("""
            from megatron.core import mpu
            mpu.get_data_parallel_group(True, True)
        """, message="is `partial_data_parallel` in megatron-core 0.16.1 but `with_gtp_remat` in 0.19.0-0.19.2",
            target=">=0.16.1", fixed="""
            from megatron.core import mpu
            mpu.get_data_parallel_group(True, partial_data_parallel=True)
        """),
        Invalid("""
            from megatron.core.parallel_state import get_tensor_and_data_parallel_group
            group = get_tensor_and_data_parallel_group(True)
        """, message="`check_initialized` in 0.15.0-0.19.2", target=">=0.9", fixed="""
            from megatron.core.parallel_state import get_tensor_and_data_parallel_group
            group = get_tensor_and_data_parallel_group(with_context_parallel=True)
        """),
        Invalid("""
            from functools import partial
            from megatron.core import parallel_state as ps
            tdp = partial(ps.get_tensor_and_data_parallel_group, True)
        """, message="positional argument 1 of `get_tensor_and_data_parallel_group()`", target=">=0.14,<0.16",
            fixed="""
            from functools import partial
            from megatron.core import parallel_state as ps
            tdp = partial(ps.get_tensor_and_data_parallel_group, with_context_parallel=True)
        """),
    ]

    def check(self, ctx: Context) -> None:
        sites = call_sites(ctx.model)
        if not sites:
            return
        idx = index()
        for site, base, b0, others in span_bindings(idx, ctx.target, sites, skip=lambda s: not s.args):
            for i, arg in enumerate(site.args):
                p0 = b0.positional[i]
                if p0 is None or p0 is VARARG:
                    continue  # already wrong (or collected by *args) where the code was written
                changed: dict[str, list[str]] = {}
                for r, b in others.items():
                    p = b.positional[i]
                    if p is None or p.name != p0.name and _moved(p0.name, p.name, b0, b):
                        changed.setdefault(p.name if p is not None else "", []).append(r)
                if changed:
                    self._report(ctx, idx, site, i, base, b0, others, changed)
                    break  # the fix rewrites this argument and every later one

    def _report(self, ctx, idx, site, i, base, b0, others, changed) -> None:
        p0 = b0.positional[i]
        parts = [f"`{name}` in {describe(rels, idx)}" if name else f"no parameter in {describe(rels, idx)}"
                 for name, rels in changed.items()]
        text = (f"positional argument {i + 1} of `{site.display}()` is `{p0.name}` in megatron-core {base} "
                f"but " + ", ".join(parts) + "; pass it by keyword")
        args = site.args[i:]
        names = [b0.positional[j].name for j in range(i, len(site.args))]
        params = [b0.positional[j] for j in range(i, len(site.args))]
        fix = None
        taken = {k.arg for k in site.keywords}
        if all(p is not None and p is not VARARG and p.kind == "pk" for p in params) and not taken & set(names):
            everywhere = all(all(n in b.signature.keyword_names() for n in names) for b in others.values())
            fix = ctx.fix(f"Pass {', '.join(f'`{n}=`' for n in names)} by keyword",
                          edits=[ctx.insert_before(a, f"{n}=") for a, n in zip(args, names)],
                          applicability=Applicability.SAFE if everywhere else Applicability.UNSAFE)
        ctx.report(site.call.args[i + (1 if site.style == "partial" else 0)], text=text, fix=fix,
                   callee=site.qualname, parameter=p0.name, index=i)

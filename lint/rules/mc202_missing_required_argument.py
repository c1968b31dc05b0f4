"""MC202: a required parameter of a megatron-core callable that the call does not pass.

Facts: parameters and defaults of every release from the API index
(``mcore_compat/data/api_index.jsonl``, generated from the PyPI wheels 0.5.0-0.19.2);
binding: :mod:`mcore_lint.calls`.
"""

from __future__ import annotations

from ..calls import Bound, bindings_in, call_sites, checked_releases, describe, index
from .base import Applicability, Context, Invalid, Rule, Valid


class MissingRequiredArgument(Rule):
    """## What it does
    Flags a call of a megatron-core function, method or constructor that leaves out a
    parameter without a default in the target release(s), counting positional and keyword
    arguments: `RowParallelLinear(...)` without `init_method`, `bias`, `input_is_parallel` and
    `skip_bias_add` (keyword-only and required in recent releases), `DistributedDataParallel(
    config, module)` without `ddp_config` (required from 0.7), a dataclass config without a
    field that has no default.

    Callees are resolved as for MC201 (functions, constructors and dataclasses with inherited
    fields, methods reached through a megatron class, `super().__init__`); `functools.partial`
    is not checked (the rest may come at the later call). Never flagged: calls with `*args` or
    `**kwargs`, callables that take `**kwargs`, anything not known statically, and calls inside
    compatibility guards.

    ## Why is this bad?
    The call raises `TypeError: missing required argument` when it first runs, typically after
    an upgrade made a parameter required or from code copied from a guide for another release.

    ## Example
    ```python
    from megatron.core.tensor_parallel import RowParallelLinear
    proj = RowParallelLinear(1024, 1024, config=config, init_method=init)
    ```
    Use instead:
    ```python
    proj = RowParallelLinear(1024, 1024, config=config, init_method=init, bias=True,
                             input_is_parallel=True, skip_bias_add=False)
    ```

    ## Fix safety
    Display-only: the value to pass is a decision only the author can make.
    """

    code = "MC202"
    name = "missing-required-argument"
    message = "{text}"
    fix = Applicability.DISPLAY_ONLY
    releases = ""

    VALID = [
        Valid("""
            from megatron.core.tensor_parallel import RowParallelLinear
            proj = RowParallelLinear(8, 8, config=cfg, init_method=init, bias=True, input_is_parallel=True,
                                     skip_bias_add=False)
            RowParallelLinear.forward(proj, x)
        """, target="0.16.1"),
        Valid("""
            from functools import partial
            from megatron.core.tensor_parallel import RowParallelLinear
            make = partial(RowParallelLinear, config=cfg)
        """, target="0.16.1"),
        Valid("""
            from megatron.core.tensor_parallel import RowParallelLinear
            proj = RowParallelLinear(8, 8, **common)
        """, target="0.16.1"),
        Valid("""
            from megatron.core.transformer import TransformerConfig
            cfg = TransformerConfig(2, num_layers=2, hidden_size=8, num_attention_heads=2)
        """, target="0.16.1"),
        Valid("""
            from megatron.core.distributed import DistributedDataParallel
            try:
                model = DistributedDataParallel(config, module)
            except TypeError:
                model = DistributedDataParallel(config, ddp_config, module)
        """, target="0.16.1"),
    ]
    INVALID = [
        Invalid("""
            from megatron.core.tensor_parallel import RowParallelLinear
            proj = RowParallelLinear(8, 8, config=cfg, init_method=init)
        """, message="`RowParallelLinear()` is missing required `bias`, `input_is_parallel`, `skip_bias_add` "
                     "in megatron-core 0.16.1", target="0.16.1"),
        Invalid("""
            from megatron.core.distributed import DistributedDataParallel as DDP
            model = DDP(config, module=module)
        """, message="missing required `ddp_config`", target="0.16.1"),
        Invalid("""
            from megatron.core.datasets.gpt_dataset import GPTDatasetConfig
            cfg = GPTDatasetConfig(sequence_length=4096, blend=blend, split="99,1,0", tokenizer=tok,
                                   reset_position_ids=False, reset_attention_mask=False, eod_mask_loss=False)
        """, message="`GPTDatasetConfig()` is missing required `random_seed`",
            target="0.16.1"),
        Invalid("""
            from megatron.core.tensor_parallel import ColumnParallelLinear
            ColumnParallelLinear(4, 8, config=cfg, init_method=init, bias=False, gather_output=False).forward()
        """, message="`ColumnParallelLinear.forward()` is missing required `input_`", target="0.16.1"),
    ]

    def check(self, ctx: Context) -> None:
        sites = call_sites(ctx.model)
        if not sites:
            return
        idx = index()
        releases = checked_releases(ctx.target, idx)
        for site in sites:
            if site.guarded or site.has_star_args or site.style == "partial":
                continue
            missing: dict[str, list[str]] = {}  # parameter -> releases requiring it
            for r, b in zip(releases, bindings_in(idx, site, releases)):
                if isinstance(b, Bound):
                    for p in b.missing:
                        missing.setdefault(p.name, []).append(r)
            if not missing:
                continue
            groups: dict[tuple[str, ...], list[str]] = {}
            for name, rels in missing.items():
                groups.setdefault(tuple(rels), []).append(name)
            parts = [f"{', '.join(f'`{n}`' for n in names)} in megatron-core {describe(rels, idx)}"
                     for rels, names in groups.items()]
            text = f"`{site.display}()` is missing required " + "; ".join(parts)
            failing = [r for r in releases if any(r in rels for rels in missing.values())]
            ctx.report(site.node, text=text, callee=site.qualname, missing=sorted(missing), releases=failing,
                       fix=ctx.fix("Pass " + ", ".join(f"`{n}=`" for n in missing)))

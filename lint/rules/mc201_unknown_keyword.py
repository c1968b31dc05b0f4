"""MC201: a keyword the target megatron-core release does not accept.

Facts: the parameters of every release's functions, methods and constructors (dataclass
fields with inherited ones) from the API index (``mcore_compat/data/api_index.jsonl``,
generated from the PyPI wheels 0.5.0-0.19.2 by ``tools/build_api_index.py``); keyword renames
from the reviewed facts table (``mcore_compat/data/facts.toml``). Binding: :mod:`mcore_lint.calls`.
"""

from __future__ import annotations

import ast

from ..calls import Bound, call_sites, checked_releases, describe, index
from ..calls import bindings_in
from ..calls.history import accepting_releases, ancestors, closest, moved_to, renamed_to
from ..findings import Location
from .base import Applicability, Context, Invalid, Rule, Valid


class UnknownKeyword(Rule):
    """## What it does
    Flags a keyword argument that the called megatron-core function, method or constructor
    does not accept in the release(s) the project targets: `TransformerConfig(some_field=...)`
    (dataclass fields are checked with the inherited ones), `initialize_model_parallel(
    encoder_pipeline_model_parallel_size=...)` after 0.13, `TransformerLayer(model_comm_pgs=...)`
    from 0.15. The message names the releases that do accept the keyword and, when the reviewed
    facts table knows one, the keyword it was renamed to (or the config class a field moved
    to: `OptimizerConfig(overlap_grad_reduce=)` -> `DistributedDataParallelConfig`); for a
    keyword no release ever took,
    the closest keyword the release takes ("did you mean").

    The callee must be known statically: a function or class imported from megatron.core
    (every import style, aliases such as `mpu`), a method reached through such a class
    (`Cls.method(obj, ...)`, `Cls(...).method(...)`, `x = Cls(...)` then `x.method(...)` when `x`
    is bound once in its function, `super().__init__(...)` in a class whose only base is a
    megatron class) or `functools.partial(f, ...)`. Never flagged: calls with `*args`
    or `**kwargs`, callables that take `**kwargs`, anything the index cannot tell (external base
    classes, decorators that change signatures), and calls inside compatibility guards
    (`try/except ImportError/AttributeError/TypeError`, `if hasattr(...)`, version checks,
    `inspect.signature` checks).

    ## Why is this bad?
    The call raises `TypeError: __init__() got an unexpected keyword argument` when the line
    first runs: on the cluster, after the upgrade, not where the code was written.

    ## Example
    ```python
    from megatron.core.transformer.transformer_layer import TransformerLayer
    layer = TransformerLayer(config, submodules, model_comm_pgs=pgs)  # megatron-core 0.16
    ```
    Use instead:
    ```python
    layer = TransformerLayer(config, submodules, pg_collection=pgs)
    ```

    ## Fix safety
    A reviewed rename is fixed by renaming the keyword: safe when every release the project
    supports takes the new keyword, unsafe when only some do. "Did you mean" suggestions are
    never applied.
    """

    code = "MC201"
    name = "unknown-keyword"
    message = "{text}"
    fix = Applicability.SAFE
    releases = ""

    VALID = [
        Valid("""
            from megatron.core.transformer import TransformerConfig
            from megatron.core import parallel_state as mpu
            cfg = TransformerConfig(num_layers=2, hidden_size=8, num_attention_heads=2, sequence_parallel=True)
            mpu.get_data_parallel_group(with_context_parallel=True)
        """, target="0.16.1"),
        Valid("""
            from megatron.core.transformer.transformer_layer import TransformerLayer
            layer = TransformerLayer(config, submodules, model_comm_pgs=pgs)
        """, target="0.14.0"),
        Valid("""
            from megatron.core.transformer.transformer_layer import TransformerLayer
            try:
                layer = TransformerLayer(config, submodules, pg_collection=pgs)
            except TypeError:
                layer = TransformerLayer(config, submodules, model_comm_pgs=pgs)
        """, target="0.14.0"),
        Valid("""
            import inspect
            from megatron.core.transformer.transformer_layer import TransformerLayer
            if "pg_collection" in inspect.signature(TransformerLayer).parameters:
                layer = TransformerLayer(config, submodules, pg_collection=pgs)
        """, target="0.14.0"),
        Valid("""
            from megatron.core.transformer import TransformerConfig
            extra = {"bogus": 1}
            cfg = TransformerConfig(num_layers=2, **extra)
            def make(*args, **kwargs):
                return TransformerConfig(*args, bogus=2, **kwargs)
        """, target="0.16.1"),
        Valid("""
            from megatron.core.transformer.spec_utils import build_module
            from megatron.core.process_groups_config import ProcessGroupCollection
            layer = build_module(spec, config=cfg, anything_goes=1)
            pgs = ProcessGroupCollection(tp=tp_group, anything_goes=2)
        """, target="0.16.1"),
    ]
    INVALID = [
        Invalid("""
            from megatron.core.transformer.transformer_config import TransformerConfig
            cfg = TransformerConfig(num_layers=2, hidden_size=8, num_attention_heads=2, sequence_paralel=True)
        """, message="did you mean `sequence_parallel`?", target="0.16.1"),
        Invalid("""
            from megatron.core.transformer.transformer_layer import TransformerLayer
            layer = TransformerLayer(config, submodules, model_comm_pgs=pgs)
        """, message="`TransformerLayer()` takes no keyword `model_comm_pgs` in megatron-core 0.16.1; "
                     "accepted in 0.13.0-0.14.0; renamed to `pg_collection`", target="0.16.1", fixed="""
            from megatron.core.transformer.transformer_layer import TransformerLayer
            layer = TransformerLayer(config, submodules, pg_collection=pgs)
        """),
        Invalid("""
            import megatron.core.parallel_state as ps
            ps.initialize_model_parallel(tensor_model_parallel_size=2, encoder_pipeline_model_parallel_size=1)
        """, message="accepted in 0.9.0-0.13.1", target="0.16.1"),
        Invalid("""
            from functools import partial
            from megatron.core import mpu
            get_rank = partial(mpu.get_data_parallel_rank, with_context_parallel=True, partial_dp=True)
        """, message="`get_data_parallel_rank()` takes no keyword `partial_dp`", target="0.16.1"),
        Invalid("""
            from megatron.core.transformer.module import MegatronModule
            class Head(MegatronModule):
                def __init__(self, config):
                    super().__init__(config=config, share_embeddings_and_output_weights=True)
        """, message="`MegatronModule()` takes no keyword `share_embeddings_and_output_weights`", target="0.16.1"),
        Invalid("""
            from megatron.core.tensor_parallel import ColumnParallelLinear
            ColumnParallelLinear.forward(layer, x, weights=w)
            ColumnParallelLinear(4, 8, config=cfg, init_method=init, bias=False, gather_output=False).forward(x, weights=w)
            def run(cfg, x, w):
                layer = ColumnParallelLinear(4, 8, config=cfg, init_method=init, bias=False, gather_output=False)
                return layer.forward(x, weights=w)
        """, message="`ColumnParallelLinear.forward()` takes no keyword `weights`", target="0.16.1", count=3),
        Invalid("""
            from megatron.core.optimizer import OptimizerConfig
            opt = OptimizerConfig(lr=1e-4, overlap_grad_reduce=True)
        """, message="accepted in 0.6.0-0.9.0; it moved to `DistributedDataParallelConfig(overlap_grad_reduce=...)`",
            target="0.12.0"),
        Invalid("""
            from megatron.core.transformer import MLATransformerConfig
            cfg = MLATransformerConfig(num_layers=2, max_position_embeddings=4096)
        """, message="renamed to `original_max_position_embeddings`", target="0.16.1", fixed="""
            from megatron.core.transformer import MLATransformerConfig
            cfg = MLATransformerConfig(num_layers=2, original_max_position_embeddings=4096)
        """),
    ]

    def check(self, ctx: Context) -> None:
        sites = call_sites(ctx.model)
        if not sites:
            return
        idx = index()
        releases = checked_releases(ctx.target, idx)
        for site in sites:
            if site.guarded or site.has_star_args or not site.keywords:
                continue
            bound = dict(zip(releases, bindings_in(idx, site, releases)))
            known = {r: b for r, b in bound.items() if isinstance(b, Bound)}
            if not known or not any(b.unknown_keywords for b in known.values()):
                continue  # every keyword binds in every release that knows the callee
            for kw in site.keywords:
                rejecting = [r for r, b in known.items() if kw.arg in b.unknown_keywords]
                if rejecting:
                    self._report(ctx, idx, site, kw, rejecting, known)

    def _report(self, ctx: Context, idx, site, kw: ast.keyword, rejecting: list[str], known: dict) -> None:
        name = kw.arg
        assert name is not None
        text = f"`{site.display}()` takes no keyword `{name}` in megatron-core {describe(rejecting, idx)}"
        accepting = accepting_releases(idx, site, name)
        if accepting:
            text += f"; accepted in {describe(accepting, idx)}"
        last = known[rejecting[-1]]
        definitions: list[str] = []
        for r, b in known.items():
            for q in ancestors(idx, r, b.signature.definition):
                if q not in definitions:
                    definitions.append(q)
        rename = renamed_to(definitions, name)
        fix = None
        if rename is not None:
            takes_new = [r for r, b in known.items() if rename.new in b.signature.keyword_names()]
            if takes_new:
                text += f"; renamed to `{rename.new}`"
                already = any(k.arg == rename.new for k in site.keywords)
                if set(rejecting) <= set(takes_new) and not already:
                    safe = len(takes_new) == len(known)
                    start, _ = ctx.model.location(kw)
                    end = Location(start.row, start.column + len(name))
                    fix = ctx.fix(f"Rename `{name}=` to `{rename.new}=`",
                                  edits=[ctx.replace_range(start, end, rename.new)],
                                  applicability=Applicability.SAFE if safe else Applicability.UNSAFE)
            else:
                rename = None
        moved = moved_to(definitions, name) if rename is None else None
        if moved:
            text += f"; it moved to `{moved.rsplit('.', 1)[-1]}({name}=...)`"
        if rename is None and not moved and not accepting:  # a typo: no release ever took it
            close = closest(name, last.signature)
            if close and not any(k.arg == close for k in site.keywords):
                text += f"; did you mean `{close}`?"
        ctx.report(kw, text=text, fix=fix, keyword=name, callee=site.qualname, releases=rejecting)

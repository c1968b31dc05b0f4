"""MC302: opt-in codemod that threads explicit process groups through checkpoint and loss code.

The rewrite is :mod:`mcore_lint.groups` (plan + libcst); the default selection is
``mcore_lint.groups.presets.DEFAULT_PRESET``.
"""

from __future__ import annotations

from mcore_lint.groups import rule_support
from mcore_lint.groups.presets import DEFAULT_PRESET

from .base import Applicability, Context, Invalid, Rule, Valid


class ThreadExplicitGroups(Rule):
    """## What it does
    For selected functions (default preset: `save_checkpoint`, `load_checkpoint`,
    `get_rng_state`, `*_build_sharded_state_dict_metadata`, `make_tp_sharded_tensor_for_checkpoint`,
    `make_sharded_tensor_for_checkpoint`, `loss_func`, `average_losses_across_data_parallel_group`)
    that use megatron's global groups, offers the migration upstream PR #2053 made by hand:
    trailing `Optional[torch.distributed.ProcessGroup] = None` parameters for exactly the groups
    the body uses (keyword-only when the signature has `*`), one **per-group** fallback each,
    `get_pg_rank(group)` / `get_pg_size(group)` / the parameter instead of the global calls, the
    groups passed on at same-module call sites, `dp_cp_group` stored in sharded-state-dict
    metadata (targets 0.16.0+), and the same for every selected caller of a function that gained
    groups, to a fixpoint.

    ## Why is this bad?
    Checkpoint and loss code that reads global groups cannot serve a model whose groups differ
    from megatron's globals, and megatron 0.16.0+ layers read `metadata['dp_cp_group']`.
    Threading groups by hand is long and error-prone: upstream's own version uses a joint
    fallback (`if tp_group is None and pp_group is None`) that leaves one group `None` - and
    `get_pg_size(None)` is 1 - when a caller passes only the other.

    ## Example
    ```python
    def get_rng_state(ckpt_format):
        tp_rank = mpu.get_tensor_model_parallel_rank()
        return ShardedObject("rng_state", state, (mpu.get_tensor_model_parallel_world_size(),), (tp_rank,))
    ```
    Use instead:
    ```python
    def get_rng_state(ckpt_format, tp_group: Optional[torch.distributed.ProcessGroup] = None):
        if tp_group is None:
            tp_group = mpu.get_tensor_model_parallel_group()
        tp_rank = get_pg_rank(tp_group)
        return ShardedObject("rng_state", state, (get_pg_size(tp_group),), (tp_rank,))
    ```

    ## Fix safety
    Unsafe, and the rule is off by default (select `MC302`). Signatures change (new trailing
    parameters; callers outside the module are not updated, they keep the fallbacks);
    fallbacks run at function entry, where the global getters may have run only on some paths;
    parallel_state's world-size/rank overrides no longer apply; a metadata dict that now holds a
    process group must not be serialised as is (upstream added
    `_clean_metadata_for_serialization` before `content_metadata=`). Nested functions and calls
    that pass `**kwargs` are left alone (reported in the docs' limitations).
    """

    code = "MC302"
    name = "thread-explicit-groups"
    message = "`{function}` uses global process groups: {summary}"
    fix = Applicability.UNSAFE
    releases = ""
    default_enabled = False
    #: Patterns of the functions to thread (qualified names or globs; see groups/presets.py).
    select: tuple[str, ...] = DEFAULT_PRESET
    VALID = [
        Valid("""
            from megatron.core import mpu

            def train_step(batch):
                return mpu.get_data_parallel_rank()
            """),
        Valid("""
            from typing import Optional

            import torch
            from megatron.core import mpu
            from megatron.core.utils import get_pg_size

            def loss_func(loss, dp_group: Optional[torch.distributed.ProcessGroup] = None):
                if dp_group is None:
                    dp_group = mpu.get_data_parallel_group()
                return loss / get_pg_size(dp_group)
            """, target="0.16.1"),
    ]
    INVALID = [
        Invalid("""
            import torch
            from megatron.core import mpu


            def average_losses_across_data_parallel_group(losses):
                \"\"\"Reduce a tensor of losses across all GPUs.\"\"\"
                averaged = torch.cat([loss.clone().detach().view(1) for loss in losses])
                torch.distributed.all_reduce(averaged, group=mpu.get_data_parallel_group())
                return averaged / mpu.get_data_parallel_world_size()


            def loss_func(loss):
                return loss, average_losses_across_data_parallel_group([loss])
            """,
                "`average_losses_across_data_parallel_group` uses global process groups: adds `dp_group`",
                fixed="""
            import torch
            from megatron.core import mpu
            from megatron.core.utils import get_pg_size
            from typing import Optional


            def average_losses_across_data_parallel_group(losses,
                                                          dp_group: Optional[torch.distributed.ProcessGroup] = None):
                \"\"\"Reduce a tensor of losses across all GPUs.\"\"\"
                if dp_group is None:
                    dp_group = mpu.get_data_parallel_group()
                averaged = torch.cat([loss.clone().detach().view(1) for loss in losses])
                torch.distributed.all_reduce(averaged, group=dp_group)
                return averaged / get_pg_size(dp_group)


            def loss_func(loss,
                          dp_group: Optional[torch.distributed.ProcessGroup] = None):
                return loss, average_losses_across_data_parallel_group([loss], dp_group=dp_group)
            """, unsafe=True, count=2, target="0.16.1"),
        Invalid("""
            from megatron.core import mpu


            def _build_sharded_state_dict_metadata(args) -> dict:
                metadata = {}
                metadata['singleton_local_shards'] = False
                return metadata
            """,
                "stores `dp_cp_group` in sharded-state-dict metadata",
                fixed="""
            from megatron.core import mpu
            import torch
            from typing import Optional


            def _build_sharded_state_dict_metadata(args,
                                                   dp_cp_group: Optional[torch.distributed.ProcessGroup] = None) -> dict:
                if dp_cp_group is None:
                    dp_cp_group = mpu.get_data_parallel_group(with_context_parallel=True)
                metadata = {}
                metadata['singleton_local_shards'] = False
                metadata['dp_cp_group'] = dp_cp_group
                return metadata
            """, unsafe=True, target="0.16.1"),
    ]

    def check(self, ctx: Context) -> None:
        model = ctx.model
        metadata = ("metadata" in model.source and rule_support.min_version(ctx.target, "0.16.0"))
        if not (rule_support.uses_global_getters(model) or metadata):
            return
        # only selected functions change, except literal `metadata={...}` dicts in a function
        # that has `dp_cp_group` (0.16.0+): without either, libcst is not needed
        if not (rule_support.selected_uses(model, self.select, metadata)
                or (metadata and rule_support.metadata_dict_in_scope(model))):
            return
        result = rule_support.run(model, ctx.target, select=self.select, rewrite_in_scope=False,
                                  plan_only=not ctx.want_edits)
        if result is None or not result.changed:
            return
        title = "Thread explicit process groups (per-group fallbacks)"
        fix = (ctx.fix(title, deferred=True) if result.deferred
               else ctx.fix(title, edits=result.edits(), imports=result.imports))
        for change in result.changes:
            node = rule_support.find_function(model, change.line)
            if node is None:
                continue
            ctx.report(node, fix=fix, function=change.qualname, summary=change.summary())

"""MC301: a function that receives a process group still asks the global state for it.

The rewrite is :mod:`mcore_lint.groups` (shared with MC302); facts in ``groups/vocabulary.py``.
"""

from __future__ import annotations

from mcore_lint.groups import rule_support

from .base import Applicability, Context, Invalid, Rule, Valid


class ExplicitGroupIgnored(Rule):
    """## What it does
    Inside a function that receives a process group - a parameter `tp_group`, `pp_group`,
    `dp_group`, `dp_cp_group`, `cp_group`, `ep_group` or `pg_collection`, or an object carrying
    one such as `self.tp_group` - flags calls to the matching global getter of
    `megatron.core.parallel_state` (`mpu.get_tensor_model_parallel_rank()`,
    `get_data_parallel_group(with_context_parallel=True)`, ...).

    ## Why is this bad?
    The caller passed a group and the function silently ignores it: ranks, sizes and
    collectives come from megatron's global groups instead. That is wrong as soon as the caller's
    group differs (a sub-model, a second model with its own layout, a test), and it is the
    half-threaded state upstream PR #2053 (NVIDIA/Megatron-LM 5f5741db) removed from checkpointing.

    ## Example
    ```python
    def get_checkpoint_name(path, tp_group=None):
        return f"{path}/mp_rank_{mpu.get_tensor_model_parallel_rank():02d}"
    ```
    Use instead:
    ```python
    def get_checkpoint_name(path, tp_group=None):
        if tp_group is None:
            tp_group = mpu.get_tensor_model_parallel_group()
        return f"{path}/mp_rank_{get_pg_rank(tp_group):02d}"
    ```

    ## Fix safety
    Unsafe. With the group left `None` the fix keeps the global answer (a per-group fallback is
    inserted once at the top of the function), but: the fallback runs when the function starts,
    not where the getter was (it asserts if model parallelism is not initialised even on paths
    that never called the getter); `get_pg_size`/`get_pg_rank` read the group itself, so the
    `set_tensor_model_parallel_world_size`-style overrides of parallel_state no longer apply;
    and when a group *is* passed, behaviour changes on purpose. `get_pg_rank`/`get_pg_size` come
    from `megatron.core.utils` when every target release has them (0.13.0+), else from
    `mcore_compat`.
    """

    code = "MC301"
    name = "explicit-group-ignored"
    message = "`{call}` ignores `{source}`, the group this function has; use `{replacement}`"
    fix = Applicability.UNSAFE
    releases = ""
    VALID = [
        Valid("""
            from megatron.core import mpu
            from megatron.core.utils import get_pg_rank

            def rank_name(tp_group=None):
                if tp_group is None:
                    tp_group = mpu.get_tensor_model_parallel_group()
                return f"rank{get_pg_rank(tp_group)}"
            """),
        Valid("""
            from megatron.core import mpu

            def rank_name():
                return f"rank{mpu.get_tensor_model_parallel_rank()}"
            """),
        Valid("""
            from megatron.core import mpu

            def sizes(tp_group=None):
                # a different group than the one received: not ignored
                return mpu.get_pipeline_model_parallel_world_size()
            """),
    ]
    INVALID = [
        Invalid("""
            from megatron.core import mpu


            def rank_name(path, tp_group=None):
                \"\"\"Directory of this rank.\"\"\"
                return f"{path}/mp_rank_{mpu.get_tensor_model_parallel_rank():02d}"
            """,
                "`mpu.get_tensor_model_parallel_rank()` ignores `tp_group`, the group this function has",
                fixed="""
            from megatron.core import mpu
            from megatron.core.utils import get_pg_rank


            def rank_name(path, tp_group=None):
                \"\"\"Directory of this rank.\"\"\"
                if tp_group is None:
                    tp_group = mpu.get_tensor_model_parallel_group()
                return f"{path}/mp_rank_{get_pg_rank(tp_group):02d}"
            """, unsafe=True, target="0.16.1"),
        Invalid("""
            import torch
            from megatron.core import parallel_state


            class Reporter:
                def __init__(self, dp_group=None):
                    self.dp_group = dp_group

                def report(self, loss):
                    torch.distributed.all_reduce(loss, group=parallel_state.get_data_parallel_group())
                    return loss / parallel_state.get_data_parallel_world_size()
            """,
                "ignores `self.dp_group`",
                fixed="""
            import torch
            from megatron.core import parallel_state
            from mcore_compat import get_pg_size


            class Reporter:
                def __init__(self, dp_group=None):
                    self.dp_group = dp_group

                def report(self, loss):
                    dp_group = getattr(self, "dp_group", None)
                    if dp_group is None:
                        dp_group = parallel_state.get_data_parallel_group()
                    torch.distributed.all_reduce(loss, group=dp_group)
                    return loss / get_pg_size(dp_group)
            """, unsafe=True, count=2, target="0.12.3"),
    ]

    def check(self, ctx: Context) -> None:
        model = ctx.model
        if not rule_support.ignored_candidates(model):
            return  # the ast fast path: libcst only for files that may have a finding
        result = rule_support.run(model, ctx.target, select=(), rewrite_in_scope=True,
                                  plan_only=not ctx.want_edits)
        if result is None or not result.ignored:
            return
        title = "Use the received group (per-group fallback to the global one)"
        fix = (ctx.fix(title, deferred=True) if result.deferred
               else ctx.fix(title, edits=result.edits(), imports=result.imports))
        for item in result.ignored:
            node = rule_support.locate_ignored(model, item)
            if node is None:
                continue
            ctx.report(node, fix=fix, call=item.call, group=item.group, source=item.source,
                       replacement=item.replacement)

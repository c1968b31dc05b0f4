"""MC401: a loss reduced or averaged over the whole world instead of data-parallel replicas.

Display-only: the right group depends on the model's layout, which a linter cannot see.
"""

from __future__ import annotations

import ast
import re

from .base import Applicability, Context, Invalid, Rule, Valid

#: Functions whose reductions are about losses or metrics (name contains one of these words).
_LOSS_FUNCTION = re.compile(r"loss|metric", re.IGNORECASE)
ALL_REDUCE = "torch.distributed.all_reduce"
WORLD_SIZE = "torch.distributed.get_world_size"


class LossAllReduceWithoutGroup(Rule):
    """## What it does
    Inside a loss or metrics function (its name contains `loss` or `metric`), flags
    `torch.distributed.all_reduce(...)` without a `group` (third positional argument or
    `group=`), and a "mean" that divides by `torch.distributed.get_world_size()` without a group.

    ## Why is this bad?
    Without a group the reduction runs over every rank of the job. With tensor, pipeline or
    context parallelism the ranks of one data-parallel replica hold the *same* loss (or parts of
    one sample), so the sum counts it several times and dividing by the world size is not a mean
    over replicas; on pipeline-parallel runs non-last stages contribute garbage. Megatron's own
    `average_losses_across_data_parallel_group` reduces over the data-parallel group.

    ## Example
    ```python
    def log_loss(loss):
        torch.distributed.all_reduce(loss)
        return loss / torch.distributed.get_world_size()
    ```
    Use instead:
    ```python
    def log_loss(loss, dp_group=None):
        if dp_group is None:
            dp_group = parallel_state.get_data_parallel_group()
        torch.distributed.all_reduce(loss, group=dp_group)
        return loss / get_pg_size(dp_group)
    ```
    or `average_losses_across_data_parallel_group([loss])`.

    ## Fix safety
    Display-only: which group is right (data-parallel, data-parallel with context parallelism,
    the whole model-parallel group for a max) depends on what the value is; the message shows the
    data-parallel form, nothing is rewritten.
    """

    code = "MC401"
    name = "loss-all-reduce-without-group"
    message = "{what} in `{function}` {problem}; use {instead}"
    fix = Applicability.DISPLAY_ONLY
    releases = ""
    roots = ("torch.distributed", "megatron")  # dotted: only lines naming torch.distributed are visited
    VALID = [
        Valid("""
            import torch
            from megatron.core import parallel_state

            def loss_func(loss):
                torch.distributed.all_reduce(loss, group=parallel_state.get_data_parallel_group())
                return loss / parallel_state.get_data_parallel_world_size()
            """),
        Valid("""
            import torch

            def sync_flags(flag):
                torch.distributed.all_reduce(flag)  # not a loss: a world-wide flag is intended
                return flag
            """),
        Valid("""
            import torch.distributed as dist

            def reduce_loss(loss, group):
                dist.all_reduce(loss, dist.ReduceOp.SUM, group)
                return loss / dist.get_world_size(group)
            """),
    ]
    INVALID = [
        Invalid("""
            import torch

            def log_metrics(loss):
                reported = loss.clone().detach()
                torch.distributed.all_reduce(reported)
                return reported / torch.distributed.get_world_size()
            """,
                "reduces over every rank", count=2),
        Invalid("""
            import torch.distributed as dist

            def compute_loss(loss):
                dist.all_reduce(loss, op=dist.ReduceOp.SUM)
                return loss
            """,
                "`group=parallel_state.get_data_parallel_group()`"),
    ]

    def check(self, ctx: Context) -> None:
        model = ctx.model
        for ref in model.references:
            call = ref.call
            if call is None or ref.qualname not in (ALL_REDUCE, WORLD_SIZE):
                continue
            fn = model.enclosing_function(call)
            if fn is None or not _LOSS_FUNCTION.search(fn.name):
                continue
            has_group = any(k.arg == "group" for k in call.keywords) or any(
                k.arg is None for k in call.keywords)
            if ref.qualname == ALL_REDUCE:
                if has_group or len(call.args) >= 3 or any(isinstance(a, ast.Starred) for a in call.args):
                    continue
                fix = ctx.fix("Reduce over the data-parallel group")
                ctx.report(call, fix=fix, what="`all_reduce` without a group", function=fn.name,
                           problem="reduces over every rank of the job, not over data-parallel replicas",
                           instead="`group=parallel_state.get_data_parallel_group()` or "
                                   "`average_losses_across_data_parallel_group([loss])`")
            else:
                if has_group or call.args:
                    continue
                parent = model.parent(call)
                if not (isinstance(parent, (ast.BinOp, ast.AugAssign)) and isinstance(parent.op, ast.Div)):
                    continue
                fix = ctx.fix("Divide by the data-parallel size")
                ctx.report(call, fix=fix, what="a mean over `get_world_size()`", function=fn.name,
                           problem="divides by the world size, which reduces over every rank "
                                   "instead of the data-parallel replicas",
                           instead="`get_pg_size(dp_group)` or "
                                   "`parallel_state.get_data_parallel_world_size()`")

"""Data-parallel loss averaging, the step every SFT trainer writes by hand.

The seed (../shared/seeds/sft-trainer-parallel-state-fix.md) shows the usual hand-written
version crashing on a name that never existed (``tensor_parallel.get_data_parallel_world_size``)
and, once fixed, skipping the division by the group size. Here: one all-reduce (SUM) over the
data-parallel group, divided by that group's size; the group falls back like every other
(explicit ``dp_group=``, else ``pg_collection.dp``, else megatron's data-parallel group), and
without torch.distributed the losses come back unchanged (as one detached 1-D tensor).
"""

from __future__ import annotations

from typing import Any, Sequence

from mcore_compat._dist import dist_ready, torch_dist
from mcore_compat.groups import resolve_field
from mcore_compat.pg import get_pg_size


def average_losses_across_data_parallel_group(losses: Any, *, dp_group: Any = None,
                                              pg_collection: Any = None) -> Any:
    """Mean of each loss over the data-parallel ranks, as a 1-D tensor (one entry per loss).

    ``losses`` is a tensor (any shape with one element, or a 1-D tensor of several losses) or a
    sequence of one-element tensors, as megatron's own ``average_losses_across_data_parallel_group``
    in ``megatron.training.utils`` takes. Inputs are not modified and no autograd graph is kept.
    Pass the ``dp_cp`` group as ``dp_group=`` when context-parallel ranks hold different tokens.
    """
    import torch

    averaged = _stack(losses, torch)
    if not dist_ready():
        return averaged
    group = resolve_field("dp", dp_group, pg_collection)
    size = get_pg_size(group)
    if size > 1:
        dist = torch_dist()
        assert dist is not None
        dist.all_reduce(averaged, op=dist.ReduceOp.SUM, group=group)
        averaged /= size
    return averaged


def _stack(losses: Any, torch: Any) -> Any:
    if isinstance(losses, torch.Tensor):
        return losses.detach().clone().reshape(-1).float() if not losses.is_floating_point() \
            else losses.detach().clone().reshape(-1)
    if not isinstance(losses, Sequence) or isinstance(losses, (str, bytes)) or not losses:
        raise TypeError(f"losses must be a tensor or a non-empty sequence of tensors, got "
                        f"{type(losses).__name__}: {losses!r}")
    parts = []
    for i, loss in enumerate(losses):
        t = loss if isinstance(loss, torch.Tensor) else torch.as_tensor(loss)
        if t.numel() != 1:
            raise ValueError(f"losses[{i}] has {t.numel()} elements (shape {tuple(t.shape)}); "
                             "each loss must be one number")
        parts.append(t.detach().clone().reshape(1).to(torch.float32 if not t.is_floating_point()
                                                      else t.dtype))
    return torch.cat(parts)

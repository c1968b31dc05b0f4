"""Size, rank and source rank of a process group, on every megatron-core release.

``megatron.core.utils.get_pg_size`` / ``get_pg_rank`` exist only from 0.13.0 and
``get_pg_src_rank`` only from 0.16.0 (megatron-core-api-history.md §4, read from the 0.13.0 and
0.16.0 wheels), so code written against them breaks on older releases. These give the same
answers everywhere: ``1`` / ``0`` / ``0`` when torch.distributed is not initialised or the
group is ``None`` (the world group is *not* used, as upstream), else the group's own answer.
One difference on purpose: a group that does not contain the calling rank raises
``ValueError`` naming the rank (upstream crashes or answers ``-1``).
"""

from __future__ import annotations

from typing import Any

from mcore_compat._dist import check_member, dist_ready, torch_dist


def get_pg_size(group: Any = None) -> int:
    """World size of ``group``; 1 without torch.distributed or for ``group=None``."""
    if group is None or not dist_ready():
        return 1
    return int(check_member(group, "the process group").size())


def get_pg_rank(group: Any = None) -> int:
    """Rank of the caller in ``group``; 0 without torch.distributed or for ``group=None``."""
    if group is None or not dist_ready():
        return 0
    return int(check_member(group, "the process group").rank())


def get_pg_src_rank(group: Any = None) -> int:
    """Global rank of the group's first member (its broadcast source); 0 when single-process."""
    if group is None or not dist_ready():
        return 0
    dist = torch_dist()
    assert dist is not None
    return int(dist.get_process_group_ranks(check_member(group, "the process group"))[0])

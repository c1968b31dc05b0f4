"""A pure-Python model of megatron's rank layout: which rank is what, and who loads data.

No torch, no torch.distributed: the same answers as megatron-core's ``RankGenerator`` for any
world size, so jobs and dataloaders can be planned before the GPUs exist.
"""

from __future__ import annotations

from mcore_compat.layout.errors import LayoutError
from mcore_compat.layout.model import COORD_KEYS, DECODER_TOKENS, EXPERT_TOKENS, RankLayout
from mcore_compat.layout.orders import DEFAULT_ORDER, PP_BEFORE_DP_ORDER
from mcore_compat.layout.parallel_config import ParallelConfig
from mcore_compat.layout.roles import WorkerConfigArgs

__all__ = [
    "COORD_KEYS",
    "DECODER_TOKENS",
    "DEFAULT_ORDER",
    "EXPERT_TOKENS",
    "PP_BEFORE_DP_ORDER",
    "LayoutError",
    "ParallelConfig",
    "RankLayout",
    "WorkerConfigArgs",
]

"""The seed's ``ParallelConfig`` (``parallel-config.md``), built on ``RankLayout``.

Usage exactly as the seed documents it, under torchrun::

    cfg = ParallelConfig({"tp": 2, "pp": 1, "dp": 2})
    cfg.global_rank, cfg.world_size, cfg.tp_rank, cfg.pp_rank, cfg.dp_rank, cfg.get_local_rank()
    print(cfg)  # ParallelConfig(global_rank=2, world_size=4, tp=2[rank=0], pp=1[rank=0], dp=2[rank=1])

The seed demands ``tp * pp * dp == world_size``; a mismatch is an error naming both numbers.
Ranks follow megatron's default order (``tp-cp-ep-dp-pp``) unless ``order`` says otherwise,
so the answers equal ``parallel_state``'s after ``initialize_model_parallel``.
"""

from __future__ import annotations

from collections.abc import Mapping

from mcore_compat.layout.errors import LayoutError
from mcore_compat.layout.model import RankLayout
from mcore_compat.layout.orders import DEFAULT_ORDER

_KEYS = ("tp", "pp", "dp", "cp")


class ParallelConfig:
    """TP/PP/DP (and CP) ranks of this process from a size dict and the torchrun environment."""

    def __init__(
        self,
        config: Mapping[str, int],
        *,
        order: str = DEFAULT_ORDER,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(config, Mapping):
            raise LayoutError(f"config must be a dict such as {{'tp': 2, 'pp': 1, 'dp': 2}}, got {config!r}")
        unknown = sorted(set(config) - set(_KEYS))
        if unknown:
            raise LayoutError(f"unknown key(s) {unknown} in config {dict(config)}: known keys are {list(_KEYS)}")
        sizes = {k: config.get(k, 1) for k in _KEYS}
        for key, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LayoutError(f"config[{key!r}] must be a positive integer, got {value!r}")
        probe = RankLayout.from_env(env, tp=1)  # reads and checks RANK / WORLD_SIZE first
        product = sizes["tp"] * sizes["pp"] * sizes["dp"] * sizes["cp"]
        if product != probe.world_size:
            names = "*".join(k for k in _KEYS if k in config)
            values = "*".join(str(sizes[k]) for k in _KEYS if k in config)
            raise LayoutError(
                f"{names} = {values} = {product} does not equal world_size {probe.world_size}: "
                f"the product of the parallel sizes must be the number of processes"
            )
        self.layout = RankLayout.from_env(
            env, tp=sizes["tp"], pp=sizes["pp"], cp=sizes["cp"], order=order
        )
        self.tp, self.pp, self.dp, self.cp = sizes["tp"], sizes["pp"], sizes["dp"], sizes["cp"]
        self.global_rank: int = self.layout.rank  # type: ignore[assignment]
        self.world_size: int = self.layout.world_size
        coords = self.layout.coords()
        self.tp_rank, self.pp_rank, self.dp_rank, self.cp_rank = (
            coords["tp"], coords["pp"], coords["dp"], coords["cp"],
        )
        self._local_rank = self.layout.local_rank

    def get_local_rank(self) -> int:
        """``LOCAL_RANK`` as torchrun sets it (the GPU index on this node)."""
        if self._local_rank is None:
            raise LayoutError("environment variable LOCAL_RANK is not set; run under torchrun")
        return self._local_rank

    def __repr__(self) -> str:
        cp = f", cp={self.cp}[rank={self.cp_rank}]" if self.cp != 1 else ""
        return (
            f"ParallelConfig(global_rank={self.global_rank}, world_size={self.world_size}, "
            f"tp={self.tp}[rank={self.tp_rank}], pp={self.pp}[rank={self.pp_rank}], "
            f"dp={self.dp}[rank={self.dp_rank}]{cp})"
        )

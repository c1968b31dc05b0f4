"""A mixed-radix grid of ranks: the arithmetic behind megatron's ``RankGenerator``.

Megatron numbers ranks by an order string such as ``"tp-cp-ep-dp-pp"``: the first axis varies
fastest, so ``rank = sum(coord[a] * stride[a])`` with ``stride`` the running product of the
sizes before ``a``. A group of kind ``"tp-pp"`` holds every rank that shares all the *other*
coordinates. Source: ``generate_masked_orthogonal_rank_groups`` and ``RankGenerator`` in
``megatron/core/parallel_state.py`` (megatron-core 0.7 onwards; read in 0.16.1). This module
re-does that arithmetic without torch, in the same enumeration order, so the lists compare
equal element for element: groups in order of their "other" coordinates (first axis fastest),
ranks inside a group in order of the masked coordinates (first axis fastest).
"""

from __future__ import annotations

from functools import lru_cache
from math import prod

from mcore_compat.layout.errors import LayoutError


class OrderedGrid:
    """Ranks ``0 .. prod(sizes)-1`` laid out over named axes, first axis fastest."""

    def __init__(self, axes: tuple[str, ...], sizes: tuple[int, ...]) -> None:
        if len(axes) != len(sizes):
            raise LayoutError(f"{len(axes)} axes {axes} but {len(sizes)} sizes {sizes}")
        self.axes = axes
        self.sizes = sizes
        self.world_size = prod(sizes)
        strides = []
        running = 1
        for size in sizes:
            strides.append(running)
            running *= size
        self.strides = tuple(strides)
        self._groups = lru_cache(maxsize=None)(self._compute_groups)

    def size(self, axis: str) -> int:
        return self.sizes[self.axes.index(axis)]

    def coord(self, rank: int, axis: str) -> int:
        i = self.axes.index(axis)
        return (rank // self.strides[i]) % self.sizes[i]

    def coords(self, rank: int) -> dict[str, int]:
        return {a: (rank // d) % s for a, s, d in zip(self.axes, self.sizes, self.strides)}

    def mask(self, token: str) -> frozenset[str]:
        """The axes a group token names (``"dp-cp"`` -> {dp, cp}); unknown names are errors."""
        names = token.lower().split("-")
        unknown = [n for n in names if n not in self.axes]
        if unknown or not token:
            raise LayoutError(
                f"unknown parallelism {unknown or [token]!r} in group token {token!r}: "
                f"a token joins names from {list(self.axes)} with '-'"
            )
        if len(set(names)) != len(names):
            raise LayoutError(f"group token {token!r} names an axis twice")
        return frozenset(names)

    def groups(self, token: str) -> tuple[tuple[int, ...], ...]:
        return self._groups(self.mask(token))

    def _compute_groups(self, masked: frozenset[str]) -> tuple[tuple[int, ...], ...]:
        inside = [(s, d) for a, s, d in zip(self.axes, self.sizes, self.strides) if a in masked]
        outside = [(s, d) for a, s, d in zip(self.axes, self.sizes, self.strides) if a not in masked]
        offsets = _offsets(inside)
        return tuple([tuple([base + o for o in offsets]) for base in _offsets(outside)])

    def group_index(self, token: str, rank: int) -> int:
        """Index into ``groups(token)`` of the group holding ``rank`` (no list search)."""
        masked = self.mask(token)
        index, scale = 0, 1
        for a, s, d in zip(self.axes, self.sizes, self.strides):
            if a not in masked:
                index += ((rank // d) % s) * scale
                scale *= s
        return index


def _offsets(dims: list[tuple[int, int]]) -> list[int]:
    """All sums ``sum(c_i * stride_i)``, first dimension fastest (megatron's ``decompose``)."""
    out = [0]
    for size, stride in dims:
        out = [o + c * stride for c in range(size) for o in out]
    return out

"""Order strings: which axis of the rank grid varies fastest.

Facts (megatron-core 0.16.1, ``megatron/core/parallel_state.py``):

* ``initialize_model_parallel(order="tp-cp-ep-dp-pp")`` is the default; its docstring says
  ``tp-dp-pp`` and ``tp-pp-dp`` style orders are supported (TP first, CP and EP between, then
  ``dp-pp`` or ``pp-dp``).
* ``RankGenerator.__init__`` lower-cases the order and appends every missing axis whose size
  is 1 (in the order ``tp, pp, dp, ep, cp``); a missing axis of size > 1 is a ``RuntimeError``.
  Any permutation passes ``RankGenerator`` itself, so this model accepts any permutation too.
* ``initialize_model_parallel`` asserts that an order not ending in ``pp`` (with PP > 1) keeps
  the expert data-parallel size equal to the data-parallel size, and that the decoder and expert
  generators produce the same pipeline groups.
"""

from __future__ import annotations

from mcore_compat.layout.errors import LayoutError

#: The five axis names megatron's RankGenerator knows, in the order it appends missing ones.
AXES: tuple[str, ...] = ("tp", "pp", "dp", "ep", "cp")

#: megatron-core's default ``order`` (``initialize_model_parallel``, 0.7 through 0.17 at least).
DEFAULT_ORDER = "tp-cp-ep-dp-pp"

#: The order under which the Energon dataloader example numbers its ranks (TP, then PP, then DP).
PP_BEFORE_DP_ORDER = "tp-cp-ep-pp-dp"


def complete_order(order: str, sizes: dict[str, int]) -> tuple[str, ...]:
    """The full five-axis order megatron uses for ``order`` with these axis sizes.

    Raises ``LayoutError`` for unknown or repeated names and for a left-out axis of size > 1.
    """
    if not isinstance(order, str) or not order.strip():
        raise LayoutError(f"order must be a string such as {DEFAULT_ORDER!r}, got {order!r}")
    tokens = order.strip().lower().split("-")
    unknown = [t for t in tokens if t not in AXES]
    if unknown:
        raise LayoutError(
            f"unknown order token(s) {unknown} in order {order!r}: "
            f"an order joins names from {list(AXES)} with '-' (e.g. {DEFAULT_ORDER!r})"
        )
    repeated = sorted({t for t in tokens if tokens.count(t) > 1})
    if repeated:
        raise LayoutError(f"order {order!r} names {repeated} more than once")
    missing_big = [f"{a}={sizes[a]}" for a in AXES if a not in tokens and sizes[a] != 1]
    if missing_big:
        raise LayoutError(
            f"order {order!r} leaves out {', '.join(missing_big)}: only axes of size 1 may be "
            f"left out of the order"
        )
    return tuple(tokens) + tuple(a for a in AXES if a not in tokens)

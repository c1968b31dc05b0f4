"""Reviewed facts about megatron-core releases, shared by the shim and the linter.

STUB: the shim-part-2 issue fills this module (data file + queries). The functions below are
the agreed interface; other modules may call them already.
"""

from __future__ import annotations


def releases_accepting(qualname: str, keyword: str) -> str | None:
    """Human-readable span of releases in which callable ``qualname`` (e.g.
    ``"megatron.core.parallel_state.get_data_parallel_rank"``) accepts ``keyword``, such as
    ``"0.10.0 and later"`` or ``"0.8.0–0.9.0"``; ``None`` when unknown."""
    return None

"""``mcore-lint api``: what changed in megatron-core between two releases, and one symbol's
history, read from the shipped API index (:mod:`mcore_compat.api_index`).

The upgrade report a user reads before bumping the pin: :mod:`.diff` computes it (added,
removed, moved, renamed -- from the reviewed facts, see :mod:`.renames` -- and changed
signatures), :mod:`.show` groups a symbol's signature into runs of releases, :mod:`.render`
formats both (text, json, a self-contained html page), :mod:`.command` is the click command.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> submodule. Imported on first use (PEP 562): the lint rules import this
#: package's ``symbols``/``messages`` and should not pay for the report's diff and rendering
#: modules (~5 ms of a run that re-checks one file).
_LAZY = {"ApiDiff": "diff", "Change": "diff", "diff_releases": "diff", "param_changes": "diff",
         "SymbolHistory": "show", "show_symbol": "show"}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

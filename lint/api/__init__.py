"""``mcore-lint api``: what changed in megatron-core between two releases, and one symbol's
history, read from the shipped API index (:mod:`mcore_compat.api_index`).

The upgrade report a user reads before bumping the pin: :mod:`.diff` computes it (added,
removed, moved, renamed -- from the reviewed facts, see :mod:`.renames` -- and changed
signatures), :mod:`.show` groups a symbol's signature into runs of releases, :mod:`.render`
formats both (text, json, a self-contained html page), :mod:`.command` is the click command.
"""

from .diff import ApiDiff, Change, diff_releases, param_changes
from .show import SymbolHistory, show_symbol

__all__ = ["ApiDiff", "Change", "diff_releases", "param_changes", "SymbolHistory", "show_symbol"]

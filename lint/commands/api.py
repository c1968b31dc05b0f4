"""``mcore-lint api``: the upgrade report (``diff A B``) and a symbol's history (``show Q``).

The commands live in :mod:`mcore_lint.api.command`; this module only plugs them into the CLI
(the engine discovers ``command`` here).
"""

from __future__ import annotations

from ..api.command import api as command

__all__ = ["command"]

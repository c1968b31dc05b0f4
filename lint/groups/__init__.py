"""Explicit process groups: the codemod behind MC301/MC302 (see transform.py).

The names below load lazily (PEP 562): ``transform`` imports libcst, which costs ~0.3 s, and
the rules import :mod:`mcore_lint.groups.rule_support` on every run but need libcst only for
a file that has a finding.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "DEFAULT_PRESET": "presets",
    "expand": "presets",
    "matches": "presets",
    "GroupsResult": "transform",
    "Options": "transform",
    "apply_import_requests": "transform",
    "edits_from_diff": "transform",
    "fix_source": "transform",
    "pg_helpers_module": "transform",
    "thread_groups": "transform",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])

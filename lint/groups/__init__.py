"""Explicit process groups: the codemod behind MC301/MC302 (see transform.py)."""

from mcore_lint.groups.presets import DEFAULT_PRESET, expand, matches
from mcore_lint.groups.transform import (
    GroupsResult,
    Options,
    apply_import_requests,
    edits_from_diff,
    fix_source,
    pg_helpers_module,
    thread_groups,
)

__all__ = [
    "DEFAULT_PRESET",
    "GroupsResult",
    "Options",
    "apply_import_requests",
    "edits_from_diff",
    "expand",
    "fix_source",
    "matches",
    "pg_helpers_module",
    "thread_groups",
]

"""Applying fixes: text edits at ast positions, then one libcst pass for the file's imports,
repeated until nothing changes (bounded), reverted when the result no longer parses."""

from .edits import OverlapError, apply_edits
from .imports import schedule_imports
from .loop import FixResult, fix_source

__all__ = ["FixResult", "OverlapError", "apply_edits", "fix_source", "schedule_imports"]

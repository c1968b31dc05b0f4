"""Output formats: text, json (ruff's field names), sarif 2.1.0, github annotations.

A reporter formats findings it is given; it never knows a rule's logic. ``render`` returns the
whole stdout document (json/sarif: only the document).
"""

from __future__ import annotations

from typing import Sequence

from ..findings import FileProblem, Finding
from . import github, json_format, sarif, text

FORMATS = ("text", "json", "sarif", "github")


def render(fmt: str, findings: Sequence[Finding], *, rules: Sequence[type] = (), problems: Sequence[FileProblem] = (),
           statistics: bool = False, fixed: Sequence[Finding] = (), fix_mode: bool = False,
           unsafe_fixes: bool = False, files: int = 0, target: str | None = None) -> str:
    """The report; ``target`` (``Settings.describe_target()``) is named in text output when
    there are findings and in SARIF's ``run.properties``; JSON stays a bare list."""
    if statistics:
        return json_format.render_statistics(findings) if fmt == "json" else text.render_statistics(findings)
    if fmt == "json":
        return json_format.render(findings)
    if fmt == "sarif":
        return sarif.render(findings, rules, problems, target=target)
    if fmt == "github":
        return github.render(findings)
    return text.render(findings, fixed=fixed, fix_mode=fix_mode, unsafe_fixes=unsafe_fixes, files=files, target=target)


__all__ = ["FORMATS", "render"]

"""The fix loop (ruff's design): apply the applicable fixes that do not overlap, schedule their
imports, re-check, repeat until nothing changes (at most ``MAX_ITERATIONS``). A pass whose
result no longer parses is undone entirely and the rules whose fixes were in it are named.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field
from typing import Sequence

from ..engine import ParseError, check_source, parse
from ..findings import Applicability, Edit, Finding, Fix
from ..rules.base import Rule
from ..target import Target
from .edits import OverlapError, apply_edits, overlaps, spans
from .imports import schedule_imports

MAX_ITERATIONS = 10


@dataclass
class FixResult:
    text: str  # the fixed text (the original when nothing applied or on error)
    fixed: list[Finding] = field(default_factory=list)  # findings whose fixes were applied
    remaining: list[Finding] = field(default_factory=list)  # findings in the final text
    error: str | None = None  # why the fixes were reverted, naming the rules
    converged: bool = True

    @property
    def changed(self) -> bool:
        return bool(self.fixed)


def applicable(fix: Fix | None, unsafe: bool) -> bool:
    if fix is None or not (fix.edits or fix.imports or fix.deferred):
        return False
    return fix.applicability == Applicability.SAFE or (unsafe and fix.applicability == Applicability.UNSAFE)


def _choose(text: str, findings: list[Finding], unsafe: bool) -> list[Finding]:
    """Findings whose fixes can be applied together (first come first served by position)."""
    taken: list[tuple[int, int, str]] = []
    chosen: list[Finding] = []
    for f in findings:
        if not applicable(f.fix, unsafe):
            continue
        sp = spans(text, f.fix.edits)  # type: ignore[union-attr]
        if any(overlaps(a, b) for a in sp for b in taken):
            continue
        taken.extend(sp)
        chosen.append(f)
    return chosen


def fix_source(source: str, filename: str, rules: Sequence[type[Rule]], target: Target | None = None, *,
               unsafe: bool = False, module: str | None = None, is_package: bool = False,
               max_iterations: int = MAX_ITERATIONS, edits: bool = True) -> FixResult:
    """Fix ``source`` until no applicable fix remains. Raises ParseError if the input does not parse.

    ``edits=False``: the report prints no edits of the findings left, so a rule whose fixes this
    run cannot apply (unsafe ones without ``unsafe``) may leave them deferred: ``mcore-fix``
    then costs about what ``mcore-lint`` costs on files it does not rewrite."""
    current = source
    fixed: list[Finding] = []
    check = functools.partial(check_source, filename=filename, rules=rules, target=target, module=module,
                              is_package=is_package, edits=edits,
                              apply=Applicability.UNSAFE if unsafe else Applicability.SAFE)
    findings = check(current)
    for _ in range(max_iterations):
        chosen = _choose(current, findings, unsafe)
        if not chosen:
            return FixResult(current, fixed, findings)
        edits: list[Edit] = [e for f in chosen for e in f.fix.edits]  # type: ignore[union-attr]
        requests = [r for f in chosen for r in f.fix.imports]  # type: ignore[union-attr]
        codes = sorted({f.code for f in chosen})
        try:
            new = apply_edits(current, edits)
            new = schedule_imports(new, requests)
            tree = parse(new, filename)
        except (OverlapError, ParseError, ValueError, Exception) as e:  # noqa: BLE001 - any failure reverts
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            return FixResult(source, [], check(source),
                             error=f"fix by {', '.join(codes)} produced invalid code ({reason}); "
                                   f"changes reverted - please report this bug")
        if new == current:
            return FixResult(current, fixed, findings)
        fixed.extend(chosen)
        current = new
        findings = check(current, tree=tree)
    return FixResult(current, fixed, findings, converged=not _choose(current, findings, unsafe))

"""Human text output, ruff's concise form: ``path:row:col: CODE [*] message`` plus a summary."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from ..findings import Applicability, Finding


def _marker(f: Finding) -> str:
    if f.fix is not None and f.fix.applicability == Applicability.SAFE and (f.fix.edits or f.fix.imports
                                                                            or f.fix.deferred):
        return "[*] "
    return ""


def render(findings: Sequence[Finding], *, fixed: Sequence[Finding] = (), fix_mode: bool = False,
           unsafe_fixes: bool = False, files: int = 0, target: str | None = None) -> str:
    """Findings then a summary; with ``target``, a last line ``Checked against <target>.``
    whenever something was found or fixed (a clean run stays ``All checks passed!``: the
    target is on stderr too)."""
    lines = [f"{f.filename}:{f.location.row}:{f.location.column}: {f.code} {_marker(f)}{f.message}" for f in findings]
    n = len(findings)
    if fix_mode:
        if fixed and n:
            lines.append(f"Found {len(fixed) + n} error{'s' if len(fixed) + n != 1 else ''} "
                         f"({len(fixed)} fixed, {n} remaining).")
        elif fixed:
            lines.append(f"Found {len(fixed)} error{'s' if len(fixed) != 1 else ''} ({len(fixed)} fixed, 0 remaining).")
        elif n:
            lines.append(f"Found {n} error{'s' if n != 1 else ''} (none fixable).")
        else:
            lines.append("All checks passed!")
        hidden = sum(1 for f in findings if f.fix and f.fix.applicability == Applicability.UNSAFE)
        if hidden and not unsafe_fixes:
            lines.append(f"No fixes available ({hidden} hidden fix{'es' if hidden != 1 else ''} can be enabled "
                         f"with the `--unsafe-fixes` option).")
        if target and (n or fixed):
            lines.append(f"Checked against {target}.")
        return "\n".join(lines) + "\n"
    if not n:
        return "All checks passed!\n"
    lines.append(f"Found {n} error{'s' if n != 1 else ''}.")
    safe = sum(1 for f in findings if _marker(f))
    unsafe = sum(1 for f in findings if f.fix and f.fix.applicability == Applicability.UNSAFE)
    if safe:
        extra = f" ({unsafe} unsafe fix{'es' if unsafe != 1 else ''} available with `mcore-fix --unsafe-fixes`)" if unsafe else ""
        lines.append(f"[*] {safe} fixable with `mcore-fix`{extra}.")
    elif unsafe:
        lines.append(f"No fixes available ({unsafe} hidden fix{'es' if unsafe != 1 else ''} can be enabled with "
                     f"`mcore-fix --unsafe-fixes`).")
    if target:
        lines.append(f"Checked against {target}.")
    return "\n".join(lines) + "\n"


def render_statistics(findings: Sequence[Finding]) -> str:
    counts = Counter((f.code, f.name) for f in findings)
    fixable = {(f.code, f.name) for f in findings if _marker(f)}
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))
    width = max((len(str(c)) for _, c in rows), default=1)
    out = [f"{count:>{width}}\t{code}\t{'[*]' if (code, name) in fixable else '[ ]'} {name}"
           for (code, name), count in rows]
    return "\n".join(out) + ("\n" if out else "")

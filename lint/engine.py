"""One file's text -> findings: parse (ast), build the semantic model once, run the rules,
honour ``# noqa``. No I/O here (the runner reads files, the fixer rewrites text).
"""

from __future__ import annotations

import ast
import re
import warnings
from typing import Iterable, Sequence

from .findings import Applicability, Finding
from .rules.base import Context, Rule
from .semantic import build_model
from .target import Target

_NOQA = re.compile(r"#\s*noqa(?::[ \t]*(?P<codes>[A-Za-z]+[0-9]+(?:[ \t]*,?[ \t]*[A-Za-z]+[0-9]+)*))?", re.IGNORECASE)


class RuleCrash(Exception):
    """A rule raised while checking a file; the message names the rule."""


class ParseError(Exception):
    """Source that ``ast`` cannot parse; message gives line and column."""


def parse(source: str, filename: str) -> ast.Module:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning for invalid escapes etc.
            return ast.parse(source, filename=filename)
    except SyntaxError as e:
        if "\0" in source:  # 3.11 reports NUL bytes without a line
            raise ParseError(f"NUL byte at {_where_nul(source)}: Python source cannot contain NUL bytes") from None
        where = f"line {e.lineno}" + (f", column {e.offset}" if e.offset else "")
        hint = " (Python 2 syntax? this tool reads Python 3)" if any(m in e.msg for m in _PY2_MESSAGES) else ""
        raise ParseError(f"syntax error at {where}: {e.msg}{hint}") from None
    except (ValueError, RecursionError, MemoryError) as e:  # e.g. NUL bytes, deep nesting
        if "\0" in source:
            raise ParseError(f"NUL byte at {_where_nul(source)}: Python source cannot contain NUL bytes") from None
        raise ParseError(f"cannot parse: {e}") from None


#: CPython 3.11 messages that only Python 2 code provokes (print/exec statements, ``except A, e``,
#: ``0777``): the report says so, since the cure is a port, not an edit.
_PY2_MESSAGES = ("Missing parentheses in call to 'print'", "Missing parentheses in call to 'exec'",
                 "leading zeros in decimal integer literals", "multiple exception types must be parenthesized")


def _where_nul(source: str) -> str:
    offset = source.index("\0")
    line = source.count("\n", 0, offset) + 1
    column = offset - source.rfind("\n", 0, offset)  # 1-based (rfind is -1 on line 1)
    return f"line {line}, column {column}"


def noqa_codes(line: str) -> set[str] | None:
    """Codes suppressed on a line: None = no noqa, empty set = bare ``# noqa`` (all codes)."""
    if "noqa" not in line.lower():
        return None
    m = _NOQA.search(line)
    if not m:
        return None
    codes = m.group("codes")
    return {c.upper() for c in re.findall(r"[A-Za-z]+[0-9]+", codes)} if codes else set()


def is_suppressed(finding: Finding, lines: Sequence[str]) -> bool:
    for row in {finding.location.row, finding.end_location.row}:
        if 0 < row <= len(lines):
            codes = noqa_codes(lines[row - 1])
            if codes is not None and (not codes or finding.code in codes):
                return True
    return False


def roots_of(rules: Iterable[type[Rule]]) -> tuple[str, ...]:
    roots: list[str] = []
    for r in rules:
        for root in r.roots:
            if root not in roots:
                roots.append(root)
    return tuple(roots) or ("megatron",)


_ACTIVE: dict[tuple, list[type[Rule]]] = {}


def _applied(rule_cls: type[Rule], apply: Applicability | None) -> bool:
    """Whether a fix run that applies fixes up to ``apply`` may apply this rule's fixes (so it
    needs their edits). A rule declares the safest applicability its fixes have; MC301/MC302
    fixes are all unsafe, and computing them costs a libcst rewrite of the function."""
    if apply is None or rule_cls.fix is None or rule_cls.fix == Applicability.DISPLAY_ONLY:
        return False
    return apply == Applicability.UNSAFE or rule_cls.fix == Applicability.SAFE


def _active(rules: Sequence[type[Rule]], target: Target) -> list[type[Rule]]:
    """The rules whose releases meet the target: the same answer for every file of a run, and
    ``SpecifierSet`` matching per rule per file cost 0.4 s on the benchmark corpus."""
    key = (tuple(rules), target.fingerprint())
    hit = _ACTIVE.get(key)
    if hit is None:
        if len(_ACTIVE) > 64:  # configured rule classes are made per option set: stay bounded
            _ACTIVE.clear()
        hit = _ACTIVE[key] = [r for r in rules if target.overlaps(r.releases)]
    return hit


def check_source(source: str, filename: str, rules: Sequence[type[Rule]], target: Target | None = None, *,
                 module: str | None = None, is_package: bool = False, tree: ast.Module | None = None,
                 edits: bool = True, apply: Applicability | None = None) -> list[Finding]:
    """Findings of ``rules`` (already selected for this file) on ``source``, sorted, with
    ``# noqa`` applied. Raises ParseError when the text does not parse. ``edits=False``: the
    caller prints no fix edits, so rules may return deferred fixes, except a rule whose fixes
    the caller applies: ``apply`` is the least safe applicability it applies (``SAFE``, or
    ``UNSAFE`` with ``--unsafe-fixes``; None: nothing is applied)."""
    target = target or Target()
    active = _active(rules, target)
    if tree is None:
        tree = parse(source, filename)
    if not active:
        return []
    model = build_model(tree, source, filename, module, is_package, roots_of(active))
    if not model.imports and not model.star_imports:
        return []
    findings: list[Finding] = []
    try:
        for rule_cls in active:
            ctx = Context(rule_cls(), model, target, edits or _applied(rule_cls, apply))
            try:
                ctx.rule.check(ctx)
            except Exception as e:  # noqa: BLE001 - a bug in one rule must name itself, not kill the run
                raise RuleCrash(f"internal error in rule {rule_cls.code} ({type(e).__name__}: {e}); "
                                f"please report this bug") from e
            findings.extend(ctx.findings)
    finally:
        model.dispose()
    if not findings:
        return []
    lines = re.split(r"\r\n|\r|\n", source)
    out = [f for f in findings if not is_suppressed(f, lines)]
    out.sort(key=Finding.sort_key)
    return out

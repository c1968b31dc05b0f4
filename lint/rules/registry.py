"""Finds the rules: every ``mc*.py`` module in this package, every ``Rule`` subclass in it.

No hand-kept list (torchfix's ``ALL_VISITOR_CLS`` drifted from its docs). Selection follows
ruff: codes and prefixes (``MC1`` = every MC1xx), ``ALL`` = every rule including the ones off by
default; an unknown selector is an error that suggests the closest codes.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from functools import lru_cache
from typing import Iterable

from .base import Rule


class RuleError(ValueError):
    """A broken rule module or an unknown selector (message says which)."""


@lru_cache(maxsize=1)
def all_rules() -> tuple[type[Rule], ...]:
    """Every rule class, sorted by code. Raises RuleError on duplicate codes/names or bad metadata."""
    from . import __path__ as pkg_path, __name__ as pkg_name

    found: list[type[Rule]] = []
    for info in sorted(pkgutil.iter_modules(pkg_path), key=lambda i: i.name):
        if not info.name.startswith("mc") or info.ispkg:
            continue
        mod = importlib.import_module(f"{pkg_name}.{info.name}")
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, Rule) and obj is not Rule and obj.__module__ == mod.__name__:
                found.append(obj)
    problems: list[str] = []
    codes: dict[str, type[Rule]] = {}
    names: dict[str, type[Rule]] = {}
    for r in found:
        problems += r.problems()
        if r.code in codes:
            problems.append(f"duplicate code {r.code}: {codes[r.code].__module__} and {r.__module__}")
        if r.name in names:
            problems.append(f"duplicate name {r.name}: {names[r.name].__module__} and {r.__module__}")
        codes[r.code] = r
        names[r.name] = r
    if problems:
        raise RuleError("broken rule metadata:\n  " + "\n  ".join(problems))
    return tuple(sorted(found, key=lambda r: r.code))


def rule_by_code(code: str) -> type[Rule]:
    """The rule with ``code`` or kebab ``name`` (case-insensitive); RuleError with a suggestion."""
    key = code.strip()
    for r in all_rules():
        if r.code.lower() == key.lower() or r.name == key.lower():
            return r
    raise RuleError(f"unknown rule {code!r}{_suggest(key)}")


def _suggest(key: str) -> str:
    pool = [r.code for r in all_rules()] + [r.name for r in all_rules()]
    close = difflib.get_close_matches(key.upper() if key[:2].lower() == "mc" else key, pool, n=3, cutoff=0.5)
    if not close and key[:2].lower() == "mc":
        close = [c for c in pool if c.startswith(key.upper()[:3])][:3]
    return f" (did you mean {', '.join(close)}?)" if close else f" (known: {', '.join(r.code for r in all_rules())})"


def _expand(selector: str) -> set[type[Rule]]:
    s = selector.strip()
    if not s:
        return set()
    if s.upper() == "ALL":
        return set(all_rules())
    matched = {r for r in all_rules() if r.code.startswith(s.upper()) or r.name == s.lower()}
    if not matched:
        if s.upper().startswith("MC") and s[2:].isdigit() and len(s) <= 5:
            # a valid prefix of a range with no rules yet (e.g. MC6) is allowed: selects nothing
            return set()
        raise RuleError(f"unknown rule selector {selector!r}{_suggest(s)}")
    return matched


def select_rules(select: Iterable[str] | None = None, ignore: Iterable[str] = (),
                 extend_select: Iterable[str] = ()) -> list[type[Rule]]:
    """Rules enabled by ruff-style selection: ``select`` (None = the default-enabled rules)
    plus ``extend_select`` minus ``ignore``. Explicitly selected rules run even if off by
    default; a bare prefix selects only default-enabled rules unless it names one code."""
    if select is None:
        chosen = {r for r in all_rules() if r.default_enabled}
    else:
        chosen = set()
        for s in select:
            rules = _expand(s)
            if s.strip().upper() != "ALL" and len(rules) > 1:
                rules = {r for r in rules if r.default_enabled}
            chosen |= rules
    for s in extend_select:
        chosen |= _expand(s)
    for s in ignore:
        chosen -= _expand(s)
    return sorted(chosen, key=lambda r: r.code)


def split_codes(text: str | Iterable[str] | None) -> list[str]:
    """``"MC1,MC201"`` or ``["MC1", "MC201"]`` -> ["MC1", "MC201"]."""
    if text is None:
        return []
    items = [text] if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        out += [p.strip() for p in str(item).split(",") if p.strip()]
    return out

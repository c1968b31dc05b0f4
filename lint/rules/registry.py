"""Finds the rules: every ``mc*.py`` module in this package, every ``Rule`` subclass in it.

No hand-kept list (torchfix's ``ALL_VISITOR_CLS`` drifted from its docs). Selection follows
ruff: codes and prefixes (``MC1`` = every MC1xx), ``ALL`` = every rule including the ones off by
default; an unknown selector is an error that suggests the closest codes.
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
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
        try:
            mod = importlib.import_module(f"{pkg_name}.{info.name}")
        except Exception as e:  # noqa: BLE001 - name the broken module instead of a traceback
            raise RuleError(f"cannot load rule module {pkg_name}.{info.name}: {type(e).__name__}: {e}") from e
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


#: Per-rule options of ``[tool.mcore-compat]``: config key -> (rule code, class attribute the
#: rule reads). MC302 reads ``select`` (``ThreadExplicitGroups.select``: the functions to thread,
#: qualified names or globs; ``@default`` = ``mcore_lint.groups.presets.DEFAULT_PRESET``).
RULE_OPTIONS: dict[str, tuple[str, str]] = {
    "thread-groups": ("MC302", "select"),
}


def configured(code: str, options: tuple[tuple[str, str, object], ...] = ()) -> type[Rule]:
    """The rule ``code`` with the ``(code, attribute, value)`` options that name it applied: a
    subclass whose class attributes are overridden (the rule reads ``self.<attribute>``, so a
    rule needs no knowledge of the configuration). Without matching options, the rule itself."""
    rule = rule_by_code(code)
    mine = tuple((attr, value) for c, attr, value in options if c == rule.code)
    return _with_attributes(rule, mine) if mine else rule


@lru_cache(maxsize=64)
def _with_attributes(rule: type[Rule], attrs: tuple[tuple[str, object], ...]) -> type[Rule]:
    for attr, _ in attrs:
        if not hasattr(rule, attr):
            raise RuleError(f"rule {rule.code} has no option attribute {attr!r}")
    return type(rule.__name__, (rule,), {**dict(attrs), "__module__": rule.__module__, "__doc__": rule.__doc__,
                                         "__qualname__": rule.__qualname__})


@dataclass(frozen=True)
class RuleInfo:
    """What selection needs to know of a rule (kept in an index so a fully cached run does
    not import the rule modules and their dependencies)."""

    code: str
    name: str
    default_enabled: bool


_index_loaded: dict[str, tuple[RuleInfo, ...]] = {}


def infos(path: Path | None = None) -> tuple[RuleInfo, ...]:
    """Metadata of every rule; with ``path`` (a file in the cache folder whose name carries
    the tool fingerprint) it is read from there, or computed once and written there."""
    if path is None:
        return tuple(RuleInfo(r.code, r.name, r.default_enabled) for r in all_rules())
    key = str(path)
    if key in _index_loaded:
        return _index_loaded[key]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        found = tuple(RuleInfo(d["code"], d["name"], bool(d["default_enabled"])) for d in data)
    except (OSError, ValueError, KeyError, TypeError):
        found = tuple(RuleInfo(r.code, r.name, r.default_enabled) for r in all_rules())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps([vars(i) for i in found]), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass
    _index_loaded[key] = found
    return found


def _suggest(key: str, index: Path | None = None) -> str:
    rules = infos(index)
    pool = [r.code for r in rules] + [r.name for r in rules]
    close = difflib.get_close_matches(key.upper() if key[:2].lower() == "mc" else key, pool, n=3, cutoff=0.5)
    if not close and key[:2].lower() == "mc":
        close = [c for c in pool if c.startswith(key.upper()[:3])][:3]
    return f" (did you mean {', '.join(close)}?)" if close else f" (known: {', '.join(r.code for r in rules)})"


def _expand(selector: str, index: Path | None = None) -> set[RuleInfo]:
    s = selector.strip()
    if not s:
        return set()
    if s.upper() == "ALL":
        return set(infos(index))
    matched = {r for r in infos(index) if r.code.startswith(s.upper()) or r.name == s.lower()}
    if not matched:
        if s.upper().startswith("MC") and s[2:].isdigit() and len(s) <= 5:
            # a valid prefix of a range with no rules yet (e.g. MC6) is allowed: selects nothing
            return set()
        raise RuleError(f"unknown rule selector {selector!r}{_suggest(s, index)}")
    return matched


def select_codes(select: Iterable[str] | None = None, ignore: Iterable[str] = (),
                 extend_select: Iterable[str] = (), index: Path | None = None) -> list[str]:
    """Codes enabled by ruff-style selection: ``select`` (None = the default-enabled rules)
    plus ``extend_select`` minus ``ignore``. Explicitly selected rules run even if off by
    default; a bare prefix selects only default-enabled rules unless it names one code."""
    if select is None:
        chosen = {r for r in infos(index) if r.default_enabled}
    else:
        chosen = set()
        for s in select:
            rules = _expand(s, index)
            if s.strip().upper() != "ALL" and len(rules) > 1:
                rules = {r for r in rules if r.default_enabled}
            chosen |= rules
    for s in extend_select:
        chosen |= _expand(s, index)
    for s in ignore:
        chosen -= _expand(s, index)
    return sorted(r.code for r in chosen)


def select_rules(select: Iterable[str] | None = None, ignore: Iterable[str] = (),
                 extend_select: Iterable[str] = ()) -> list[type[Rule]]:
    """The rule classes :func:`select_codes` selects."""
    return [rule_by_code(c) for c in select_codes(select, ignore, extend_select)]


def split_codes(text: str | Iterable[str] | None) -> list[str]:
    """``"MC1,MC201"`` or ``["MC1", "MC201"]`` -> ["MC1", "MC201"]."""
    if text is None:
        return []
    items = [text] if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        out += [p.strip() for p in str(item).split(",") if p.strip()]
    return out

"""Reviewed facts about megatron-core releases, shared by the shim and the linter.

Two sources, one query API:

* ``mcore_compat/data/facts.toml`` - the reviewed table of what generated data cannot tell:
  a name that *became* another name (moved/renamed symbols, renamed keyword parameters,
  renamed or moved config fields), defaults whose change alters behaviour, and what a removed
  function means now. Each row names its releases and a source.
* ``mcore_compat.api_index`` - the generated index of every release's API. Whatever it can
  tell (which releases accept a keyword or have a config field, with which default; in which
  releases a name exists) is derived from it, never typed. It is imported lazily; without it
  those queries answer ``None`` ("unknown") and callers fall back to their strict behaviour.

Query API (all pure Python, no torch, no megatron import; qualnames are dotted
``module.Name`` / ``module.Class`` strings, a class standing for its constructor):

Reviewed table
    ``load()`` -> :class:`Facts` (every row, typed; cached) - iterate it for rule tables.
    ``moved_symbol(dotted)`` / ``renamed_symbol(dotted)`` -> :class:`SymbolMove` or None:
        the row that moved (module changed) / renamed (last name changed) ``dotted``; also
        matches names *under* a moved module (``...custom_layers.transformer_engine.TENorm``).
    ``symbol_candidates(dotted)`` -> list of dotted names the object may live under, the name
        given first, then forward moves (transitively), then reverse moves.
    ``removed_symbol(dotted)`` -> :class:`Removal` or None (what the removed name means now).
    ``renamed_keyword(qualname, kw)`` -> :class:`KeywordRename` or None (``kw`` in either
        spelling); ``keyword_spellings(qualname, kw)`` -> the other spellings of ``kw``.
    ``changed_default(qualname, param)`` -> :class:`DefaultChange` or None.
    ``config_field_rename(cls_qualname, field)`` -> :class:`FieldRename` or None (either
        spelling); ``config_field_move(cls_qualname, field)`` -> :class:`FieldMove` or None.

Derived from the API index (``None`` = unknown / index unavailable)
    ``keyword_releases(qualname, kw)`` -> list of releases accepting ``kw`` (``[]`` = none).
    ``releases_accepting(qualname, kw)`` -> text such as ``"0.13.0–0.14.0"`` or
        ``"0.15.0 and later"`` (None when unknown or none).
    ``keyword_default(qualname, kw)`` -> :class:`Default` (the default the accepting releases
        used, when they all used the same literal).
    ``symbol_releases(dotted)`` -> list of releases where the name exists.
    ``format_span(releases)`` -> ``"0.5.0–0.9.0, 0.14.0 and later"``.

Bad data in facts.toml raises :class:`FactsError` naming the file, table, row and field.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import sys
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FACTS_PATH = Path(__file__).resolve().parent / "data" / "facts.toml"
SCHEMA = 1

__all__ = [
    "FACTS_PATH", "FactsError", "Facts", "SymbolMove", "Removal", "KeywordRename", "FieldRename",
    "FieldMove", "DefaultChange", "Default", "load", "moved_symbol", "renamed_symbol",
    "symbol_candidates", "removed_symbol", "renamed_keyword", "keyword_spellings",
    "changed_default", "config_field_rename", "config_field_move", "keyword_releases",
    "releases_accepting", "keyword_default", "symbol_releases", "format_span",
]


class FactsError(ValueError):
    """The facts table is malformed (names the file, table, row and field)."""


def _vkey(release: str) -> tuple:
    from packaging.version import Version

    return (Version(release),)


def _between(release: str, first: str | None, last: str | None) -> bool:
    from packaging.version import Version

    v = Version(release)
    return (not first or v >= Version(first)) and (not last or v <= Version(last))


# -- rows --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SymbolMove:
    """``old`` (up to ``old_last``) lives at ``new`` from ``new_first``."""

    old: str
    new: str
    old_first: str
    old_last: str
    new_first: str
    source: str
    reverse: bool = True
    note: str = ""

    @property
    def kind(self) -> str:
        """``"moved"`` (module changed), ``"renamed"`` (last name changed) or both."""
        om, _, on = self.old.rpartition(".")
        nm, _, nn = self.new.rpartition(".")
        if on == nn:
            return "moved"
        return "renamed" if om == nm else "moved and renamed"


@dataclass(frozen=True)
class Removal:
    symbol: str
    first: str
    last: str
    meaning: str
    source: str


@dataclass(frozen=True)
class KeywordRename:
    callables: tuple[str, ...]
    old: str
    new: str
    old_first: str
    old_last: str
    new_first: str
    source: str
    note: str = ""

    def applies_to(self, qualname: str) -> bool:
        return any(fnmatch.fnmatchcase(qualname, pattern) for pattern in self.callables)

    def other(self, keyword: str) -> str:
        return self.new if keyword == self.old else self.old


@dataclass(frozen=True)
class FieldRename:
    cls: str
    old: str
    new: str
    old_first: str
    old_last: str  # "" = the old field is kept (deprecated) next to the new one
    new_first: str
    source: str
    note: str = ""

    def other(self, name: str) -> str:
        return self.new if name == self.old else self.old


@dataclass(frozen=True)
class FieldMove:
    cls: str
    field: str
    to_class: str
    old_first: str
    old_last: str
    new_first: str
    source: str
    until: str = ""  # last release the move applies to ("" = still)
    note: str = ""


@dataclass(frozen=True)
class DefaultChange:
    callable: str
    param: str
    old: str  # Python source text
    new: str
    first: str  # first release with the new default
    source: str
    note: str = ""

    def default_in(self, release: str) -> str:
        return self.new if _vkey(release) >= _vkey(self.first) else self.old


@dataclass(frozen=True)
class Default:
    """A keyword's default as the releases that had it used: ``known`` when every such release
    used the same literal ``value``; ``text`` is the source text (or texts) seen."""

    known: bool
    value: Any = None
    text: str = ""


@dataclass(frozen=True)
class Facts:
    symbols: tuple[SymbolMove, ...]
    removed: tuple[Removal, ...]
    renamed_keywords: tuple[KeywordRename, ...]
    renamed_fields: tuple[FieldRename, ...]
    moved_fields: tuple[FieldMove, ...]
    changed_defaults: tuple[DefaultChange, ...]
    path: str = ""


_TABLES: dict[str, tuple[str, type, dict[str, str]]] = {
    # toml table -> (Facts attribute, row type, toml key -> field name where they differ)
    "symbol": ("symbols", SymbolMove, {}),
    "removed": ("removed", Removal, {}),
    "renamed_keyword": ("renamed_keywords", KeywordRename, {}),
    "renamed_field": ("renamed_fields", FieldRename, {"class": "cls"}),
    "moved_field": ("moved_fields", FieldMove, {"class": "cls"}),
    "changed_default": ("changed_defaults", DefaultChange, {}),
}

_RELEASE_KEYS = {"old_first", "old_last", "new_first", "first", "last", "until"}


def _row(path: Path, table: str, index: int, raw: dict, cls: type, renames: dict[str, str]) -> Any:
    where = f"{path}: [[{table}]] row {index + 1}"
    if not isinstance(raw, dict):
        raise FactsError(f"{where}: expected a table, got {type(raw).__name__}")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = renames.get(key, key)
        if name not in known:
            raise FactsError(f"{where}: unknown field {key!r} (known: {', '.join(sorted(known))})")
        if name == "callables":
            if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
                raise FactsError(f"{where}: 'callables' must be a non-empty list of strings")
            value = tuple(value)
        elif name == "reverse":
            if not isinstance(value, bool):
                raise FactsError(f"{where}: 'reverse' must be true or false, got {value!r}")
        elif not isinstance(value, str):
            raise FactsError(f"{where}: field {key!r} must be a string, got {value!r}")
        if name in _RELEASE_KEYS and value:
            from packaging.version import InvalidVersion, Version

            try:
                Version(value)
            except InvalidVersion:
                raise FactsError(f"{where}: field {key!r} is not a release: {value!r}") from None
        values[name] = value
    missing = [
        n for n, f in known.items()
        if n not in values and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise FactsError(f"{where}: missing field(s) {', '.join(missing)}")
    if not values.get("source"):
        raise FactsError(f"{where}: every row needs a non-empty 'source'")
    return cls(**values)


@functools.lru_cache(maxsize=4)
def load(path: str | Path | None = None) -> Facts:
    """The reviewed facts table (``facts.toml`` shipped with the package unless ``path``)."""
    p = Path(path) if path is not None else FACTS_PATH
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FactsError(f"facts table not found: {p}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FactsError(f"facts table {p} is unreadable: {exc}") from None
    if data.get("schema") != SCHEMA:
        raise FactsError(f"{p}: schema {data.get('schema')!r}, this mcore_compat reads {SCHEMA}")
    unknown = set(data) - set(_TABLES) - {"schema"}
    if unknown:
        raise FactsError(f"{p}: unknown table(s) {', '.join(sorted(unknown))}")
    out: dict[str, tuple] = {}
    for table, (attr, cls, renames) in _TABLES.items():
        rows = data.get(table, [])
        if not isinstance(rows, list):
            raise FactsError(f"{p}: {table!r} must be an array of tables ([[{table}]])")
        out[attr] = tuple(_row(p, table, i, raw, cls, renames) for i, raw in enumerate(rows))
    return Facts(**out, path=str(p))


# -- reviewed-table queries --------------------------------------------------------------------

def _under(dotted: str, prefix: str) -> str | None:
    """The rest of ``dotted`` below ``prefix`` ('' when equal), or None when not under it."""
    if dotted == prefix:
        return ""
    if dotted.startswith(prefix + "."):
        return dotted[len(prefix):]
    return None


def _symbol_rows(dotted: str) -> Iterable[tuple[SymbolMove, str]]:
    for row in load().symbols:
        rest = _under(dotted, row.old)
        if rest is not None:
            yield row, rest


def moved_symbol(dotted: str) -> SymbolMove | None:
    """The row that moved ``dotted`` (or a module above it) to another module, if any."""
    for row, rest in _symbol_rows(dotted):
        if rest or row.kind != "renamed":  # a name under a renamed module moved with it
            return row
    return None


def renamed_symbol(dotted: str) -> SymbolMove | None:
    """The row that renamed ``dotted`` within its module, if any."""
    for row, rest in _symbol_rows(dotted):
        if row.kind == "renamed" and rest == "":
            return row
    return None


def symbol_candidates(dotted: str) -> list[str]:
    """Every dotted name the object called ``dotted`` (in some release) may live under: the
    name itself, then forward moves (followed transitively), then reverse moves of the name
    given (``ProcessGroupCollection`` -> ``ModelCommProcessGroups`` on 0.12-0.14)."""
    out = [dotted]
    frontier = [dotted]
    while frontier:  # forward: old -> new
        name = frontier.pop(0)
        for row, rest in _symbol_rows(name):
            target = row.new + rest
            if target not in out:
                out.append(target)
                frontier.append(target)
    frontier = [dotted]  # reverse from the name given (not from siblings reached forward)
    while frontier:  # reverse: new -> old
        name = frontier.pop(0)
        for row in load().symbols:
            rest = _under(name, row.new)
            if rest is not None and row.reverse:
                target = row.old + rest
                if target not in out:
                    out.append(target)
                    frontier.append(target)
    return out


def removed_symbol(dotted: str) -> Removal | None:
    for row in load().removed:
        if row.symbol == dotted:
            return row
    return None


def renamed_keyword(qualname: str, keyword: str) -> KeywordRename | None:
    """The rename row for ``keyword`` (old or new spelling) of callable ``qualname``."""
    for row in load().renamed_keywords:
        if keyword in (row.old, row.new) and row.applies_to(qualname):
            return row
    return None


def keyword_spellings(qualname: str, keyword: str) -> list[str]:
    """Other spellings of ``keyword`` for ``qualname``: ``pg_collection`` -> ``model_comm_pgs``,
    ``grad_comm_pgs``, ``grad_finalize_pgs`` (one new keyword may replace several old ones)."""
    out: list[str] = []
    for row in load().renamed_keywords:
        if keyword in (row.old, row.new) and row.applies_to(qualname):
            other = row.other(keyword)
            if other not in out:
                out.append(other)
    return out


def changed_default(qualname: str, param: str) -> DefaultChange | None:
    for row in load().changed_defaults:
        if row.callable == qualname and row.param == param:
            return row
    return None


def config_field_rename(cls_qualname: str, field: str) -> FieldRename | None:
    """The rename row of ``field`` (old or new spelling) declared by class ``cls_qualname``."""
    for row in load().renamed_fields:
        if row.cls == cls_qualname and field in (row.old, row.new):
            return row
    return None


def config_field_move(cls_qualname: str, field: str) -> FieldMove | None:
    for row in load().moved_fields:
        if row.cls == cls_qualname and row.field == field:
            return row
    return None


# -- derived from the API index ----------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _index() -> Any | None:
    """The generated API index, or None when it is not shipped/readable (tolerated)."""
    try:
        from mcore_compat import api_index
    except ImportError:
        return None
    try:
        return api_index.load()
    except (ValueError, OSError):
        return None


_ACCEPTS_BY_KEYWORD = {"pk", "ko"}


def _params_in(idx: Any, release: str, qualname: str) -> list | None:
    res = idx.resolve(release, qualname)
    if not getattr(res, "found", False) or not res.record:
        return None
    rec = res.record
    if rec.get("k") in {"function", "method"}:
        return rec.get("p")
    if rec.get("k") == "class":
        return rec.get("i")
    return None


@functools.lru_cache(maxsize=4096)
def _keyword_table(qualname: str, keyword: str) -> tuple[tuple[str, str | None], ...] | None:
    """((release, default source) ...) of the releases whose ``qualname`` takes ``keyword``;
    None when the index is absent or ``qualname`` exists in no release."""
    idx = _index()
    if idx is None:
        return None
    seen_callable = False
    out: list[tuple[str, str | None]] = []
    for release in idx.releases:
        params = _params_in(idx, release, qualname)
        if params is None:
            continue
        seen_callable = True
        for name, kind, default, *_ in params:
            if name == keyword and kind in _ACCEPTS_BY_KEYWORD:
                out.append((release, default))
    return tuple(out) if seen_callable else None


def keyword_releases(qualname: str, keyword: str) -> list[str] | None:
    """Releases in which callable (or config class) ``qualname`` accepts ``keyword`` by name;
    ``[]`` when none does, ``None`` when unknown (no index, or no release has ``qualname``)."""
    table = _keyword_table(qualname, keyword)
    return None if table is None else [r for r, _ in table]


def format_span(releases: Sequence[str]) -> str:
    """Human text for a set of releases, as runs over the indexed releases:
    ``"0.13.0–0.14.0"``, ``"0.15.0 and later"``, ``"0.5.0–0.9.0, 0.14.0 and later"``."""
    if not releases:
        return "no release"
    idx = _index()
    if idx is None:  # without the list of all releases, runs cannot be told: list them
        return ", ".join(sorted(set(releases), key=_vkey))
    order = list(idx.releases) if idx is not None else sorted(set(releases), key=_vkey)
    wanted = set(releases)
    runs: list[list[str]] = []
    prev = False
    for r in order:
        if r in wanted:
            if prev:
                runs[-1].append(r)
            else:
                runs.append([r])
        prev = r in wanted
    extra = sorted(wanted - set(order), key=_vkey)  # releases the index does not know
    runs += [[r] for r in extra]
    parts = []
    for run in runs:
        if idx is not None and run[-1] == order[-1] and len(order) > 1:
            parts.append(f"{run[0]} and later")
        elif len(run) == 1:
            parts.append(run[0])
        else:
            parts.append(f"{run[0]}–{run[-1]}")
    return ", ".join(parts)


def releases_accepting(qualname: str, keyword: str) -> str | None:
    """Human-readable span of releases in which callable ``qualname`` (e.g.
    ``"megatron.core.parallel_state.get_data_parallel_rank"``) accepts ``keyword``, such as
    ``"0.10.0 and later"`` or ``"0.8.0–0.9.0"``; ``None`` when unknown or no release does."""
    releases = keyword_releases(qualname, keyword)
    if not releases:
        return None
    return format_span(releases)


def keyword_default(qualname: str, keyword: str) -> Default:
    """The default of ``keyword`` in the releases of ``qualname`` that accept it. ``known`` only
    when all of them used the same literal (``None``, ``False``, ``'sdpa'``, ``1.0`` ...)."""
    table = _keyword_table(qualname, keyword)
    if not table:
        return Default(False)
    texts = sorted({d for _, d in table if d is not None})
    if len(texts) != 1 or any(d is None for _, d in table):
        return Default(False, text=" / ".join(texts) if texts else "<required>")
    try:
        value = ast.literal_eval(texts[0])
    except (ValueError, SyntaxError):
        return Default(False, text=texts[0])
    return Default(True, value, texts[0])


@functools.lru_cache(maxsize=4096)
def _symbol_releases(dotted: str) -> tuple[str, ...] | None:
    idx = _index()
    if idx is None:
        return None
    return tuple(r for r in idx.releases if getattr(idx.resolve(r, dotted), "found", False))


def symbol_releases(dotted: str) -> list[str] | None:
    """Releases in which ``dotted`` exists (per the index); None when the index is absent."""
    got = _symbol_releases(dotted)
    return None if got is None else list(got)

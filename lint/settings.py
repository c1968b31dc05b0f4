"""``[tool.mcore-compat]`` in pyproject.toml, merged with command-line options.

The configuration is the nearest ``pyproject.toml`` holding a ``[tool.mcore-compat]`` table,
searched from the checked files' (common) folder upward. Keys (ruff's names)::

    [tool.mcore-compat]
    target-version = "0.16.1"        # the megatron-core release the code runs on
    supported = ">=0.12,<0.17"       # or a span of releases it must support
    select = ["MC1"]                 # codes/prefixes, "ALL"; default: the default-enabled rules
    extend-select = ["MC5"]
    ignore = ["MC102"]
    exclude = ["third_party/", "*_pb2.py"]   # gitignore syntax, relative to this file's folder
    per-file-ignores = { "tests/*" = ["MC101"] }

Unknown keys and wrong types are errors (exit 2) that name the file, the key and the valid keys.
Other engineers extend target detection through :func:`detect_target` (returns a Target).
"""

from __future__ import annotations

import difflib
import fnmatch
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .rules.registry import RuleError, rule_by_code, select_codes, split_codes
from .target import Target, TargetError

SECTION = "mcore-compat"
KEYS = ("target-version", "supported", "select", "extend-select", "ignore", "exclude", "per-file-ignores")


class ConfigError(ValueError):
    """Bad configuration or option value; the message names the file/option and the value."""


@dataclass(frozen=True)
class Settings:
    """Everything that decides what a run reports (its fingerprint keys the cache)."""

    root: Path  # project root: the config file's folder (else the repository root / cwd)
    config: Path | None = None
    target_version: str | None = None
    supported: str | None = None
    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    respect_gitignore: bool = True
    rule_index: Path | None = None  # cached rule metadata (see registry.infos)
    _rules_cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def target(self) -> Target:
        try:
            return Target.parse(self.target_version, self.supported)
        except TargetError as e:
            raise ConfigError(f"{self._where('target-version')}: {e}") from None

    def _where(self, key: str) -> str:
        return f"{self.config} [tool.{SECTION}] {key}" if self.config else f"option --{key}"

    def codes(self) -> list[str]:
        """Selected rule codes (before per-file ignores)."""
        if "all" not in self._rules_cache:
            try:
                self._rules_cache["all"] = select_codes(self.select, self.ignore, self.extend_select,
                                                        index=self.rule_index)
            except RuleError as e:
                raise ConfigError(str(e)) from None
        return self._rules_cache["all"]

    def rules(self) -> list:
        """Selected rule classes (imports the rule modules)."""
        return [rule_by_code(c) for c in self.codes()]

    def codes_for(self, path: Path | str) -> list[str]:
        """Selected codes minus the ``per-file-ignores`` matching ``path``."""
        codes = self.codes()
        if not self.per_file_ignores:
            return codes
        rel = _relative(Path(path), self.root)
        drop: list[str] = []
        for pattern, ignored in self.per_file_ignores:
            if _glob_match(rel, pattern):
                drop.extend(ignored)
        if not drop:
            return codes
        drop_up = [c.upper() for c in drop]
        return [c for c in codes if not any(d == "ALL" or c.startswith(d) for d in drop_up)]

    def rules_for(self, path: Path | str) -> list:
        return [rule_by_code(c) for c in self.codes_for(path)]

    def fingerprint(self) -> str:
        return repr((self.target.fingerprint(), self.codes(), self.per_file_ignores))

    def validate(self) -> None:
        """Raise ConfigError now for bad versions or unknown rule codes."""
        self.target  # noqa: B018
        self.codes()
        for pattern, codes in self.per_file_ignores:
            try:
                select_codes(["ALL"], ignore=codes, index=self.rule_index)
            except RuleError as e:
                raise ConfigError(f"{self._where('per-file-ignores')} {pattern!r}: {e}") from None


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _glob_match(rel: str, pattern: str) -> bool:
    pattern = pattern.lstrip("./") if pattern.startswith("./") else pattern
    if fnmatch.fnmatchcase(rel, pattern):
        return True
    if "/" not in pattern and fnmatch.fnmatchcase(rel.rsplit("/", 1)[-1], pattern):
        return True
    if pattern.endswith("/") and rel.startswith(pattern):
        return True
    return fnmatch.fnmatchcase(rel, pattern.rstrip("/") + "/*")


def find_config(start: Path) -> Path | None:
    """Nearest pyproject.toml with a ``[tool.mcore-compat]`` table, from ``start`` upward."""
    start = start.resolve()
    folder = start if start.is_dir() else start.parent
    for f in (folder, *folder.parents):
        candidate = f / "pyproject.toml"
        if candidate.is_file():
            try:
                text = candidate.read_text(encoding="utf-8")
            except OSError:
                continue
            if f"[tool.{SECTION}" in text or f'"{SECTION}"' in text:
                return candidate
    return None


def _repo_root(folder: Path) -> Path | None:
    for f in (folder, *folder.parents):
        if (f / ".git").exists():
            return f
    return None


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(split_codes(value))
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{where}: expected a list of strings, got {value!r}")


def load_config(path: Path) -> dict[str, Any]:
    """The ``[tool.mcore-compat]`` table of ``path``, validated; ConfigError otherwise."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    table = data.get("tool", {}).get(SECTION, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.{SECTION}] must be a table")
    out: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{path} [tool.{SECTION}] {key}"
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{path}: unknown key {key!r} in [tool.{SECTION}]{hint}; valid keys: {', '.join(KEYS)}")
        if key in ("target-version", "supported"):
            if not isinstance(value, str):
                raise ConfigError(f"{where}: expected a string such as '0.16.1', got {value!r}")
            out[key] = value
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a table of glob = [codes], got {value!r}")
            out[key] = tuple((str(k), _str_list(v, f"{where}.{k}")) for k, v in value.items())
        else:
            out[key] = _str_list(value, where)
    return out


def resolve_settings(paths: Iterable[Path], *, target_version: str | None = None, select: Iterable[str] | None = None,
                     extend_select: Iterable[str] = (), ignore: Iterable[str] = (),
                     config: Path | None = None, use_cache: bool = True) -> Settings:
    """Settings for a run over ``paths``: config file values, then command-line overrides
    (``select`` and ``target-version`` replace; ``ignore``/``extend-select`` add)."""
    paths = [p for p in paths]
    anchor = _common_folder(paths) if paths else Path.cwd()
    cfg_path = config or find_config(anchor)
    values = load_config(cfg_path) if cfg_path else {}
    if cfg_path:
        root = cfg_path.parent.resolve()
    else:
        root = (_repo_root(anchor.resolve()) or Path.cwd()).resolve()
    index = None
    if use_cache:  # rule metadata next to the results: a cached run imports no rule module
        from .cache import prepare, tool_fingerprint

        index = prepare(root) / f"rules-{tool_fingerprint()}.json"
    s = Settings(
        root=root,
        rule_index=index,
        config=cfg_path,
        target_version=values.get("target-version"),
        supported=values.get("supported"),
        select=values.get("select"),
        extend_select=values.get("extend-select", ()),
        ignore=values.get("ignore", ()),
        exclude=values.get("exclude", ()),
        per_file_ignores=values.get("per-file-ignores", ()),
    )
    overrides: dict[str, Any] = {}
    if target_version is not None:
        overrides["target_version"] = target_version
    if select is not None:
        overrides["select"] = tuple(select)
    if extend_select:
        overrides["extend_select"] = s.extend_select + tuple(extend_select)
    if ignore:
        overrides["ignore"] = s.ignore + tuple(ignore)
    if overrides:
        s = replace(s, **overrides, _rules_cache={})
    s.validate()
    return s


def _common_folder(paths: list[Path]) -> Path:
    import os

    folders = [str((p if p.is_dir() else p.parent).resolve()) for p in paths]
    try:
        return Path(os.path.commonpath(folders))
    except ValueError:
        return Path.cwd()


def detect_target(settings: Settings) -> Target:
    """The target of a run. Today: what the settings say; extended by the target-detection
    work (dependencies in pyproject, the installed megatron-core)."""
    return settings.target

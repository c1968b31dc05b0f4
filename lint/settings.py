"""``[tool.mcore-compat]`` in pyproject.toml, merged with command-line options.

The configuration is the nearest ``pyproject.toml`` holding a ``[tool.mcore-compat]`` table,
searched from the checked files' (common) folder upward. Keys (ruff's names)::

    [tool.mcore-compat]
    target-version = "0.16.1"        # the megatron-core release the code runs on
    supported = ">=0.12,<0.17"       # or a span of releases it must support
    from-version = "0.12.0"          # the release the code was written for (MC203/MC204)
    select = ["MC1"]                 # codes/prefixes, "ALL"; default: the default-enabled rules
    extend-select = ["MC5"]
    ignore = ["MC102"]
    exclude = ["third_party/", "*_pb2.py"]   # gitignore syntax, relative to this file's folder
    per-file-ignores = { "tests/*" = ["MC101"] }
    thread-groups = ["@default", "mypkg.ckpt.*"]   # MC302's functions (rules.registry.RULE_OPTIONS)

Unknown keys and wrong types are errors (exit 2) that name the file, the key and the valid keys.

The target: ``--target-version``, else ``target-version`` / ``supported`` here, else
:func:`mcore_lint.api.target.project_target` at the project root (the megatron-core
requirement in pyproject/requirements*.txt, else the installed release, else the newest
indexed release). Detection reads metadata and the API index (~0.4 s), so its answer is kept in
the cache folder keyed on what it read (:func:`_detection_inputs`); ``Settings.target_source``
says where the target came from (the CLI prints it on stderr, text and SARIF reports carry it).
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

from .rules.registry import RULE_OPTIONS, RuleError, rule_by_code, select_codes, split_codes
from .target import Target, TargetError

SECTION = "mcore-compat"
KEYS = ("target-version", "supported", "from-version", "select", "extend-select", "ignore", "exclude",
        "per-file-ignores", *RULE_OPTIONS)


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
    from_version: str | None = None  # the release the code was written for (MC203/MC204)
    #: per-rule options as written, by config key of ``RULE_OPTIONS`` (``thread-groups``)
    options: tuple[tuple[str, tuple[str, ...]], ...] = ()
    target_source: str = ""  # where the target came from, e.g. "--target-version"
    respect_gitignore: bool = True
    rule_index: Path | None = None  # cached rule metadata (see registry.infos)
    _rules_cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def target(self) -> Target:
        try:
            return Target.parse(self.target_version, self.supported, self.from_version)
        except TargetError as e:
            key = "from-version" if str(e).startswith("from-version") else "target-version"
            raise ConfigError(f"{self._where(key)}: {e}") from None

    def describe_target(self) -> str:
        """One line naming the target and where it came from, e.g. ``megatron-core 0.16.1
        (from --target-version)``."""
        said = str(Target.parse(self.target_version, self.supported))
        text = f"{said} (from {self.target_source})" if self.target_source else said
        if self.from_version:
            text += f"; code written for {self.from_version}"
        return text

    def rule_options(self) -> tuple[tuple[str, str, object], ...]:
        """``(rule code, attribute, value)`` for :func:`mcore_lint.rules.registry.configured`;
        ``@preset`` entries expanded. Raises ConfigError naming the key for a bad value."""
        out = []
        for key, value in self.options:
            code, attr = RULE_OPTIONS[key]
            if key == "thread-groups":
                from .groups.presets import expand

                try:
                    value = expand(value)
                except ValueError as e:
                    raise ConfigError(f"{self._where(key)}: {e}") from None
                if not value:
                    raise ConfigError(f"{self._where(key)}: empty; give function names or globs, "
                                      f"or '@default' for the checkpoint/loss preset")
            out.append((code, attr, value))
        return tuple(out)

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
        return repr((self.target.fingerprint(), self.codes(), self.per_file_ignores, self.rule_options()))

    def validate(self) -> None:
        """Raise ConfigError now for bad versions or unknown rule codes."""
        self.target  # noqa: B018
        self.codes()
        self.rule_options()
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
        if key in ("target-version", "supported", "from-version"):
            if not isinstance(value, str):
                raise ConfigError(f"{where}: expected a string such as '0.16.1', got {value!r}")
            out[key] = value
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a table of glob = [codes], got {value!r}")
            out[key] = tuple((str(k), _str_list(v, f"{where}.{k}")) for k, v in value.items())
        elif key in RULE_OPTIONS:
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise ConfigError(f"{where}: expected a list of strings such as [\"@default\", \"mypkg.ckpt.*\"], "
                                  f"got {value!r}")
            out[key] = tuple(value)
        else:
            out[key] = _str_list(value, where)
    return out


def resolve_settings(paths: Iterable[Path], *, target_version: str | None = None, select: Iterable[str] | None = None,
                     extend_select: Iterable[str] = (), ignore: Iterable[str] = (),
                     config: Path | None = None, use_cache: bool = True, from_version: str | None = None,
                     detect: bool = True) -> Settings:
    """Settings for a run over ``paths``: config file values, then command-line overrides
    (``select``, ``target-version`` and ``from-version`` replace; ``ignore``/``extend-select``
    add). With neither a target version nor a span given, ``detect`` finds the project's
    target (:func:`detected_target`); ``detect=False`` leaves it open (every release)."""
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
        from_version=values.get("from-version"),
        options=tuple((k, values[k]) for k in RULE_OPTIONS if k in values),
    )
    where = f"{cfg_path} [tool.{SECTION}]"
    overrides: dict[str, Any] = {}
    if target_version is not None:
        overrides["target_version"] = target_version
        overrides["target_source"] = "--target-version"
    elif s.target_version is not None:
        overrides["target_source"] = f"{where} target-version"
    elif s.supported is not None:
        overrides["target_source"] = f"{where} supported"
    elif detect:
        version, span, said = detected_target(root, index.parent if index is not None else None)
        overrides.update(target_version=version, supported=span, target_source=said)
    if from_version is not None:
        overrides["from_version"] = from_version
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
    """The target of a run (detection already happened in :func:`resolve_settings`)."""
    return settings.target


def detected_target(root: Path, cache_folder: Path | None = None) -> tuple[str | None, str | None, str]:
    """``(version, span, where)`` from :func:`mcore_lint.api.target.project_target` at ``root``.

    With ``cache_folder`` the answer is stored there under a hash of everything detection
    reads (:func:`_detection_inputs`), so a cached run pays a few stat calls, not the import of
    the API index. A requirement that is not a version range (``megatron-core @ git+...``) falls
    back to the installed / newest indexed release, saying so."""
    import hashlib
    import json
    import os

    path = None
    if cache_folder is not None:
        digest = hashlib.blake2b(repr(_detection_inputs(root)).encode(), digest_size=12).hexdigest()
        path = cache_folder / f"target-{digest}.cache"  # JSON; not *.json: those are results
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return data["version"], data["span"], data["source"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    from .api import target as api_target

    try:
        tgt, said = api_target.project_target(root)
    except TargetError as e:
        found = api_target.detect_requirement(root)
        inst = api_target.installed_release()
        if inst:
            tgt, said = Target.parse(inst), f"megatron-core=={inst} from installed megatron-core"
        else:
            from mcore_compat.api_index import load

            newest = load().newest
            tgt, said = Target.parse(newest), f"megatron-core=={newest} from newest release in the API index"
        said += f"; the megatron-core requirement at {found.source if found else root} is not a version range"
    except ValueError as e:  # a pyproject.toml that does not parse
        raise ConfigError(str(e)) from None
    said = said.split(" from ", 1)[1] if " from " in said else said  # "megatron-core==X from WHERE"
    version = str(tgt.version) if tgt.version is not None else None
    span = str(tgt.span) or None
    if path is not None:
        try:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": version, "span": span, "source": said}), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass
    return version, span, said


def _detection_inputs(root: Path) -> list:
    """What target detection reads: the project's pyproject.toml and requirements*.txt (size,
    mtime), every megatron-core distribution on ``sys.path`` (its metadata folder's name holds
    the version) and the shipped API index (its newest release)."""
    import os

    def stat(p: Path) -> tuple:
        try:
            st = p.stat()
            return (str(p), st.st_size, st.st_mtime_ns)
        except OSError:
            return (str(p), None)

    files = [root / "pyproject.toml", *sorted(root.glob("requirements*.txt"))]
    dists = []
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        dists += [os.path.join(entry, n) for n in names
                  if n.lower().replace("-", "_").replace(".", "_").startswith("megatron_core_")]
    try:
        import mcore_compat

        index = Path(mcore_compat.__file__).resolve().parent / "data" / "api_index.jsonl"
    except ImportError:  # pragma: no cover
        index = Path("-")
    from .cache import tool_fingerprint

    return [tool_fingerprint(), [stat(f) for f in files], sorted(dists), stat(index)]

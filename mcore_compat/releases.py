"""Which megatron-core is installed, and what it can do.

Two kinds of answers live here, and callers should prefer the second:

* :func:`mcore_version` - the installed release as a :class:`packaging.version.Version`
  (``None`` when megatron-core is not installed). It is read *without importing megatron*:
  from ``megatron/core/package_info.py`` (parsed with :mod:`ast`, as Primus does) of the copy
  that ``import megatron.core`` would load, else from the distribution metadata. rc and dev
  builds parse too (``0.13.0rc0``, ``0.16.0.dev0+abc1234``).
* Feature probes - :func:`parameters`, :func:`accepts_keyword`, :func:`config_fields`,
  :func:`has_field`, :func:`has_symbol`. Builds from Megatron-LM's ``main`` and ``dev``
  branches share version numbers while their APIs differ, so at run time "does this callable
  take ``pg_collection``" is asked of the callable itself, never of the version number.
  Probes are cached per object (signatures of installed code do not change while it runs).

Nothing here imports torch; megatron is imported only by :func:`has_symbol`, on request.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import importlib.metadata
import inspect
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from packaging.version import InvalidVersion, Version

__all__ = [
    "mcore_version",
    "installed_release",
    "parse_release",
    "parameters",
    "accepts_keyword",
    "accepts_any_keyword",
    "config_fields",
    "has_field",
    "has_symbol",
]

_DIST_NAMES = ("megatron-core", "megatron_core")


def parse_release(text: str) -> Version:
    """``packaging`` parse of a megatron-core version string; a clear error when it is none."""
    try:
        return Version(text.strip())
    except InvalidVersion as exc:
        raise ValueError(f"not a megatron-core version: {text!r} ({exc})") from None


def _package_info_version(path: Path) -> Version | None:
    """Version from a ``package_info.py`` read statically (MAJOR/MINOR/PATCH/PRE_RELEASE)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, ValueError):
        return None
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in {"MAJOR", "MINOR", "PATCH", "PRE_RELEASE"}:
                try:
                    values[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    return None
    if not {"MAJOR", "MINOR", "PATCH"} <= values.keys():
        return None
    text = f"{values['MAJOR']}.{values['MINOR']}.{values['PATCH']}{values.get('PRE_RELEASE') or ''}"
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _dist_info_version(root: Path) -> Version | None:
    """Version from a ``megatron_core-*.dist-info`` (or egg-info) next to the package."""
    for pattern in ("megatron_core-*.dist-info", "megatron_core-*.egg-info", "megatron-core-*.dist-info"):
        for info in sorted(root.glob(pattern)):
            try:
                return Version(importlib.metadata.PathDistribution(info).version)
            except (InvalidVersion, TypeError, ValueError):
                continue
    return None


def _core_dir() -> Path | None:
    """Folder of the ``megatron.core`` package that is (or would be) imported."""
    module = sys.modules.get("megatron.core")
    file = getattr(module, "__file__", None) if module is not None else None
    if file:
        return Path(file).resolve().parent
    # `megatron` is a namespace package (no __init__.py in the wheel): the first sys.path
    # entry holding megatron/core/__init__.py is the one `import megatron.core` loads.
    for entry in sys.path:
        candidate = Path(entry or ".") / "megatron" / "core"
        if (candidate / "__init__.py").is_file():
            return candidate.resolve()
    return None


def _read_version() -> Version | None:
    core = _core_dir()
    if core is not None:
        found = _package_info_version(core / "package_info.py")
        if found is not None:
            return found
        found = _dist_info_version(core.parent.parent)
        if found is not None:
            return found
        module = sys.modules.get("megatron.core")
        text = getattr(module, "__version__", None)
        if isinstance(text, str):
            try:
                return Version(text)
            except InvalidVersion:
                pass
    if core is None:
        return None  # metadata without the package (a broken install) is not an installed release
    for name in _DIST_NAMES:
        try:
            return Version(importlib.metadata.version(name))
        except (importlib.metadata.PackageNotFoundError, InvalidVersion):
            continue
    return None


_VERSION_CACHE: dict[tuple[Any, ...], Version | None] = {}


def mcore_version() -> Version | None:
    """The installed megatron-core release, or ``None`` when it is not installed.

    Cached per (``sys.path``, loaded ``megatron.core``): changing either re-reads it.
    """
    module = sys.modules.get("megatron.core")
    key = (tuple(sys.path), getattr(module, "__file__", None))
    if key not in _VERSION_CACHE:
        _VERSION_CACHE.clear()
        _VERSION_CACHE[key] = _read_version()
    return _VERSION_CACHE[key]


def installed_release() -> str:
    """The installed release as text for messages: ``"0.16.1"`` or ``"(not installed)"``."""
    version = mcore_version()
    return str(version) if version is not None else "(not installed)"


# -- feature probes --------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _parameters_cached(fn: Any) -> Mapping[str, inspect.Parameter]:
    return inspect.signature(fn).parameters


def parameters(fn: Callable[..., Any]) -> Mapping[str, inspect.Parameter]:
    """Parameters of ``fn`` (for a class: of its constructor, without ``self``), cached."""
    try:
        return _parameters_cached(fn)
    except TypeError:  # unhashable callables (rare): no cache
        return inspect.signature(fn).parameters


def accepts_any_keyword(fn: Callable[..., Any]) -> bool:
    """True when ``fn`` takes ``**kwargs`` (so any keyword reaches it)."""
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters(fn).values())


def accepts_keyword(fn: Callable[..., Any], name: str) -> bool:
    """True when ``name`` is a named parameter of ``fn`` that can be passed by keyword."""
    param = parameters(fn).get(name)
    return param is not None and param.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


@functools.lru_cache(maxsize=1024)
def config_fields(cls: type) -> Mapping[str, dataclasses.Field]:
    """The constructor fields (``init=True``) of dataclass ``cls``, by name, cached."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def has_field(cls: type, name: str) -> bool:
    """True when dataclass ``cls`` takes ``name`` in its constructor."""
    return name in config_fields(cls)


@functools.lru_cache(maxsize=1024)
def has_symbol(dotted: str) -> bool:
    """True when ``dotted`` (``package.module.Name`` or a module) imports in this process.

    Imports the module named (megatron itself when asked about it).
    """
    module, _, name = dotted.rpartition(".")
    try:
        importlib.import_module(dotted)
        return True
    except ImportError:
        pass
    if not module:
        return False
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False

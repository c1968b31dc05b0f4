"""Module names of files and the targets of relative imports.

Relative imports (``from ..tensor_parallel import x``) only mean something once the file's own
dotted module name is known; megatron's own sources use them everywhere. A file's module name is
found the way Python finds it for a package: walk up while the folder holds ``__init__.py``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

#: Names that are another spelling of one module. ``megatron.core.mpu`` is
#: ``megatron/core/__init__.py: mpu = parallel_state`` ("Alias parallel_state as mpu, its legacy
#: name"), present in every megatron-core release 0.5.0-0.19.2 (checked on the PyPI wheels).
MODULE_ALIASES: dict[str, str] = {
    "megatron.core.mpu": "megatron.core.parallel_state",
}


#: PEP 420 namespace packages (no ``__init__.py``) that the file layout cannot reveal:
#: ``megatron`` is shared by the megatron-core and megatron-bridge wheels, neither of which
#: ships ``megatron/__init__.py`` (checked on megatron-core 0.16.1 and megatron-bridge 0.6.2).
NAMESPACE_PACKAGES = frozenset({"megatron"})


def canonical(qualname: str) -> str:
    """``qualname`` with a known alias prefix replaced (``megatron.core.mpu.x`` ->
    ``megatron.core.parallel_state.x``)."""
    if not qualname.startswith(tuple(MODULE_ALIASES)):  # the common case, in one C call
        return qualname
    for alias, target in MODULE_ALIASES.items():
        if qualname == alias or qualname.startswith(alias + "."):
            return target + qualname[len(alias):]
    return qualname


def module_name_for(path: str | Path) -> tuple[str | None, bool]:
    """(dotted module name, is_package) of the file at ``path``, or (None, False) when it is
    not inside a package. ``megatron/core/foo.py`` inside ``megatron/core/__init__.py``'s tree
    gives ``megatron.core.foo``; ``.../core/__init__.py`` gives (``megatron.core``, True)."""
    # os.path, not pathlib: called once per file by the runner's parent process (pathlib's
    # parsing was 0.3 s of it on the 2,155-file benchmark corpus)
    p = os.path.abspath(os.fspath(path))
    folder, base = os.path.split(p)
    stem, suffix = os.path.splitext(base)
    if suffix not in (".py", ".pyi"):
        return None, False
    is_package = stem == "__init__"
    parts: list[str] = [] if is_package else [stem]
    parts.extend(_package_parts(folder))
    if not parts or not all(part.isidentifier() for part in parts):
        return None, False
    return ".".join(reversed(parts)), is_package


@lru_cache(maxsize=4096)
def _package_parts(folder: str) -> tuple[str, ...]:
    """Names of the packages containing ``folder``, innermost first (cached per folder)."""
    try:
        is_pkg = os.path.exists(os.path.join(folder, "__init__.py")) or os.path.exists(
            os.path.join(folder, "__init__.pyi"))
    except OSError:
        return ()
    parent = os.path.dirname(folder)
    if not is_pkg:
        name = os.path.basename(folder)
        return (name,) if name in NAMESPACE_PACKAGES else ()
    if parent == folder:
        return (os.path.basename(folder),)
    return (os.path.basename(folder),) + _package_parts(parent)


def resolve_relative(module: str | None, level: int, current: str | None, is_package: bool) -> str | None:
    """Absolute module named by ``from <'.' * level><module> import ...`` written in module
    ``current``; ``None`` when the file's module name is unknown or the import climbs too high."""
    if level == 0:
        return module
    if not current:
        return None
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if level - 1 > len(base) - (0 if base else 0):
        return None
    if level > 1:
        base = base[: len(base) - (level - 1)]
    if not base:
        return None
    return ".".join(base + ([module] if module else []))

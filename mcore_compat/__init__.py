"""mcore-compat: one place for the compatibility code every Megatron-Core trainer writes by hand.

``import mcore_compat`` never imports torch or megatron-core: public names are loaded from
their modules on first access, and those modules import torch/megatron inside the functions
that need them, so the linter (same distribution) installs and runs without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0.dev0"

# public name -> submodule that defines it (loaded lazily, PEP 562)
_EXPORTS = {
    # groups and process-group helpers (foundation issue)
    "resolve_groups": "groups",
    "ParallelGroups": "groups",
    "ProcessGroupCollection": "groups",
    "pg_collection_from_mpu": "groups",
    "get_pg_size": "pg",
    "get_pg_rank": "pg",
    "get_pg_src_rank": "pg",
    "average_losses_across_data_parallel_group": "loss",
    "ModelParallelNotInitializedError": "groups",
    # release detection and signature-adaptive calls (shim part 2)
    "mcore_version": "releases",
    "call": "calls",
    "make_config": "calls",
    "config_to_dict": "calls",
    "import_symbol": "calls",
}

_SUBMODULES = {"parallel_state", "layout", "facts", "releases", "groups", "pg", "loss", "calls", "api_index"}

__all__ = ["__version__", "parallel_state", "layout", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

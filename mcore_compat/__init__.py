"""mcore-compat: one place for the compatibility code every Megatron-Core trainer writes by hand.

``import mcore_compat`` never imports torch or megatron-core: the functions that need them
import them when called, so the linter (same distribution) installs and runs without torch.
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]

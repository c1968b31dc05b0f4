"""mcore_lint: the linter and codemod for megatron-core API uses (no torch anywhere)."""

from mcore_compat import __version__

__all__ = ["__version__"]

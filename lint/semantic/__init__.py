"""The one model of a file every rule reads: parse with ``ast``, resolve tracked names once.

See :mod:`mcore_lint.semantic.model` for how it stays cheap and what it resolves.
"""

from .model import (
    DEFAULT_ROOTS,
    Binding,
    Branch,
    Guard,
    Reference,
    Scope,
    SemanticModel,
    build_model,
)
from .modules import MODULE_ALIASES, canonical, module_name_for, resolve_relative

__all__ = [
    "DEFAULT_ROOTS", "Binding", "Branch", "Guard", "Reference", "Scope", "SemanticModel", "build_model",
    "MODULE_ALIASES", "canonical", "module_name_for", "resolve_relative",
]

"""The one error type of the layout model.

A ``ValueError`` so callers that validate user input catch it naturally; the CLI turns it
into exit code 2. Every message names the numbers involved and the rule they break.
"""

from __future__ import annotations


class LayoutError(ValueError):
    """Sizes, an order, a rank or an environment that no megatron layout accepts."""

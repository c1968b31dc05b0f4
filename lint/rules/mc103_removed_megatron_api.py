"""MC103: a ``megatron.core`` name that existed in an older release and is gone in the target.

Source of the facts: the API index of every megatron-core release on PyPI
(``mcore_compat/data/api_index.jsonl``, generated from the wheels 0.5.0-0.19.2); what a
removal means now comes from the reviewed facts (``mcore_compat/data/facts.toml``
``[[removed]]``); the shim names from ``mcore_compat.parallel_state``.
"""

from __future__ import annotations

from ..api import messages
from ..api.fixes import build_fix
from ..api.symbols import problems_of
from .base import Applicability, Context, Invalid, Rule, Valid
from .mc101_parallel_state_via_wrong_module import wrong_module_split


class RemovedMegatronApi(Rule):
    """## What it does
    Flags an import or attribute of `megatron.core...` that existed in an older megatron-core
    release and no longer exists in the release(s) the project targets, without a reviewed
    rename (those are MC104). The message says when it was removed and what to use instead:
    the same object in its new module when the index finds exactly one, else the
    `mcore_compat` shim name that keeps working on every release (for the encoder-pipeline
    functions removed in 0.14.0 and the `get_data_modulo_expert_*` getters), and what the
    removed function means now.

    Code inside compatibility guards (`try/except ImportError/AttributeError`,
    `if hasattr(...)`, a megatron version check) is not flagged.

    ## Why is this bad?
    After bumping megatron-core the import raises `ImportError` / the call `AttributeError`,
    typically minutes into a job on the cluster.

    ## Example
    ```python
    from megatron.core import parallel_state

    split = parallel_state.get_pipeline_model_parallel_split_rank()  # gone in 0.14.0
    ```
    Use instead:
    ```python
    from mcore_compat import parallel_state

    split = parallel_state.get_pipeline_model_parallel_split_rank()  # None from 0.14.0
    ```

    ## Fix safety
    When the object moved, the fix points the use at its new module: safe when that module
    has it in every release the project supports and its signature is the one the old name
    had; unsafe when only newer releases have it, or when the same name there has another
    signature (it may be a different object). A removal without a replacement is
    display-only (the message names the shim).
    """

    code = "MC103"
    name = "removed-megatron-api"
    message = "{text}"
    fix = Applicability.SAFE
    releases = ">=0.5"

    VALID = [
        Valid("""
            from megatron.core import parallel_state
            split = parallel_state.get_pipeline_model_parallel_split_rank()
        """, target="0.13.1"),
        Valid("""
            from megatron.core import parallel_state
            if hasattr(parallel_state, "get_pipeline_model_parallel_split_rank"):
                split = parallel_state.get_pipeline_model_parallel_split_rank()
            else:
                split = None
        """, target="0.16.1"),
        Valid("""
            try:
                from megatron.core.parallel_state import is_inside_encoder
            except ImportError:
                def is_inside_encoder():
                    return False
        """, target="0.16.1"),
        Valid("""
            import megatron.core
            from megatron.core import parallel_state
            if megatron.core.__version__ < "0.14":
                parallel_state.set_pipeline_model_parallel_split_rank(None)
        """, target="0.16.1"),
        Valid("""
            from mcore_compat import parallel_state
            split = parallel_state.get_pipeline_model_parallel_split_rank()
        """, target="0.16.1"),
    ]
    INVALID = [
        Invalid(
            """
            from megatron.core import parallel_state
            split = parallel_state.get_pipeline_model_parallel_split_rank()
            """,
            message="`megatron.core.parallel_state.get_pipeline_model_parallel_split_rank` was "
                    "removed in megatron-core 0.14.0 (last in 0.13.1)",
            target="0.16.1",
        ),
        Invalid(
            """
            from megatron.core.parallel_state import is_inside_encoder, is_inside_decoder
            """,
            message="was removed in megatron-core 0.14.0",
            count=2,
            target="0.14.0",
        ),
        Invalid(
            """
            from megatron.core.datasets.utils_s3 import S3Config
            """,
            message="use `megatron.core.datasets.object_storage_utils.S3Config`",
            target="0.16.1",
            fixed="""
            from megatron.core.datasets.object_storage_utils import S3Config
            """,
        ),
        Invalid(
            """
            import megatron.core.inference.modelopt_support as modelopt
            """,
            message="`megatron.core.inference.modelopt_support` was removed in megatron-core 0.13.0",
            target="0.16.1",
        ),
    ]

    def check(self, ctx: Context) -> None:
        for p in problems_of(ctx.model, ctx.target, skip=wrong_module_split):
            if p.category == "removed":
                ctx.report(p.node, text=messages.removed(p), fix=build_fix(ctx, p))

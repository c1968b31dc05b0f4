"""MC104: a ``megatron.core`` name the reviewed facts say was renamed or moved, used against a
target release that no longer has it.

Source of the facts: the reviewed table ``mcore_compat/data/facts.toml`` (``[[symbol]]`` rows,
each with its releases and a source), queried through :mod:`mcore_compat.facts`; presence per
release from the API index (``mcore_compat/data/api_index.jsonl``).
"""

from __future__ import annotations

from ..api import messages
from ..api.fixes import build_fix
from ..api.symbols import problems_of
from .base import Applicability, Context, Invalid, Rule, Valid
from .mc101_parallel_state_via_wrong_module import wrong_module_split


class RenamedMegatronApi(Rule):
    """## What it does
    Flags an import or attribute of a `megatron.core` name that a reviewed fact says was
    renamed or moved (`get_data_modulo_expert_parallel_group` ->
    `get_expert_data_parallel_group`, `ModelCommProcessGroups` -> `ProcessGroupCollection`,
    `distributed.custom_fsdp` -> `distributed.fsdp`, ...) when the release(s) the project
    targets no longer have the old name. The message gives the new name, the release and
    the fact's note. Code inside compatibility guards (`try/except ImportError/AttributeError`,
    `if hasattr(...)`, a megatron version check) is not flagged.

    ## Why is this bad?
    The old name raises `ImportError`/`AttributeError` on the target release. The data alone
    cannot say what replaced it; the reviewed facts can.

    ## Example
    ```python
    from megatron.core import parallel_state

    group = parallel_state.get_data_modulo_expert_parallel_group()  # gone in 0.17.0
    ```
    Use instead:
    ```python
    from megatron.core import parallel_state

    group = parallel_state.get_expert_data_parallel_group()
    ```

    ## Fix safety
    The fix renames the use (and its import): safe when the new name exists in every release
    the project supports, unsafe when some supported release predates it (the fix would break
    those; keep the old name under a version guard or use the `mcore_compat` shim), and
    display-only when no supported release has it. A rename is not always drop-in (the note
    says when keywords differ): review unsafe fixes.
    """

    code = "MC104"
    name = "renamed-megatron-api"
    message = "{text}"
    fix = Applicability.SAFE
    releases = ">=0.5"

    VALID = [
        Valid("""
            from megatron.core import parallel_state
            group = parallel_state.get_data_modulo_expert_parallel_group()
        """, target="0.16.1"),
        Valid("""
            from megatron.core import parallel_state
            group = parallel_state.get_expert_data_parallel_group()
        """, target="0.17.1"),
        Valid("""
            try:
                from megatron.core.process_groups_config import ProcessGroupCollection
            except ImportError:
                from megatron.core.process_groups_config import ModelCommProcessGroups as ProcessGroupCollection
        """, target="0.16.1"),
        Valid("""
            from megatron.core import parallel_state
            get = getattr(parallel_state, "get_expert_data_parallel_group", None)
            if get is None and hasattr(parallel_state, "get_data_modulo_expert_parallel_group"):
                get = parallel_state.get_data_modulo_expert_parallel_group
        """, target="0.17.1"),
    ]
    INVALID = [
        Invalid(
            """
            from megatron.core import parallel_state
            group = parallel_state.get_data_modulo_expert_parallel_group()
            """,
            message="`megatron.core.parallel_state.get_data_modulo_expert_parallel_group` was renamed to "
                    "`megatron.core.parallel_state.get_expert_data_parallel_group` in megatron-core 0.17.0",
            target="0.17.1",
            fixed="""
            from megatron.core import parallel_state
            group = parallel_state.get_expert_data_parallel_group()
            """,
        ),
        Invalid(
            """
            from megatron.core.process_groups_config import ModelCommProcessGroups

            pgs = ModelCommProcessGroups()
            """,
            message="renamed to `megatron.core.process_groups_config.ProcessGroupCollection`",
            target="0.16.1",
            fixed="""
            from megatron.core.process_groups_config import ProcessGroupCollection

            pgs = ProcessGroupCollection()
            """,
        ),
        Invalid(
            """
            from megatron.core.process_groups_config import ModelCommProcessGroups as MCPG, ProcessGroupHelperMeta
            """,
            message="renamed to `megatron.core.process_groups_config.ProcessGroupCollection`",
            target="0.16.1",
            fixed="""
            from megatron.core.process_groups_config import ProcessGroupCollection as MCPG, ProcessGroupHelperMeta
            """,
        ),
        Invalid(
            """
            import megatron.core.parallel_state as mpu
            tracker = mpu.get_moe_layer_wise_logging_tracker()
            """,
            message="renamed to `megatron.core.transformer.moe.moe_utils.get_moe_layer_wise_logging_tracker`",
            target="0.16.1",
            fixed="""
            import megatron.core.parallel_state as mpu
            from megatron.core.transformer.moe.moe_utils import get_moe_layer_wise_logging_tracker

            tracker = get_moe_layer_wise_logging_tracker()
            """,
        ),
        Invalid(
            """
            import megatron.core.parallel_state
            from megatron.core import mpu
            a = megatron.core.parallel_state.get_data_modulo_expert_parallel_group()
            b = mpu.get_data_modulo_expert_parallel_group()
            """,
            message="was renamed to `megatron.core.parallel_state.get_expert_data_parallel_group`",
            count=2,
            target="0.17.1",
            fixed="""
            import megatron.core.parallel_state
            from megatron.core import mpu
            a = megatron.core.parallel_state.get_expert_data_parallel_group()
            b = mpu.get_expert_data_parallel_group()
            """,
        ),
        Invalid(
            """
            from megatron.core.distributed.custom_fsdp import FullyShardedDataParallel
            """,
            message="`megatron.core.distributed.custom_fsdp` was renamed to `megatron.core.distributed.fsdp`",
            target="0.14.0",
            fixed="""
            from megatron.core.distributed.fsdp import FullyShardedDataParallel
            """,
        ),
    ]

    def check(self, ctx: Context) -> None:
        for p in problems_of(ctx.model, ctx.target, skip=wrong_module_split):
            if p.category == "renamed":
                ctx.report(p.node, text=messages.renamed(p), fix=build_fix(ctx, p))

"""What the group-threading codemod knows about megatron's global process-group getters.

Every fact here is about ``megatron.core.parallel_state`` (also reachable as
``megatron.core.mpu``, the same module object in every release 0.5.0-0.19.2) and
``megatron.core.utils``; each names the release and source it was read from. The transform
(``mcore_lint.groups.transform``) and the rules MC301/MC302 read only this table, so adding a
group is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Canonical module of the global getters (``mpu`` is an alias of it).
PARALLEL_STATE = "megatron.core.parallel_state"
#: Other spellings of ``PARALLEL_STATE`` (megatron/core/__init__.py: ``mpu = parallel_state``,
#: every release 0.5.0-0.19.2).
PARALLEL_STATE_ALIASES = ("megatron.core.mpu",)


@dataclass(frozen=True)
class GroupSpec:
    """One explicit group parameter and how to get its global (fallback) value."""

    name: str  # parameter name: "tp_group"
    getter: str  # parallel_state function returning the group
    getter_kwargs: str  # literal keyword text for that call ("" or "with_context_parallel=True")
    collection_field: str  # attribute of ProcessGroupCollection holding it (0.15.0+)

    def fallback_call(self, base: str) -> str:
        """``<base>get_..._group(<kwargs>)``; ``base`` is ``"mpu."`` or ``""``."""
        return f"{base}{self.getter}({self.getter_kwargs})"


#: The groups, in the order new parameters are added. Group getters exist in every release
#: 0.5.0+; ``get_data_parallel_group(with_context_parallel=True)`` since 0.5.0 (parallel_state.py);
#: ProcessGroupCollection fields tp/pp/cp/dp/dp_cp/ep: 0.15.0 process_groups_config.py.
GROUPS: tuple[GroupSpec, ...] = (
    GroupSpec("tp_group", "get_tensor_model_parallel_group", "", "tp"),
    GroupSpec("pp_group", "get_pipeline_model_parallel_group", "", "pp"),
    GroupSpec("dp_group", "get_data_parallel_group", "", "dp"),
    GroupSpec("dp_cp_group", "get_data_parallel_group", "with_context_parallel=True", "dp_cp"),
    GroupSpec("cp_group", "get_context_parallel_group", "", "cp"),
    GroupSpec("ep_group", "get_expert_model_parallel_group", "", "ep"),
)
GROUP_BY_NAME = {g.name: g for g in GROUPS}
GROUP_ORDER = {g.name: i for i, g in enumerate(GROUPS)}

#: Names of parameters that carry several groups (ProcessGroupCollection, 0.15.0+).
COLLECTION_PARAMS = ("pg_collection",)

#: getter name -> (group family, kind). ``kind`` is "rank", "size" or "group". The data-parallel
#: family becomes ``dp_cp_group`` with ``with_context_parallel=True``. Read from
#: megatron-core 0.9.0 and 0.16.1 parallel_state.py: these getters take no argument except the
#: data-parallel ones (``with_context_parallel=False``, ``partial_data_parallel=False`` 0.10.0+)
#: and the group getters (``check_initialized=True``); calls with other arguments are left alone.
GETTERS: dict[str, tuple[str, str]] = {
    "get_tensor_model_parallel_rank": ("tp_group", "rank"),
    "get_tensor_model_parallel_world_size": ("tp_group", "size"),
    "get_tensor_model_parallel_group": ("tp_group", "group"),
    "get_pipeline_model_parallel_rank": ("pp_group", "rank"),
    "get_pipeline_model_parallel_world_size": ("pp_group", "size"),
    "get_pipeline_model_parallel_group": ("pp_group", "group"),
    "get_data_parallel_rank": ("dp_group", "rank"),
    "get_data_parallel_world_size": ("dp_group", "size"),
    "get_data_parallel_group": ("dp_group", "group"),
    "get_context_parallel_rank": ("cp_group", "rank"),
    "get_context_parallel_world_size": ("cp_group", "size"),
    "get_context_parallel_group": ("cp_group", "group"),
    "get_expert_model_parallel_rank": ("ep_group", "rank"),
    "get_expert_model_parallel_world_size": ("ep_group", "size"),
    "get_expert_model_parallel_group": ("ep_group", "group"),
}

#: Getters whose first positional parameter is ``with_context_parallel`` (0.5.0-0.19.2; 0.19
#: inserts ``with_gtp_remat`` as the *second* one, so only the first may be positional).
DATA_PARALLEL_GETTERS = frozenset(
    {"get_data_parallel_rank", "get_data_parallel_world_size", "get_data_parallel_group"})

#: Where ``get_pg_rank``/``get_pg_size`` live. megatron.core.utils has them from 0.13.0
#: (research/megatron-core-api-history.md §4; megatron-core 0.13.0 utils.py); mcore_compat has
#: them for every release.
PG_HELPERS = ("get_pg_rank", "get_pg_size")
PG_HELPERS_IN_MCORE_SINCE = "0.13.0"
PG_HELPERS_MCORE_MODULE = "megatron.core.utils"
PG_HELPERS_SHIM_MODULE = "mcore_compat"

#: From 0.16.0 on, ColumnParallelLinear/RowParallelLinear/VocabParallelEmbedding
#: .sharded_state_dict index ``metadata['dp_cp_group']`` without a guard (megatron-core 0.16.0
#: tensor_parallel/layers.py; research §1.8), so metadata dicts must carry the group.
METADATA_DP_CP_GROUP_SINCE = "0.16.0"
METADATA_KEY = "dp_cp_group"

#: Metadata holding a process group must not be serialised: upstream PR #2053 wraps the
#: ``content_metadata=`` of ``dist_checkpointing.save`` in this helper (megatron-core 0.16.0+,
#: megatron/core/dist_checkpointing/utils.py; pops ``dp_cp_group``).
CLEAN_METADATA_MODULE = "megatron.core.dist_checkpointing.utils"
CLEAN_METADATA_NAME = "_clean_metadata_for_serialization"

#: The parameter annotation of every new group parameter (as upstream PR #2053 wrote it).
ANNOTATION = "Optional[torch.distributed.ProcessGroup]"


def group_for_call(getter: str, with_context_parallel: bool) -> tuple[str, str] | None:
    """(group name, kind) for ``getter``, or None when it is not a group getter."""
    hit = GETTERS.get(getter)
    if hit is None:
        return None
    group, kind = hit
    if group == "dp_group" and with_context_parallel:
        group = "dp_cp_group"
    return group, kind


def replacement_text(group: str, kind: str, value: str) -> str:
    """The expression that replaces a getter call: ``get_pg_rank(value)`` etc."""
    if kind == "rank":
        return f"get_pg_rank({value})"
    if kind == "size":
        return f"get_pg_size({value})"
    return value

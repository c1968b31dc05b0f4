"""Which process group to use for each kind of parallelism: one field, one fallback chain.

Upstream megatron (e.g. ``make_sharded_tensor_for_checkpoint`` since 0.16.0, the M4 checkpoint
PR in ../shared/seeds/explicit-group-parameters-pr.md) falls back to global state only when
*all* groups are ``None`` (``if tp_group is None and pp_group is None``), so passing one group
silently answers size 1 for the other. Here every field falls back on its own:

1. the explicit argument (``tp_group=`` ...),
2. else the same-named field of ``pg_collection`` (``ProcessGroupCollection`` 0.15+,
   ``ModelCommProcessGroups`` / ``GradCommProcessGroups`` 0.12–0.14, or a ``ParallelGroups``),
3. else megatron's global getter of the installed release.

Without torch.distributed every field is ``None`` (sizes 1, ranks 0: single process). With
torch.distributed but without megatron's model-parallel state, falling back raises
:class:`~mcore_compat._dist.ModelParallelNotInitializedError` naming the group. A group that does
not contain the calling rank raises ``ValueError`` naming the rank and, where known, the ranks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable

from mcore_compat._dist import (
    ModelParallelNotInitializedError,
    accepts,
    check_member,
    dist_ready,
    group_ranks,
    installed_release,
    known_member,
    megatron_initialized,
    require_megatron,
    signature_of,
    upstream_ps,
)
from mcore_compat.pg import get_pg_rank, get_pg_size, get_pg_src_rank

__all__ = ["ParallelGroups", "resolve_groups", "ProcessGroupCollection",  # noqa: F822 (PEP 562)
           "pg_collection_from_mpu", "ModelParallelNotInitializedError"]

#: Field -> human name, used in messages.
FIELD_NAMES: dict[str, str] = {
    "tp": "tensor-parallel group (tp)",
    "pp": "pipeline-parallel group (pp)",
    "cp": "context-parallel group (cp)",
    "dp": "data-parallel group (dp)",
    "dp_cp": "data-parallel-with-context-parallel group (dp_cp)",
    "ep": "expert-model-parallel group (ep)",
    "expt_tp": "expert-tensor-parallel group (expt_tp)",
    "expt_dp": "expert-data-parallel group (expt_dp)",
    "mp": "model-parallel group (mp)",
    "tp_cp": "tensor-and-context-parallel group (tp_cp)",
    "embd": "embedding group (embd)",
    "pos_embd": "position-embedding group (pos_embd)",
    "tp_ep": "expert tensor-and-model-parallel group (tp_ep)",
}
#: Fields a caller can pass explicitly to :func:`resolve_groups` (as ``<field>_group=``).
CORE_FIELDS = ("tp", "pp", "cp", "dp", "dp_cp", "ep", "expt_tp", "expt_dp")
#: Derived fields: resolved from pg_collection or megatron when available, else None.
EXTRA_FIELDS = ("mp", "tp_cp", "embd", "pos_embd", "tp_ep")

#: Field -> the global getter per release, newest first: (parallel_state name, keywords).
#: Facts: megatron-core-api-history.md §2.1 (ast dumps of every wheel 0.5.0–0.16.1, tags 0.17–0.19).
GLOBAL_GETTERS: dict[str, tuple[tuple[str, dict[str, Any]], ...]] = {
    "tp": (("get_tensor_model_parallel_group", {}),),
    "pp": (("get_pipeline_model_parallel_group", {}),),
    "cp": (("get_context_parallel_group", {}),),
    "dp": (("get_data_parallel_group", {"with_context_parallel": False}),),
    "dp_cp": (("get_data_parallel_group", {"with_context_parallel": True}),),
    "ep": (("get_expert_model_parallel_group", {}),),
    # 0.10.0 added a separate expert-TP group; before it, expert layers used the TP group.
    "expt_tp": (("get_expert_tensor_parallel_group", {}),
                ("get_tensor_model_parallel_group", {})),
    # 0.10.0 renamed get_data_modulo_expert_parallel_group -> get_expert_data_parallel_group and
    # made it span CP (size world/(etp*ep*pp)); in 0.8.0–0.9.0 that group is the
    # with_context_parallel=True variant of data_modulo_expert.
    "expt_dp": (("get_expert_data_parallel_group", {}),
                ("get_data_modulo_expert_parallel_group", {"with_context_parallel": True})),
    "mp": (("get_model_parallel_group", {}),),
    "tp_cp": (("get_tensor_and_context_parallel_group", {}),),
    # renamed in 0.10.0 from get_tensor_and_expert_parallel_group (same group: expert TP x EP)
    "tp_ep": (("get_expert_tensor_and_model_parallel_group", {}),
              ("get_tensor_and_expert_parallel_group", {})),
    # None on ranks outside the embedding groups (middle pipeline stages); check_initialized
    # from 0.13.0, before it the getter asserts there (caught below)
    "embd": (("get_embedding_group", {"check_initialized": False}),
             ("get_embedding_group", {})),
    "pos_embd": (("get_position_embedding_group", {"check_initialized": False}),
                 ("get_position_embedding_group", {})),
}


def first_callable(ps: Any, candidates: tuple[tuple[str, dict[str, Any]], ...]
                   ) -> tuple[str, Any, dict[str, Any]] | None:
    """The first (name, function, keywords) the installed release has and fully accepts."""
    for name, kwargs in candidates:
        fn = getattr(ps, name, None)
        if fn is not None and all(accepts(signature_of(fn), k) for k in kwargs):
            return name, fn, kwargs
    return None


#: field -> (the parallel_state module, getter name, keywords) chosen by :func:`first_callable`
#: for it: which getter a release has and accepts cannot change within a process, and choosing
#: costs signature checks. The function itself is looked up on each call (so a patched
#: upstream getter is the one called, as before this cache).
_CHOICES: dict[str, tuple[Any, str, dict[str, Any]]] = {}


def _choice(ps: Any, field: str) -> tuple[Any, str, dict[str, Any]] | None:
    choice = _CHOICES.get(field)
    if choice is None or choice[0] is not ps:
        found = first_callable(ps, GLOBAL_GETTERS[field])
        if found is None:
            return None
        choice = _CHOICES[field] = (ps, found[0], found[2])
    return choice


def _global(ps: Any, field: str) -> Any:
    """:func:`global_group` once ``ps`` is known to be initialised."""
    choice = _choice(ps, field)
    if choice is not None:
        try:
            return getattr(ps, choice[1])(**choice[2])
        except AssertionError:
            if field in EXTRA_FIELDS:
                return None  # releases before 0.13 assert instead of check_initialized=False
            raise
    if field in EXTRA_FIELDS:
        return None
    raise AttributeError(f"megatron-core {installed_release()} has none of "
                         f"{[n for n, _ in GLOBAL_GETTERS[field]]} for the {FIELD_NAMES[field]}")


def global_group(field: str) -> Any:
    """megatron's global group for ``field`` on the installed release (requires init).

    ``None`` when the release has no such group for this rank (e.g. ``embd`` on a middle
    pipeline stage); raises :class:`ModelParallelNotInitializedError` before initialisation.
    """
    return _global(require_megatron(FIELD_NAMES[field]), field)


def resolve_field(field: str, explicit: Any = None, pg_collection: Any = None) -> Any:
    """One field's fallback chain: explicit, else ``pg_collection.<field>``, else global."""
    if not dist_ready():
        if explicit is not None:
            raise ValueError(f"a {FIELD_NAMES[field]} was passed but torch.distributed is not "
                             "initialised (single process: pass no groups)")
        return None
    if explicit is not None:
        return explicit if known_member(explicit) else check_member(
            explicit, f"the {FIELD_NAMES[field]} passed as {field}_group=")
    from_pgc = getattr(pg_collection, field, None) if pg_collection is not None else None
    if from_pgc is not None:
        return from_pgc if known_member(from_pgc) else check_member(
            from_pgc, f"the {FIELD_NAMES[field]} of pg_collection.{field}")
    return global_group(field)


@dataclass(frozen=True)
class ParallelGroups:
    """The resolved groups; attribute names as in megatron's ``ProcessGroupCollection``.

    A field is ``None`` when single-process, or when the installed release / this rank has no
    such group (``embd`` / ``pos_embd`` on middle pipeline stages).
    """

    tp: Any = None
    pp: Any = None
    cp: Any = None
    dp: Any = None
    dp_cp: Any = None
    ep: Any = None
    expt_tp: Any = None
    expt_dp: Any = None
    mp: Any = None
    tp_cp: Any = None
    embd: Any = None
    pos_embd: Any = None
    tp_ep: Any = None

    def size(self, field: str) -> int:
        """World size of the group in ``field`` (1 for None, as ``get_pg_size``)."""
        return get_pg_size(getattr(self, field))

    def rank(self, field: str) -> int:
        """Caller's rank in the group in ``field`` (0 for None)."""
        return get_pg_rank(getattr(self, field))

    def src_rank(self, field: str) -> int:
        """Global rank of the first member of ``field``'s group (0 for None)."""
        return get_pg_src_rank(getattr(self, field))

    def ranks(self, field: str) -> list[int]:
        """Global ranks of ``field``'s group (``[0]`` single-process, ``[]`` if unknown)."""
        group = getattr(self, field)
        if group is None:
            return [0] if not dist_ready() else []
        return group_ranks(group) or []

    def to_pg_collection(self) -> Any:
        """A ``ProcessGroupCollection`` (upstream 0.15+, else the compatible class) holding the
        non-None fields: what megatron's ``pg_collection=`` parameters take."""
        cls = _pg_collection_class()
        kwargs = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if getattr(self, f.name) is not None}
        return cls(**kwargs)


def resolve_groups(*, tp_group: Any = None, pp_group: Any = None, cp_group: Any = None,
                   dp_group: Any = None, dp_cp_group: Any = None, ep_group: Any = None,
                   expt_tp_group: Any = None, expt_dp_group: Any = None,
                   pg_collection: Any = None) -> ParallelGroups:
    """Resolve every group now, each field falling back on its own (see the module doc).

    Errors come from this call: a non-member group (``ValueError`` naming the calling rank and
    the group's ranks), or fallback needed while megatron's model-parallel state is not
    initialised (``ModelParallelNotInitializedError`` naming every group that needed it).
    The derived fields (``mp``, ``tp_cp``, ``embd``, ``pos_embd``) come from ``pg_collection``
    or megatron when available and are ``None`` otherwise; they never raise for lack of init.
    """
    explicit = (tp_group, pp_group, cp_group, dp_group, dp_cp_group, ep_group, expt_tp_group,
                expt_dp_group)  # in CORE_FIELDS order
    if not dist_ready():
        passed = [f"{f}_group" for f, v in zip(CORE_FIELDS, explicit) if v is not None]
        if passed:
            raise ValueError(f"{', '.join(passed)} passed but torch.distributed is not "
                             "initialised (single process: pass no groups)")
        return ParallelGroups()
    # Hot path (a trainer may call this per step): membership checks hit the cache of groups
    # already accepted (known_member), messages are only built for a group checked anew, and
    # megatron's state is asked once.
    values: dict[str, Any] = {}
    needs_global: list[str] = []
    for field, v in zip(CORE_FIELDS, explicit):
        if v is not None:
            values[field] = v if known_member(v) else check_member(
                v, f"the {FIELD_NAMES[field]} passed as {field}_group=")
            continue
        v = getattr(pg_collection, field, None) if pg_collection is not None else None
        if v is not None:
            values[field] = v if known_member(v) else check_member(
                v, f"the {FIELD_NAMES[field]} of pg_collection.{field}")
            continue
        needs_global.append(field)
    ps = upstream_ps()
    ready = megatron_initialized(ps)
    if needs_global and not ready:
        require_megatron(", ".join(FIELD_NAMES[f] for f in needs_global))  # raises
    for field in needs_global:
        values[field] = _global(ps, field)
    for field in EXTRA_FIELDS:
        v = getattr(pg_collection, field, None) if pg_collection is not None else None
        if v is not None:
            values[field] = v if known_member(v) else check_member(
                v, f"the {FIELD_NAMES[field]} of pg_collection.{field}")
        else:
            values[field] = _global(ps, field) if ready else None
    return ParallelGroups(**values)


# ----------------------------------------------------------------------------- collections

#: ProcessGroupCollection fields in 0.15.0–0.17.1 (megatron-core-api-history.md §5).
PGC_FIELDS = ("tp", "pp", "mp", "embd", "pos_embd", "cp", "tp_cp", "hcp", "ep", "expt_tp",
              "tp_ep", "tp_ep_pp", "tp_dp_cp", "dp", "dp_cp", "expt_dp", "intra_dp_cp",
              "intra_expt_dp", "inter_dist_opt", "intra_dist_opt")

#: Field -> (getter, keywords) as 0.16.1's ``use_mpu_process_groups`` maps them, newest name
#: first (older releases: expert names before 0.10.0, instance groups from 0.13.0).
MPU_GETTERS: dict[str, tuple[tuple[str, dict[str, Any]], ...]] = {
    **GLOBAL_GETTERS,
    "hcp": (("get_hierarchical_context_parallel_groups", {"check_initialized": False}),),
    "tp_ep_pp": (("get_expert_tensor_model_pipeline_parallel_group",
                  {"check_initialized": False}),),
    "tp_dp_cp": (("get_tensor_and_data_parallel_group",
                  {"check_initialized": False, "with_context_parallel": True}),),
    "intra_dp_cp": (("get_data_parallel_group",
                     {"with_context_parallel": True, "partial_data_parallel": True}),),
    "intra_expt_dp": (("get_expert_data_parallel_group",
                       {"check_initialized": False, "partial_expert_data_parallel": True}),),
    "inter_dist_opt": (("get_inter_distributed_optimizer_instance_group",
                        {"check_initialized": False}),),
    "intra_dist_opt": (("get_intra_distributed_optimizer_instance_group",
                        {"check_initialized": False}),),
}


class CompatProcessGroupCollection:
    """``ProcessGroupCollection`` for releases before 0.15.0, which lack it.

    Same contract as upstream's (0.15.0 ``process_groups_config.py``): keyword construction,
    unknown names raise ``ValueError``, unset fields are *absent* (use ``hasattr``), and
    ``use_mpu_process_groups(required_pgs=None)`` reads megatron's global groups. On 0.12–0.14
    ``model_comm_pgs()`` / ``grad_comm_pgs()`` / ``grad_finalize_pgs()`` convert to the
    containers those releases' ``model_comm_pgs=`` / ``grad_comm_pgs=`` /
    ``grad_finalize_pgs=`` parameters take.
    """

    _fields = PGC_FIELDS

    def __init__(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            if key not in self._fields:
                raise ValueError(f"Unknown attribute: {key} (fields: {', '.join(self._fields)})")
            setattr(self, key, value)

    def __repr__(self) -> str:
        set_ = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields if hasattr(self, k))
        return f"ProcessGroupCollection({set_})"

    @classmethod
    def use_mpu_process_groups(cls, required_pgs: Iterable[str] | None = None) -> Any:
        """Fill from megatron's global state (fields the release has no getter for stay unset,
        unless named in ``required_pgs``, which raises)."""
        ps = require_megatron("process groups for ProcessGroupCollection.use_mpu_process_groups")
        wanted = list(cls._fields) if required_pgs is None else list(required_pgs)
        bad = [p for p in wanted if p not in cls._fields]
        if bad:
            raise ValueError(f"Invalid process groups requested: {bad}")
        values: dict[str, Any] = {}
        missing = []
        for field in wanted:
            found = first_callable(ps, MPU_GETTERS[field])
            if found is None:
                missing.append(field)
                continue
            try:
                values[field] = found[1](**found[2])
            except AssertionError:
                values[field] = None  # before 0.13: asserts where the group does not exist
        if missing and required_pgs is not None:
            raise ValueError(f"megatron-core {installed_release()} has no getter for the "
                             f"process groups {missing}")
        return cls(**values)

    def _to(self, class_name: str) -> Any:
        import dataclasses as dc

        from megatron.core import process_groups_config as pgc  # 0.12.0–0.14.0

        cls = getattr(pgc, class_name, None)
        if cls is None:
            raise AttributeError(f"megatron-core {installed_release()} has no "
                                 f"process_groups_config.{class_name} (0.12.0–0.14.0 only)")
        obj = cls()  # 0.12.x: no kwargs __init__; 0.13+: __init__(**kwargs)
        for f in dc.fields(cls):
            if hasattr(self, f.name):
                setattr(obj, f.name, getattr(self, f.name))
        return obj

    def model_comm_pgs(self) -> Any:
        """As ``ModelCommProcessGroups`` (0.12.0–0.14.0)."""
        return self._to("ModelCommProcessGroups")

    def grad_comm_pgs(self) -> Any:
        """As ``GradCommProcessGroups`` (0.12.0–0.14.0)."""
        return self._to("GradCommProcessGroups")

    def grad_finalize_pgs(self) -> Any:
        """As ``GradFinalizeProcessGroups`` (0.14.0 only)."""
        return self._to("GradFinalizeProcessGroups")


def _pg_collection_class() -> type:
    try:
        from megatron.core.process_groups_config import ProcessGroupCollection as cls  # 0.15+
    except ImportError:
        return CompatProcessGroupCollection
    return cls


def pg_collection_from_mpu() -> Any:
    """A ``ProcessGroupCollection`` of megatron's global groups, on every release.

    0.15+: upstream ``ProcessGroupCollection.use_mpu_process_groups()``; before: the compatible
    class filled from the same getters. Without torch.distributed: an empty collection (every
    field absent, so :func:`resolve_groups` answers single-process values from it).
    """
    cls = _pg_collection_class()
    if not dist_ready():
        return cls()
    require_megatron("process groups for pg_collection_from_mpu()")
    return cls.use_mpu_process_groups()


def __getattr__(name: str) -> Any:
    # PEP 562: the upstream class where the installed release has it (0.15.0+), decided on
    # first use so importing this module never imports torch or megatron.
    if name == "ProcessGroupCollection":
        return _pg_collection_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

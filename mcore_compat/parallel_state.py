"""Drop-in for ``megatron.core.parallel_state`` with explicit groups, on every release.

``from mcore_compat import parallel_state`` instead of ``from megatron.core import
parallel_state``. What changes:

* Every rank / world-size / src-rank / group getter and stage predicate takes the group of its
  kind by keyword (``get_tensor_model_parallel_rank(tp_group=...)``; the getters upstream has
  without parameters (:data:`PARAMETERLESS`) also take it positionally,
  ``get_data_parallel_world_size(with_context_parallel=False, dp_group=..., dp_cp_group=...)``,
  ``is_pipeline_first_stage(pp_group=...)``, ...) and ``pg_collection=``. Given a group, the
  answer comes from that group; else from ``pg_collection.<field>``; else from the installed
  release's own getter (so with megatron initialised and no groups, the answer is upstream's).
  Without torch.distributed: the single-process answer (size 1, rank 0, first and last stage,
  group ``None``); upstream answers ``0`` for the DP size there. With torch.distributed but no
  ``initialize_model_parallel``: :class:`ModelParallelNotInitializedError` naming the group.
* Keywords of the installed release pass through by keyword (never positionally: 0.19 inserts
  ``with_gtp_remat`` as the 2nd positional parameter of the DP getters). A keyword the
  installed release lacks is dropped when it asks for the default behaviour and raises
  ``TypeError`` naming the keyword and the releases that accept it otherwise.
* New names on old releases (``get_expert_data_parallel_*``, ``get_expert_tensor_parallel_*``
  before 0.10.0, ...) and removed names on new releases (encoder-pipeline functions removed in
  0.14.0, ``get_data_modulo_expert_*``, ``is_unitialized``) answer as documented on each.
* Every other name (``initialize_model_parallel``, ``destroy_model_parallel``, ``set_*``, ...)
  is the installed release's object itself.

Release facts: ../shared/research/megatron-core-api-history.md (§1, §2.1), checked against the
0.9.0, 0.12.3, 0.13.1 and 0.16.1 wheels' ``parallel_state.py``.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable

from mcore_compat._dist import (
    KEYWORD_DEFAULTS,
    UNBOUND,
    ModelParallelNotInitializedError,
    call_upstream,
    dist_ready,
    fast_state,
    group_ranks,
    keywords_for,
    require_megatron,
    signature_of,
    torch_dist,
    upstream_ps,
)
from mcore_compat.groups import FIELD_NAMES, global_group, resolve_field
from mcore_compat.pg import get_pg_rank, get_pg_size, get_pg_src_rank

QUAL = "megatron.core.parallel_state"
_NO_PARAMS = inspect.Signature([])

#: Names this module defines itself (wrapped or added); every other name passes through.
WRAPPED: dict[str, Callable[..., Any]] = {}


# ----------------------------------------------------------------------------- answers

def _ranks(group: Any) -> list[int]:
    return group_ranks(group) or []


#: op -> (answer from a group, single-process answer)
_OPS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "group": (lambda g: g, None),
    "world_size": (get_pg_size, 1),
    "rank": (get_pg_rank, 0),
    "src_rank": (get_pg_src_rank, 0),
    "global_ranks": (_ranks, [0]),
    "first_rank": (lambda g: _ranks(g)[0], 0),
    "last_rank": (lambda g: _ranks(g)[-1], 0),
    "next_rank": (lambda g: _ranks(g)[(get_pg_rank(g) + 1) % get_pg_size(g)], 0),
    "prev_rank": (lambda g: _ranks(g)[(get_pg_rank(g) - 1) % get_pg_size(g)], 0),
}


def _explicit_or_collection(field: str, explicit: Any, pg_collection: Any) -> bool:
    return explicit is not None or (
        pg_collection is not None and getattr(pg_collection, field, None) is not None)


#: Upstream keywords that pick *which* group a getter answers for (so they conflict with an
#: explicit group); others (check_initialized) do not.
_SELECTING = {"partial_data_parallel", "partial_expert_data_parallel", "independent_all_gather",
              "with_gtp_remat", "tp_only_amax_red"}


def _reject_extra_with_group(name: str, group_kw: str, extra: dict[str, Any]) -> None:
    odd = {k: v for k, v in extra.items()
           if k in _SELECTING and KEYWORD_DEFAULTS.get(k, object()) != v}
    if odd:
        raise TypeError(f"{name}(): {group_kw} (or its pg_collection field) selects the group, "
                        f"so {', '.join(f'{k}={v!r}' for k, v in odd.items())} cannot also "
                        "select one; pass the group you mean instead")


def answer(name: str, field: str, op: str, explicit: Any = None, pg_collection: Any = None,
           upstream_kwargs: dict[str, Any] | None = None, group_kw: str | None = None) -> Any:
    """The shared body of every wrapped getter (public so checks can exercise one path).

    ``name`` is the upstream getter, ``field`` the ParallelGroups field, ``op`` what to read
    from the group (:data:`_OPS`), ``upstream_kwargs`` keywords meant for the installed getter.
    """
    from_group, single = _OPS[op]
    upstream_kwargs = dict(upstream_kwargs or {})
    if not dist_ready():
        if explicit is not None:
            raise ValueError(f"{name}(): {group_kw or field} passed but torch.distributed is "
                             "not initialised (single process: pass no groups)")
        ps = upstream_ps()
        fn = getattr(ps, name, None) if ps is not None else None
        if fn is not None:  # still reject keywords the installed release lacks
            keywords_for(signature_of(fn), f"{QUAL}.{name}", upstream_kwargs)
        else:  # nothing installed to ask: only keywords no release has are refused
            keywords_for(_NO_PARAMS, f"{QUAL}.{name}",
                         {k: v for k, v in upstream_kwargs.items() if k not in KEYWORD_DEFAULTS})
        return list(single) if isinstance(single, list) else single
    if _explicit_or_collection(field, explicit, pg_collection):
        _reject_extra_with_group(name, group_kw or f"{field}_group", upstream_kwargs)
        return from_group(resolve_field(field, explicit, pg_collection))
    if upstream_kwargs.get("check_initialized") is False:
        # upstream's own "None when not initialised" (0.13+ for most group getters)
        ps = upstream_ps()
        fn = getattr(ps, name, None) if ps is not None else None
        if fn is not None:
            return call_upstream(fn, f"{QUAL}.{name}", upstream_kwargs)
    ps = require_megatron(FIELD_NAMES[field])
    fn = getattr(ps, name, None)
    if fn is not None:
        return call_upstream(fn, f"{QUAL}.{name}", upstream_kwargs)
    # a name the installed release does not have yet: answer from its group
    keywords_for(_NO_PARAMS, f"{QUAL}.{name}", upstream_kwargs)
    return from_group(global_group(field))


# ----------------------------------------------------------------------------- fast path
# A getter called with no arguments, with torch.distributed and megatron's model-parallel state
# initialised, is answered by the installed release's own getter: :func:`answer` would do the
# same after ~2-4 us of checks, and trainers call these per microbatch (target: <= 1.3x the
# upstream call, issue 11). The test for "both initialised" reads the attribute
# ``torch.distributed.is_initialized()`` reads and the one of the three globals megatron's
# ``model_parallel_is_initialized()`` reads that ``initialize_model_parallel`` assigns last
# (_dist.MP_ASSIGNED_LAST: set only when the other two are; see _dist.fast_world /
# fast_megatron / assigned_last; calling those two functions costs ~0.25 us, more than
# upstream's getter) on objects bound by the first full-path call. Until then, and without
# torch or megatron, or on versions that read or assign something else, they are placeholders
# whose attributes are None, so the full path answers.
#
# Each getter's source is generated from a template (as collections.namedtuple does) so that
# upstream's function is a literal attribute of megatron's module (``_MPS.<name>``): looked up
# on every call like the full path's ``getattr(ps, name)`` (a patched upstream getter is the
# one called), yet ~30 ns cheaper than a dictionary or ``getattr`` lookup by a name variable.

_WORLD: Any = UNBOUND   # torch.distributed.distributed_c10d._world once bound
_MPS: Any = UNBOUND     # megatron.core.parallel_state once bound
_bound = False

#: ``params`` the parameter list, ``guard`` the test that no group (nor other keyword) was
#: given, ``call`` the arguments upstream's getter gets, ``full`` the full path's call.
_FAST_TEMPLATE = """\
def {name}({params}):
    if ({guard} and _WORLD._default_pg is not None
            and _MPS._PIPELINE_MODEL_PARALLEL_GROUP is not None):
        try:
            upstream = _MPS.{name}
        except AttributeError:  # not in the installed release: the full path answers
            pass
        else:
            return upstream({call})
    elif not _bound:
        _bind_fast_path()
    return {full}
"""

#: Getters whose upstream function has no parameter in any indexed release (0.5.0-0.19.2; the
#: test tests/test_shim_fastpath.py::test_parameterless_getters_match_the_index recomputes this from
#: the API index). They take only their group and ``pg_collection``, positionally or by
#: keyword, without ``**kwargs``: CPython builds a fresh dict for ``**kwargs`` on every call
#: (~40 ns) and looks keyword-only defaults up by name (~30 ns each), together about a third of
#: the upstream call they wrap. Any other argument is a TypeError, as upstream's.
PARAMETERLESS = frozenset({
    "get_tensor_model_parallel_rank", "get_tensor_model_parallel_world_size",
    "get_tensor_model_parallel_src_rank",
    "get_pipeline_model_parallel_rank", "get_pipeline_model_parallel_world_size",
    "get_pipeline_model_parallel_first_rank", "get_pipeline_model_parallel_last_rank",
    "get_pipeline_model_parallel_next_rank", "get_pipeline_model_parallel_prev_rank",
    "get_context_parallel_rank", "get_context_parallel_world_size",
    "get_expert_model_parallel_rank", "get_expert_model_parallel_world_size",
    "get_expert_model_parallel_src_rank",
    "get_expert_tensor_parallel_rank", "get_expert_tensor_parallel_world_size",
    "get_model_parallel_src_rank",
    "get_tensor_and_context_parallel_rank", "get_tensor_and_context_parallel_world_size",
    "get_expert_tensor_and_model_parallel_rank", "get_expert_tensor_and_model_parallel_world_size",
})

def _bind_fast_path() -> None:
    """Bind :data:`_WORLD` / :data:`_MPS` once torch and megatron are both importable."""
    global _WORLD, _MPS, _bound
    if _bound or torch_dist() is None or upstream_ps() is None:
        return  # bound already, or something is still missing (looked for again next time)
    _bound = True
    world, mps = fast_state()
    if world is not UNBOUND and mps is not UNBOUND:
        _WORLD, _MPS = world, mps


def _generate(name: str, params: str, guard: str, call: str, full: str) -> Callable[..., Any]:
    src = _FAST_TEMPLATE.format(name=name, params=params, guard=guard, call=call, full=full)
    namespace: dict[str, Any] = {}
    code = compile(src, f"<mcore_compat.parallel_state.{name}>", "exec")
    exec(code, globals(), namespace)  # noqa: S102 - our own template, names from _SIMPLE
    return namespace[name]


def _full_simple(name: str, field: str, op: str, kwargs: dict[str, Any]) -> Any:
    group_kw = f"{field}_group"
    pg_collection = kwargs.pop("pg_collection", None)
    explicit = kwargs.pop(group_kw, None)
    return answer(name, field, op, explicit, pg_collection, kwargs, group_kw)


def _getter(name: str, field: str, op: str, doc: str) -> Callable[..., Any]:
    group_kw = f"{field}_group"
    where = (f"Group: ``{group_kw}=``, else ``pg_collection.{field}``, else the installed "
             f"release's ``{name}``; single process: {_OPS[op][1]!r}.")
    if name in PARAMETERLESS:
        fn = _generate(name, params=f"{group_kw}=None, pg_collection=None",
                       guard=f"{group_kw} is None and pg_collection is None", call="",
                       full=f"answer({name!r}, {field!r}, {op!r}, {group_kw}, pg_collection, None, "
                            f"{group_kw!r})")
        fn.__doc__ = f"{doc}\n\n{where} Upstream's getter takes no arguments in any release."
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        params = [inspect.Parameter(group_kw, kind, default=None),
                  inspect.Parameter("pg_collection", kind, default=None)]
    else:
        fn = _generate(name, params="**kwargs", guard="not kwargs", call="",
                       full=f"_full_simple({name!r}, {field!r}, {op!r}, kwargs)")
        fn.__doc__ = (f"{doc}\n\n{where} Other keywords go to the installed getter by keyword "
                      "(dropped when a default the release lacks, else TypeError).")
        params = [inspect.Parameter(group_kw, inspect.Parameter.KEYWORD_ONLY, default=None),
                  inspect.Parameter("pg_collection", inspect.Parameter.KEYWORD_ONLY, default=None),
                  inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)]
    fn.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    WRAPPED[name] = fn
    return fn


# ----------------------------------------------------------------------------- simple getters
# (name, field, op, doc); release notes are in megatron-core-api-history.md §2.1

_SIMPLE = [
    ("get_tensor_model_parallel_group", "tp", "group", "Tensor-parallel group."),
    ("get_tensor_model_parallel_rank", "tp", "rank", "Rank in the tensor-parallel group."),
    ("get_tensor_model_parallel_world_size", "tp", "world_size", "Tensor-parallel size."),
    ("get_tensor_model_parallel_src_rank", "tp", "src_rank",
     "Global rank of the first rank of the tensor-parallel group."),
    ("get_pipeline_model_parallel_group", "pp", "group", "Pipeline-parallel group."),
    ("get_pipeline_model_parallel_rank", "pp", "rank", "Pipeline stage of this rank."),
    ("get_pipeline_model_parallel_world_size", "pp", "world_size", "Number of stages."),
    ("get_pipeline_model_parallel_first_rank", "pp", "first_rank",
     "Global rank of the first stage of this rank's pipeline."),
    ("get_pipeline_model_parallel_last_rank", "pp", "last_rank",
     "Global rank of the last stage of this rank's pipeline."),
    ("get_pipeline_model_parallel_next_rank", "pp", "next_rank",
     "Global rank of the next stage (wraps around)."),
    ("get_pipeline_model_parallel_prev_rank", "pp", "prev_rank",
     "Global rank of the previous stage (wraps around)."),
    ("get_context_parallel_group", "cp", "group", "Context-parallel group."),
    ("get_context_parallel_rank", "cp", "rank", "Rank in the context-parallel group."),
    ("get_context_parallel_world_size", "cp", "world_size", "Context-parallel size."),
    ("get_context_parallel_global_ranks", "cp", "global_ranks",
     "Global ranks of this rank's context-parallel group."),
    ("get_expert_model_parallel_group", "ep", "group", "Expert-parallel group."),
    ("get_expert_model_parallel_rank", "ep", "rank", "Rank in the expert-parallel group."),
    ("get_expert_model_parallel_world_size", "ep", "world_size", "Expert-parallel size."),
    ("get_expert_model_parallel_src_rank", "ep", "src_rank",
     "First global rank of the expert-parallel group (upstream has it from 0.16.0)."),
    ("get_expert_tensor_parallel_group", "expt_tp", "group",
     "Expert tensor-parallel group (0.10.0+; before, expert layers used the TP group)."),
    ("get_expert_tensor_parallel_rank", "expt_tp", "rank",
     "Rank in the expert tensor-parallel group (the TP rank before 0.10.0)."),
    ("get_expert_tensor_parallel_world_size", "expt_tp", "world_size",
     "Expert tensor-parallel size (the TP size before 0.10.0)."),
    ("get_expert_data_parallel_group", "expt_dp", "group",
     "Expert data-parallel group (0.10.0+; on 0.9.0 the with-CP data_modulo_expert group)."),
    ("get_expert_data_parallel_rank", "expt_dp", "rank", "Rank in the expert-DP group."),
    ("get_expert_data_parallel_world_size", "expt_dp", "world_size",
     "Expert data-parallel size (world / (expert TP * EP * PP))."),
    ("get_model_parallel_group", "mp", "group", "Model-parallel (TP x PP) group."),
    ("get_model_parallel_src_rank", "mp", "src_rank",
     "First global rank of the model-parallel group (upstream has it from 0.10.0)."),
    ("get_tensor_and_context_parallel_group", "tp_cp", "group", "TP x CP group."),
    ("get_tensor_and_context_parallel_rank", "tp_cp", "rank", "Rank in the TP x CP group."),
    ("get_tensor_and_context_parallel_world_size", "tp_cp", "world_size", "TP x CP size."),
    ("get_embedding_group", "embd", "group",
     "Embedding group (first and last stage); None on other stages when not checking."),
    ("get_position_embedding_group", "pos_embd", "group", "Position-embedding group."),
    ("get_expert_tensor_and_model_parallel_group", "tp_ep", "group",
     "Expert TP x EP group (0.10.0+; 0.9.0: get_tensor_and_expert_parallel_group)."),
    ("get_expert_tensor_and_model_parallel_rank", "tp_ep", "rank", "Rank in the TP x EP group."),
    ("get_expert_tensor_and_model_parallel_world_size", "tp_ep", "world_size",
     "Expert TP x EP size."),
]

for _name, _field, _op, _doc in _SIMPLE:
    globals()[_name] = _getter(_name, _field, _op, _doc)
del _name, _field, _op, _doc


# ----------------------------------------------------------------------------- data parallel

def dp_upstream_kwargs(with_context_parallel: bool, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keywords a DP getter forwards to the installed release (before filtering): always by
    keyword, ``with_context_parallel`` explicit (tested against 0.18/0.19 signatures)."""
    return {"with_context_parallel": bool(with_context_parallel), **kwargs}


def _dp(name: str, op: str, with_context_parallel: bool, dp_group: Any, dp_cp_group: Any,
        pg_collection: Any, kwargs: dict[str, Any]) -> Any:
    field = "dp_cp" if with_context_parallel else "dp"
    explicit = dp_cp_group if with_context_parallel else dp_group
    return answer(name, field, op, explicit, pg_collection,
                  dp_upstream_kwargs(with_context_parallel, kwargs), f"{field}_group")


_DP_PARAMS = [
    inspect.Parameter("with_context_parallel", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                      default=False, annotation="bool"),
    *(inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None, annotation="Any")
      for n in ("dp_group", "dp_cp_group", "pg_collection")),
    inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD, annotation="Any"),
]


def _full_dp(name: str, op: str, with_context_parallel: bool, kwargs: dict[str, Any]) -> Any:
    return _dp(name, op, with_context_parallel, kwargs.pop("dp_group", None),
               kwargs.pop("dp_cp_group", None), kwargs.pop("pg_collection", None), kwargs)


def _dp_getter(name: str, op: str, doc: str) -> Callable[..., Any]:
    """A DP getter ``(with_context_parallel=False, *, dp_group=None, dp_cp_group=None,
    pg_collection=None, **kwargs)``, generated as ``(with_context_parallel=False, **kwargs)``:
    keyword-only parameters cost a lookup each per call. The fast path forwards
    ``with_context_parallel`` by keyword, as the full path (0.19 inserted a 2nd positional)."""
    fn = _generate(name, params="with_context_parallel=False, **kwargs",
                   guard="not kwargs and (with_context_parallel is False or with_context_parallel is True)",
                   call="with_context_parallel=with_context_parallel",
                   full=f"_full_dp({name!r}, {op!r}, with_context_parallel, kwargs)")
    fn.__doc__ = doc
    fn.__signature__ = inspect.Signature(_DP_PARAMS)  # type: ignore[attr-defined]
    WRAPPED[name] = fn
    return fn


get_data_parallel_group = _dp_getter("get_data_parallel_group", "group", """\
Data-parallel group; ``with_context_parallel=True`` selects the DP x CP group, and then
``dp_cp_group=`` / ``pg_collection.dp_cp`` (``dp_group=`` is for the other case).

Only ``with_context_parallel`` may be positional: 0.19 inserted ``with_gtp_remat`` as the
2nd positional parameter. Other keywords (``partial_data_parallel`` 0.10+,
``independent_all_gather`` 0.16–0.17, ``with_gtp_remat`` 0.19) go by keyword.""")
get_data_parallel_rank = _dp_getter("get_data_parallel_rank", "rank", """\
Rank in the data-parallel (or DP x CP) group; see :func:`get_data_parallel_group`.""")
get_data_parallel_world_size = _dp_getter("get_data_parallel_world_size", "world_size", """\
Data-parallel (or DP x CP) size; 1 single-process (upstream: 0 without dist).""")
get_data_parallel_src_rank = _dp_getter("get_data_parallel_src_rank", "src_rank", """\
First global rank of the data-parallel (or DP x CP) group.""")


# ----------------------------------------------------------------------------- stages

def _stage(first: bool, ignore_virtual: bool | None, vp_stage: int | None, pp_group: Any,
           pg_collection: Any) -> bool:
    name = "is_pipeline_first_stage" if first else "is_pipeline_last_stage"
    iv = True if ignore_virtual is None else bool(ignore_virtual)
    if not dist_ready():
        if pp_group is not None:
            raise ValueError(f"{name}(): pp_group passed but torch.distributed is not "
                             "initialised (single process: pass no groups)")
        return True
    ps = upstream_ps()
    vpp_world = None
    if not iv and ps is not None and hasattr(ps, "get_virtual_pipeline_model_parallel_world_size"):
        vpp_world = ps.get_virtual_pipeline_model_parallel_world_size()
        if vpp_world is not None and vp_stage is None:
            # one meaning everywhere: the global virtual rank (0.13+ would assert instead)
            vp_stage = ps.get_virtual_pipeline_model_parallel_rank()
    if _explicit_or_collection("pp", pp_group, pg_collection):
        group = resolve_field("pp", pp_group, pg_collection)
        rank, size = get_pg_rank(group), get_pg_size(group)
    else:
        ps = require_megatron(FIELD_NAMES["pp"])
        fn = getattr(ps, name)
        sig = signature_of(fn)
        if sig is not None and "vp_stage" in sig.parameters:  # 0.13.0+
            return bool(fn(ignore_virtual=iv, vp_stage=vp_stage))
        if vp_stage is None or iv or vpp_world is None:  # before 0.13.0: explicit ignore_virtual
            return bool(fn(ignore_virtual=iv))
        rank = ps.get_pipeline_model_parallel_rank()
        size = ps.get_pipeline_model_parallel_world_size()
    if not iv and vpp_world is not None:
        if vp_stage != (0 if first else vpp_world - 1):
            return False
    return rank == (0 if first else size - 1)


def is_pipeline_first_stage(ignore_virtual: bool | None = None, vp_stage: int | None = None, *,
                            pp_group: Any = None, pg_collection: Any = None) -> bool:
    """True on the first pipeline stage, with the 0.13+ meaning on every release.

    ``ignore_virtual`` defaults to True (0.13.0 flipped upstream's default from False) and is
    always passed explicitly to the installed release. With ``ignore_virtual=False`` and
    virtual pipelining on, the model chunk is ``vp_stage`` (0.13+), or the global virtual rank
    when not given (what releases before 0.13 used; 0.13+ upstream asserts instead).
    """
    return _stage(True, ignore_virtual, vp_stage, pp_group, pg_collection)


def is_pipeline_last_stage(ignore_virtual: bool | None = None, vp_stage: int | None = None, *,
                           pp_group: Any = None, pg_collection: Any = None) -> bool:
    """True on the last pipeline stage; same rules as :func:`is_pipeline_first_stage`."""
    return _stage(False, ignore_virtual, vp_stage, pp_group, pg_collection)


def is_rank_in_embedding_group(ignore_virtual: bool | None = None, vp_stage: int | None = None,
                               *, embd_group: Any = None, pp_group: Any = None,
                               pg_collection: Any = None) -> bool:
    """True when this rank holds a copy of the (tied) word embedding, with the 0.13+ meaning on
    every release (``ignore_virtual=True`` unless passed; 0.13.0 flipped the default).

    With ``ignore_virtual=False`` and virtual pipelining, the first member only counts on the
    first model chunk and the last member only on the last chunk (``vp_stage``, or the global
    virtual rank when not given), as upstream computes it. The group: ``embd_group=``, else
    ``pg_collection.embd``, else megatron's; a group without this rank answers False.
    Answered from the group itself, not upstream's ``_EMBEDDING_GLOBAL_RANKS``: no release
    (0.9.0-0.17.1) resets that list in ``destroy_model_parallel``, so after re-initialising
    with another layout upstream can answer True on a middle stage (seen on 0.9.0 and 0.12.3).
    Single process: True (one stage holds both embeddings).
    """
    iv = True if ignore_virtual is None else bool(ignore_virtual)
    if not dist_ready():
        return True
    if _explicit_or_collection("embd", embd_group, pg_collection):
        group = embd_group if embd_group is not None else pg_collection.embd
    else:
        group = global_group("embd")  # None on ranks outside every embedding group
    from mcore_compat._dist import torch_dist

    ranks = group_ranks(group) or []
    me = torch_dist().get_rank()  # type: ignore[union-attr]
    if me not in ranks:
        return False
    if iv:
        return True
    if me == ranks[0]:
        return _stage(True, False, vp_stage, pp_group, pg_collection)
    if me == ranks[-1]:
        return _stage(False, False, vp_stage, pp_group, pg_collection)
    return True


WRAPPED["is_pipeline_first_stage"] = is_pipeline_first_stage
WRAPPED["is_pipeline_last_stage"] = is_pipeline_last_stage
WRAPPED["is_rank_in_embedding_group"] = is_rank_in_embedding_group


# ----------------------------------------------------------------------------- removed names
# Answers for a decoder-only model as the last release that had each name gave them; exact on
# releases that removed the feature (0.14.0 dropped encoder pipeline parallelism, so no split
# exists there). Sources: megatron-core 0.13.1 parallel_state.py (encoder functions,
# is_unitialized), 0.16.1 (get_data_modulo_expert_parallel_group), 0.9.0 (data_modulo rank/gloo,
# tensor_and_expert).

_warned: set[str] = set()


def _warn_once(name: str, message: str) -> None:
    if name not in _warned:
        _warned.add(name)
        warnings.warn(f"parallel_state.{name}: {message}", DeprecationWarning, stacklevel=3)


_GONE_ENCODER = ("encoder pipeline parallelism was removed in megatron-core 0.14.0; the answer "
                 "is the decoder-only one")


def _pp_rank_world() -> tuple[int, int]:
    return (WRAPPED["get_pipeline_model_parallel_rank"](),
            WRAPPED["get_pipeline_model_parallel_world_size"]())


def _removed_get_pipeline_model_parallel_split_rank() -> None:
    """Removed in 0.14.0 (encoder PP gone): ``None``, as 0.13.1 answered without a split."""
    _warn_once("get_pipeline_model_parallel_split_rank", _GONE_ENCODER)
    return None


def _removed_set_pipeline_model_parallel_split_rank(rank: int | None) -> None:
    """Removed in 0.14.0: ``None`` is accepted (no split); any rank raises ``ValueError``."""
    _warn_once("set_pipeline_model_parallel_split_rank", _GONE_ENCODER)
    if rank is not None:
        raise ValueError(f"cannot set the pipeline split rank to {rank}: encoder pipeline "
                         "parallelism was removed in megatron-core 0.14.0")


def _removed_is_pipeline_stage_before_split(rank: int | None = None) -> bool:
    """Removed in 0.14.0: ``True`` (0.13.1: no split rank means every stage is before it)."""
    _warn_once("is_pipeline_stage_before_split", _GONE_ENCODER)
    return True


def _removed_is_pipeline_stage_after_split(rank: int | None = None) -> bool:
    """Removed in 0.14.0: ``True`` (0.13.1: no split rank means every stage is after it)."""
    _warn_once("is_pipeline_stage_after_split", _GONE_ENCODER)
    return True


def _removed_is_pipeline_stage_at_split() -> bool:
    """Removed in 0.14.0: ``True``: 0.13.1 computes ``before_split(r) and after_split(r+1)``,
    both True without a split (the research notes' ``False`` is not what the code did)."""
    _warn_once("is_pipeline_stage_at_split", _GONE_ENCODER)
    return True


def _removed_is_inside_encoder(rank: int | None = None) -> bool:
    """Removed in 0.14.0: as 0.13.1 without encoder stages: True with one stage or on pipeline
    stage 0 (the encoder shares the first stage), else False. (0.9.0 answered True on every
    stage; on releases that have the name it passes through unchanged.)"""
    _warn_once("is_inside_encoder", _GONE_ENCODER)
    pp_rank, pp_world = _pp_rank_world()
    if pp_world == 1:
        return True
    return (pp_rank if rank is None else rank) == 0


def _removed_is_inside_decoder(rank: int | None = None) -> bool:
    """Removed in 0.14.0: ``True`` (0.13.1: every stage is a decoder stage without encoder PP)."""
    _warn_once("is_inside_decoder", _GONE_ENCODER)
    return True


def _removed_get_pipeline_model_parallel_decoder_start() -> None:
    """Removed in 0.14.0: ``None`` (0.13.1 sets it only when encoder PP size > 0)."""
    _warn_once("get_pipeline_model_parallel_decoder_start", _GONE_ENCODER)
    return None


def _removed_is_unitialized() -> bool:
    """Removed in 0.17.0: ``not is_initialized()`` (what 0.16.1's deprecated alias did)."""
    _warn_once("is_unitialized", "removed in megatron-core 0.17.0; use "
               "`not parallel_state.is_initialized()`")
    ps = upstream_ps()
    return not (ps is not None and ps.is_initialized())


def _removed_get_data_modulo_expert_parallel_group(partial_expert_data_parallel: bool = False,
                                                   **kwargs: Any) -> Any:
    """Removed in 0.17.0: ``get_expert_data_parallel_group(...)``, as 0.10.0–0.16.1's
    deprecated alias answered."""
    _warn_once("get_data_modulo_expert_parallel_group", "removed in megatron-core 0.17.0; "
               "use get_expert_data_parallel_group")
    extra = {"partial_expert_data_parallel": partial_expert_data_parallel}
    return WRAPPED["get_expert_data_parallel_group"](**extra, **kwargs)


def _data_modulo_0_9(name: str, op: str, with_context_parallel: bool) -> Any:
    _warn_once(name, f"removed in megatron-core 0.10.0; use get_expert_data_parallel_{op}")
    if not with_context_parallel and WRAPPED["get_context_parallel_world_size"]() > 1:
        raise ValueError(
            f"{name}(with_context_parallel=False) with context parallelism > 1: 0.9.0's expert "
            "data-parallel group without CP has no equivalent from 0.10.0 on (the expert DP "
            "group spans CP); use get_expert_data_parallel_" + op)
    return WRAPPED[f"get_expert_data_parallel_{op}"]()


def _removed_get_data_modulo_expert_parallel_rank(with_context_parallel: bool = False) -> int:
    """Removed in 0.10.0: ``get_expert_data_parallel_rank()`` (exact when CP is 1 or
    ``with_context_parallel=True``; otherwise ``ValueError``)."""
    return _data_modulo_0_9("get_data_modulo_expert_parallel_rank", "rank",
                            with_context_parallel)


def _removed_get_data_modulo_expert_parallel_group_gloo(with_context_parallel: bool = False
                                                        ) -> Any:
    """Removed in 0.10.0: ``get_expert_data_parallel_group_gloo()`` (same caveat as the rank)."""
    _warn_once("get_data_modulo_expert_parallel_group_gloo", "removed in megatron-core 0.10.0; "
               "use get_expert_data_parallel_group_gloo")
    if not with_context_parallel and WRAPPED["get_context_parallel_world_size"]() > 1:
        raise ValueError("get_data_modulo_expert_parallel_group_gloo(with_context_parallel="
                         "False) with context parallelism > 1 has no equivalent from 0.10.0 on")
    return require_megatron("expert data-parallel gloo group").get_expert_data_parallel_group_gloo()


def _tp_ep(op: str) -> Callable[[], Any]:
    old = f"get_tensor_and_expert_parallel_{op}"
    new = f"get_expert_tensor_and_model_parallel_{op}"

    def fn() -> Any:
        _warn_once(old, f"removed in megatron-core 0.10.0; use {new}")
        return WRAPPED[new]()

    fn.__name__ = old
    fn.__doc__ = f"Removed in 0.10.0: ``{new}()`` (renamed, same group)."
    return fn


REMOVED: dict[str, Callable[..., Any]] = {
    "get_pipeline_model_parallel_split_rank": _removed_get_pipeline_model_parallel_split_rank,
    "set_pipeline_model_parallel_split_rank": _removed_set_pipeline_model_parallel_split_rank,
    "is_pipeline_stage_before_split": _removed_is_pipeline_stage_before_split,
    "is_pipeline_stage_after_split": _removed_is_pipeline_stage_after_split,
    "is_pipeline_stage_at_split": _removed_is_pipeline_stage_at_split,
    "is_inside_encoder": _removed_is_inside_encoder,
    "is_inside_decoder": _removed_is_inside_decoder,
    "get_pipeline_model_parallel_decoder_start": _removed_get_pipeline_model_parallel_decoder_start,
    "is_unitialized": _removed_is_unitialized,
    "get_data_modulo_expert_parallel_group": _removed_get_data_modulo_expert_parallel_group,
    "get_data_modulo_expert_parallel_rank": _removed_get_data_modulo_expert_parallel_rank,
    "get_data_modulo_expert_parallel_group_gloo":
        _removed_get_data_modulo_expert_parallel_group_gloo,
    "get_tensor_and_expert_parallel_group": _tp_ep("group"),
    "get_tensor_and_expert_parallel_rank": _tp_ep("rank"),
    "get_tensor_and_expert_parallel_world_size": _tp_ep("world_size"),
}

#: New names on old releases that are not group getters: name -> (0.9.0 name, keywords).
#: (the 0.10.0 renames, megatron-core-api-history.md §1.1)
ADDED_ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "get_expert_data_parallel_group_gloo": ("get_data_modulo_expert_parallel_group_gloo",
                                            {"with_context_parallel": True}),
}


def _added_alias(name: str, old: str, kwargs: dict[str, Any]) -> Callable[..., Any]:
    def fn(**extra: Any) -> Any:
        ps = require_megatron(name.removeprefix("get_").replace("_", " "))
        keywords_for(_NO_PARAMS, f"{QUAL}.{name}", extra)
        return call_upstream(getattr(ps, old), f"{QUAL}.{old}", kwargs)

    fn.__name__ = name
    fn.__doc__ = f"Added in 0.10.0; on older releases ``{old}({kwargs or ''})``."
    return fn


def __getattr__(name: str) -> Any:
    """Every other name: the installed release's own object (``is``-identical)."""
    ps = upstream_ps()
    if ps is not None and hasattr(ps, name):
        return getattr(ps, name)
    if name in REMOVED:
        return REMOVED[name]
    if name in ADDED_ALIASES and ps is not None:
        old, kwargs = ADDED_ALIASES[name]
        if hasattr(ps, old):
            return _added_alias(name, old, kwargs)
    if name.startswith("__"):
        raise AttributeError(name)
    if ps is None:
        raise AttributeError(f"mcore_compat.parallel_state has no {name!r} of its own and "
                             "megatron-core is not installed (pip install megatron-core)")
    from mcore_compat._dist import installed_release

    raise AttributeError(f"megatron.core.parallel_state of megatron-core {installed_release()} "
                         f"has no attribute {name!r}")


def __dir__() -> list[str]:
    ps = upstream_ps()
    names = set(globals()) | set(WRAPPED) | set(REMOVED)
    if ps is not None:
        names |= set(dir(ps))
    return sorted(names)


__all__ = sorted(WRAPPED) + ["ModelParallelNotInitializedError", "answer"]

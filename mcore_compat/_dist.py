"""Private helpers shared by the shim modules: lazy torch/megatron access, group checks (with
a cache of accepted groups), keyword filtering against the installed release's signatures, and
the state the getters' fast path reads.

Nothing here imports torch or megatron-core at module import time (``import mcore_compat``
must work without them); every helper imports them inside the function and degrades to the
single-process answer when they are missing. Once found, the modules are kept: an ``import``
statement inside a function costs ~0.3 us, more than the getters it would guard.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from types import CodeType, ModuleType
from typing import Any, Callable, Iterable, Mapping

PS_QUALNAME = "megatron.core.parallel_state"


class ModelParallelNotInitializedError(RuntimeError):
    """torch.distributed is up but megatron's model-parallel state is not.

    Raised instead of upstream's bare ``AssertionError`` (or, for the data-parallel size, a
    silent ``0``) so the message can say which group was asked for and how to fix it.
    """


_TORCH_DIST: ModuleType | None = None
_UPSTREAM_PS: ModuleType | None = None


def torch_dist() -> ModuleType | None:
    """``torch.distributed`` if torch is installed and distributed is available, else None.

    A found module is kept (neither can change within a process); a missing one is looked
    for again on the next call.
    """
    global _TORCH_DIST
    if _TORCH_DIST is not None:
        return _TORCH_DIST
    try:
        import torch.distributed as dist
    except ImportError:
        return None
    if not dist.is_available():
        return None
    _TORCH_DIST = dist
    return dist


def dist_ready() -> bool:
    """True when torch.distributed is initialised (False without torch: single process).

    Read as ``default_pg() is not None`` (the same test, see :func:`fast_world`): every
    explicit-group answer asks this two or three times, and ``is_initialized()`` costs ~0.2 us.
    """
    return default_pg() is not None


def upstream_ps() -> ModuleType | None:
    """The installed ``megatron.core.parallel_state`` module, or None when not installed."""
    global _UPSTREAM_PS
    if _UPSTREAM_PS is not None:
        return _UPSTREAM_PS
    try:
        from megatron.core import parallel_state
    except ImportError:
        return None
    _UPSTREAM_PS = parallel_state
    return parallel_state


def megatron_initialized(ps: ModuleType | None) -> bool:
    """megatron's own "model parallel is initialised" (TP, PP and DP groups exist)."""
    if ps is None:
        return False
    fn = getattr(ps, "model_parallel_is_initialized", None)
    return bool(fn()) if fn is not None else False


def require_megatron(group_desc: str) -> ModuleType:
    """The upstream parallel_state, initialised; else an error naming ``group_desc``."""
    ps = upstream_ps()
    if ps is None:
        raise ModelParallelNotInitializedError(
            f"torch.distributed is initialised but megatron-core is not installed, so the "
            f"{group_desc} cannot fall back to megatron's global state: pass it explicitly")
    if not megatron_initialized(ps):
        raise ModelParallelNotInitializedError(
            f"torch.distributed is initialised but megatron's model-parallel state is not "
            f"(parallel_state.initialize_model_parallel was not called, or was destroyed): "
            f"cannot resolve the {group_desc}. Call initialize_model_parallel first, or pass "
            f"the group explicitly (or via pg_collection=)")
    return ps


@functools.lru_cache(maxsize=1)
def installed_release() -> str:
    """Version string of the installed megatron-core, for messages ("not installed" if none)."""
    try:
        from mcore_compat.releases import mcore_version  # shim part 2; may not exist yet

        v = mcore_version()
        if v is not None:
            return str(v)
    except Exception:  # noqa: BLE001 - fall back to cheaper sources below
        pass
    try:
        from importlib.metadata import version

        return version("megatron-core")
    except Exception:  # noqa: BLE001
        pass
    try:
        import megatron.core as mc

        return str(getattr(mc, "__version__", "unknown"))
    except ImportError:
        return "not installed"


# ----------------------------------------------------------------------------- fast-path state
# The getters' no-argument fast path (parallel_state._getter) must cost about what upstream's
# getter costs (~0.2 us), so it cannot call torch.distributed.is_initialized() (~0.19 us:
# a metaclass property and a property) or megatron's model_parallel_is_initialized() (~0.06 us)
# per call. It reads the attributes those two functions read instead, on the objects below.


class _Unbound:
    """Stands in for torch's world and megatron's module until both are found (or when the
    installed versions do not read what :func:`fast_world` / :func:`fast_megatron` expect):
    every attribute the fast path reads is None, so it always takes the full path."""

    _default_pg = None
    _TENSOR_MODEL_PARALLEL_GROUP = None
    _PIPELINE_MODEL_PARALLEL_GROUP = None
    _DATA_PARALLEL_GROUP = None


UNBOUND: Any = _Unbound()

#: The module globals megatron's ``model_parallel_is_initialized()`` tests for ``None``: the same
#: three in every release 0.9.0–0.19.2 (parallel_state.py of each wheel); checked against the
#: installed release's code object by :func:`fast_megatron`.
MP_INITIALIZED_GLOBALS = ("_TENSOR_MODEL_PARALLEL_GROUP", "_PIPELINE_MODEL_PARALLEL_GROUP",
                          "_DATA_PARALLEL_GROUP")

#: Of :data:`MP_INITIALIZED_GLOBALS`, the one ``initialize_model_parallel`` assigns last: every
#: release 0.5.0-0.19.2 builds the data-parallel, then the tensor-parallel, then the
#: pipeline-parallel groups, and only it and ``destroy_model_parallel`` assign the three
#: (each wheel's parallel_state.py; tests/test_shim_fastpath.py reads them all). So, as long as
#: megatron's own functions are what set them, "this one is set" is "all three are set", and the
#: fast path tests one attribute instead of three. :func:`fast_megatron` checks the installed
#: release's bytecode for exactly that before the fast path is used.
MP_ASSIGNED_LAST = "_PIPELINE_MODEL_PARALLEL_GROUP"


def fast_world() -> Any:
    """torch's ``distributed_c10d._world`` when ``_world._default_pg is not None`` is exactly
    ``torch.distributed.is_initialized()`` (torch 2.x: ``GroupMember.WORLD`` is a property
    returning ``_world.default_pg``, itself a property returning ``_default_pg``), else
    :data:`UNBOUND`."""
    dist = torch_dist()
    if dist is None:
        return UNBOUND
    try:
        from torch.distributed import distributed_c10d as c10d

        world = c10d._world
        prop = vars(type(world)).get("default_pg")
        # (not vars(world): materialising an instance __dict__ makes every later attribute
        # read of it slower, ~+25 ns on CPython 3.11)
        consistent = (isinstance(prop, property) and hasattr(world, "_default_pg")
                      and prop.fget.__code__.co_names == ("_default_pg",)
                      and (world._default_pg is not None) == dist.is_initialized()
                      and world._default_pg is dist.GroupMember.WORLD)
    except Exception:  # noqa: BLE001 - another torch layout: no fast path, same answers
        return UNBOUND
    return world if consistent else UNBOUND


def fast_megatron(ps: ModuleType | None) -> Any:
    """megatron's parallel_state module when its ``model_parallel_is_initialized`` tests
    exactly :data:`MP_INITIALIZED_GLOBALS` (so reading them is the same test), else
    :data:`UNBOUND`."""
    fn = getattr(ps, "model_parallel_is_initialized", None) if ps is not None else None
    code = getattr(fn, "__code__", None)
    if code is None or set(code.co_names) != set(MP_INITIALIZED_GLOBALS):
        return UNBOUND
    if not all(hasattr(ps, n) for n in MP_INITIALIZED_GLOBALS):
        return UNBOUND
    if not assigned_last(ps):
        return UNBOUND
    return ps


def _global_stores(code: CodeType, names: frozenset[str]) -> list[str]:
    """The ``names`` a code object assigns as globals, in bytecode order (nested code last)."""
    import dis

    out = [ins.argval for ins in dis.get_instructions(code)
           if ins.opname == "STORE_GLOBAL" and ins.argval in names]
    for const in code.co_consts:
        if isinstance(const, CodeType):
            out += _global_stores(const, names)
    return out


def assigned_last(ps: ModuleType) -> bool:
    """True when, in the installed parallel_state, only ``initialize_model_parallel`` and
    ``destroy_model_parallel`` assign :data:`MP_INITIALIZED_GLOBALS`, and the first assignment
    of :data:`MP_ASSIGNED_LAST` in ``initialize_model_parallel`` comes after every assignment of
    the other two (read from the bytecode once per process, a few ms)."""
    init = getattr(getattr(ps, "initialize_model_parallel", None), "__code__", None)
    destroy = getattr(getattr(ps, "destroy_model_parallel", None), "__code__", None)
    if init is None or destroy is None:
        return False
    others = [value.__code__ for value in vars(ps).values()
              if isinstance(getattr(value, "__code__", None), CodeType)
              and getattr(value, "__module__", None) == ps.__name__]
    return assignment_order_holds(init, [c for c in others if c is not init and c is not destroy])


def assignment_order_holds(init: CodeType, others: Iterable[CodeType]) -> bool:
    """:func:`assigned_last` on code objects (so a test can check releases it cannot import)."""
    names = frozenset(MP_INITIALIZED_GLOBALS)
    if any(names & set(code.co_names) and _global_stores(code, names) for code in others):
        return False  # another function sets them: the order below says nothing
    stores = _global_stores(init, names)
    if set(stores) != names:
        return False
    first = stores.index(MP_ASSIGNED_LAST)
    return all(n == MP_ASSIGNED_LAST for n in stores[first:])


_WORLD: Any = None  # fast_world() once torch is found (UNBOUND if it does not fit)


def default_pg() -> Any:
    """torch's default process group object (None when not initialised or without torch)."""
    global _WORLD
    world = _WORLD
    if world is None:
        if torch_dist() is None:
            return None
        world = _WORLD = fast_world()
    if world is not UNBOUND:
        return world._default_pg
    dist = torch_dist()
    return None if dist is None else dist.GroupMember.WORLD


def fast_state() -> tuple[Any, Any]:
    """``(torch's world, megatron's parallel_state)`` for the getters' fast path, each
    :data:`UNBOUND` when not installed or not as expected (then the fast path is never taken)."""
    if torch_dist() is None:
        return UNBOUND, UNBOUND
    default_pg()  # binds _WORLD
    mps = fast_megatron(upstream_ps())
    return (_WORLD, mps) if _WORLD is not UNBOUND and mps is not UNBOUND else (UNBOUND, UNBOUND)


# ----------------------------------------------------------------------------- groups


def group_ranks(group: Any) -> list[int] | None:
    """Global ranks of ``group`` or None when this rank cannot know them."""
    dist = torch_dist()
    if dist is None or group is None or group is dist.GroupMember.NON_GROUP_MEMBER:
        return None
    if not isinstance(group, dist.ProcessGroup):
        return None
    try:
        return list(dist.get_process_group_ranks(group))
    except Exception:  # noqa: BLE001 - unknown to this rank's registry
        return None


#: Groups :func:`check_member` accepted: ``id(group) -> (weakref to the group, weakref to the
#: default process group it was checked under)``. A process group's members never change and
#: the calling rank only changes with a new default group, so an accepted group stays accepted
#: while both are the same objects (the full check costs ~2 us: ``get_rank`` and
#: ``get_process_group_ranks``; a hit ~0.2 us). Weak references, compared by identity: a group
#: destroyed and re-created at the same address, or a re-initialised torch.distributed, is
#: checked again, and the cache never keeps a group alive.
_ACCEPTED: dict[int, tuple[Any, Any]] = {}


def _forget(key: int, ref: Any) -> None:
    entry = _ACCEPTED.get(key)
    if entry is not None and entry[0] is ref:
        del _ACCEPTED[key]


def known_member(group: Any) -> bool:
    """True when :func:`check_member` accepted this very group under the current default
    process group (so checking it again would accept it again)."""
    entry = _ACCEPTED.get(id(group))
    if entry is None:
        return False
    pg = default_pg()
    return pg is not None and entry[1]() is pg and entry[0]() is group


def _remember(group: Any) -> None:
    pg = default_pg()
    if pg is None:
        return
    key = id(group)
    try:
        entry = (weakref.ref(group, functools.partial(_forget, key)), weakref.ref(pg))
    except TypeError:  # a ProcessGroup subclass without weak references: not cached
        return
    _ACCEPTED[key] = entry


def check_member(group: Any, what: str) -> Any:
    """Return ``group`` if the calling rank belongs to it, else raise ``ValueError``.

    On a rank outside a group, ``torch.distributed.new_group`` returns the placeholder
    ``GroupMember.NON_GROUP_MEMBER`` (no rank list), so the message can name the ranks only
    when the group object is a real ``ProcessGroup``. Accepted groups are remembered (see
    :data:`_ACCEPTED`); refusals are never cached.
    """
    dist = torch_dist()
    if dist is None or group is None:
        return group
    if known_member(group):
        return group
    me = dist.get_rank()
    if group is dist.GroupMember.NON_GROUP_MEMBER:
        raise ValueError(
            f"{what} does not contain the calling rank {me}: it is "
            f"torch.distributed.GroupMember.NON_GROUP_MEMBER, the placeholder new_group returns "
            f"on ranks outside the group (the group's ranks are not known on rank {me})")
    if not isinstance(group, dist.ProcessGroup):
        raise TypeError(f"{what} must be a torch.distributed.ProcessGroup, got "
                        f"{type(group).__name__}: {group!r}")
    ranks = group_ranks(group)
    if ranks is not None and me not in ranks:
        raise ValueError(f"{what} does not contain the calling rank {me}: its ranks are {ranks}")
    if ranks is None and group.rank() < 0:
        raise ValueError(f"{what} does not contain the calling rank {me} (its ranks are "
                         f"not known on this rank)")
    _remember(group)
    return group


# ----------------------------------------------------------------------------- keywords


@functools.lru_cache(maxsize=None)
def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def signature_of(fn: Callable[..., Any]) -> inspect.Signature | None:
    """Cached ``inspect.signature`` (None for callables without one)."""
    return _signature(fn)


def accepts(sig: inspect.Signature | None, keyword: str) -> bool:
    """Whether a call with ``keyword=`` binds on ``sig`` (by name or via ``**kwargs``)."""
    if sig is None:
        return True
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            return True
        if p.name == keyword and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            return True
    return False


#: Default of every keyword a wrapped getter may forward, as the releases that have it use it
#: (megatron-core parallel_state, 0.5.0–0.19.0; see megatron-core-api-history.md §2.1).
KEYWORD_DEFAULTS: dict[str, Any] = {
    "with_context_parallel": False,   # 0.5.0+
    "partial_data_parallel": False,   # 0.10.0+
    "independent_all_gather": False,  # 0.16.0–0.17.x
    "with_gtp_remat": True,           # 0.19.0 (inserted as 2nd positional)
    "partial_expert_data_parallel": False,  # 0.13.0+
    "check_initialized": True,        # per getter, 0.5.0/0.10.0/0.13.0+
    "tp_only_amax_red": False,        # 0.9.0+
    "vp_stage": None,                 # 0.13.0+ stage predicates
}

_MISSING = object()


def keywords_for(sig: inspect.Signature | None, qualname: str, kwargs: Mapping[str, Any],
                 defaults: Mapping[str, Any] = KEYWORD_DEFAULTS,
                 release: str | None = None) -> dict[str, Any]:
    """The keywords to call ``qualname`` (signature ``sig``) with, from what the user passed.

    A keyword the installed release accepts is kept; one it lacks is dropped when its value is
    the default the releases that have it use (asking for the default behaviour), and raises
    ``TypeError`` naming the keyword, the installed release and the releases that accept it
    otherwise. The result is always passed by keyword: positional meaning shifts between
    releases (0.19 inserts ``with_gtp_remat`` as the 2nd parameter of the DP getters).
    """
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if accepts(sig, key):
            out[key] = value
            continue
        default = defaults.get(key, _MISSING)
        if default is not _MISSING and value == default:
            continue
        raise TypeError(unsupported_keyword_message(qualname, key, value, release))
    return out


def unsupported_keyword_message(qualname: str, keyword: str, value: Any,
                                release: str | None = None) -> str:
    """Message for a keyword the installed release lacks (names both keyword and releases)."""
    release = release or installed_release()
    span = None
    try:
        from mcore_compat.facts import releases_accepting

        span = releases_accepting(qualname, keyword)
    except Exception:  # noqa: BLE001 - facts are optional here; the message still helps
        span = None
    where = (f"releases accepting it: {span}" if span
             else "no known release data says which releases accept it")
    where_installed = ("megatron-core is not installed" if release == "not installed"
                       else f"the installed megatron-core is {release}")
    return (f"{qualname}() has no keyword {keyword!r} ({where_installed}) "
            f"and {keyword}={value!r} is not its default behaviour, so it cannot be dropped; "
            f"{where}")


def call_upstream(fn: Callable[..., Any], qualname: str, kwargs: Mapping[str, Any]) -> Any:
    """Call ``fn`` with ``kwargs`` filtered by :func:`keywords_for`, by keyword only."""
    return fn(**keywords_for(signature_of(fn), qualname, kwargs))


def first_present(names: Iterable[str], module: ModuleType) -> Callable[..., Any] | None:
    """The first attribute of ``module`` among ``names`` (a name as of several releases)."""
    for n in names:
        fn = getattr(module, n, None)
        if fn is not None:
            return fn
    return None

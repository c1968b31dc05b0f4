"""Private helpers shared by the shim modules: lazy torch/megatron access, group checks,
keyword filtering against the installed release's signatures.

Nothing here imports torch or megatron-core at module import time (``import mcore_compat``
must work without them); every helper imports them inside the function and degrades to the
single-process answer when they are missing.
"""

from __future__ import annotations

import functools
import inspect
from types import ModuleType
from typing import Any, Callable, Iterable, Mapping

PS_QUALNAME = "megatron.core.parallel_state"


class ModelParallelNotInitializedError(RuntimeError):
    """torch.distributed is up but megatron's model-parallel state is not.

    Raised instead of upstream's bare ``AssertionError`` (or, for the data-parallel size, a
    silent ``0``) so the message can say which group was asked for and how to fix it.
    """


def torch_dist() -> ModuleType | None:
    """``torch.distributed`` if torch is installed and distributed is available, else None."""
    try:
        import torch.distributed as dist
    except ImportError:
        return None
    return dist if dist.is_available() else None


def dist_ready() -> bool:
    """True when torch.distributed is initialised (False without torch: single process)."""
    dist = torch_dist()
    return bool(dist is not None and dist.is_initialized())


def upstream_ps() -> ModuleType | None:
    """The installed ``megatron.core.parallel_state`` module, or None when not installed."""
    try:
        from megatron.core import parallel_state
    except ImportError:
        return None
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


def check_member(group: Any, what: str) -> Any:
    """Return ``group`` if the calling rank belongs to it, else raise ``ValueError``.

    On a rank outside a group, ``torch.distributed.new_group`` returns the placeholder
    ``GroupMember.NON_GROUP_MEMBER`` (no rank list), so the message can name the ranks only
    when the group object is a real ``ProcessGroup``.
    """
    dist = torch_dist()
    if dist is None or group is None:
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

"""Calls, configs and imports that survive megatron-core upgrades.

Every Megatron-based trainer re-invents the same three compat helpers (``inspect.signature``
probes before a call, dataclass-field filters before ``TransformerConfig(**kw)``, and
``try: import ... except ImportError`` ladders for moved modules) - each with its own bugs:
renamed keywords silently dropped, non-default values silently lost, a real ImportError inside
a moved module mistaken for "not there" (which silently disabled Transformer Engine in one
project). This module is the one tested version of each:

* :func:`call` - pass keywords under the spelling the installed callable takes
  (``pg_collection=`` <-> ``model_comm_pgs=``), drop a keyword the installed release lacks
  only when its value is the default the releases that had it used (logged once), otherwise
  raise ``TypeError`` naming the keyword, the installed release and the releases that accept it.
* :func:`make_config` - the same for dataclass configs, plus renamed fields and fields moved to
  another config class; one :class:`CompatWarning` lists the fields dropped.
* :func:`config_to_dict` - a config's constructor fields without process groups, callables and
  ``init=False`` fields (what logging and checkpoints can hold).
* :func:`import_symbol` - the object under a name as of *any* release, following the moves
  table; an ``ImportError`` that says where it lives in which releases when it is nowhere.

What changed between releases comes from :mod:`mcore_compat.facts` (reviewed renames/moves)
and the generated API index (which release accepts what, with which default); what the
installed release can do is probed on the installed objects (:mod:`mcore_compat.releases`),
never inferred from its version number. Nothing here imports torch or megatron at import time.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import logging
import types
import warnings
from typing import Any, Callable, Iterable, TypeVar

from mcore_compat import facts, releases

__all__ = ["CompatWarning", "call", "make_config", "config_to_dict", "import_symbol"]

logger = logging.getLogger("mcore_compat")

T = TypeVar("T")


class CompatWarning(UserWarning):
    """mcore_compat dropped or renamed something so the code runs on the installed release."""


_LOGGED: set[tuple] = set()


def _log_once(key: tuple, level: int, message: str) -> None:
    if key not in _LOGGED:
        _LOGGED.add(key)
        logger.log(level, message)


# -- naming the callable the way the facts and the index do -------------------------------------

def _unwrap(fn: Any) -> Any:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__func__", fn)  # bound method -> function


def _qualname(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    return f"{module}.{name}" if module else name


def _fact_names(fn: Any) -> list[str]:
    """Qualnames to look ``fn`` up under: for a class, every megatron class in its MRO (a
    user subclass of ``TransformerLayer`` inherits its facts); else the function and what it
    wraps."""
    target = _unwrap(fn)
    names: list[str] = []
    if isinstance(target, type):
        names = [_qualname(c) for c in target.__mro__ if (c.__module__ or "").startswith("megatron.")]
        own = _qualname(target)
        if own not in names:
            names.insert(0, own)
        return names
    while target is not None:
        names.append(_qualname(target))
        target = getattr(target, "__wrapped__", None)
    return names


def _display(fn: Any) -> str:
    return _fact_names(fn)[0]


# -- defaults ------------------------------------------------------------------------------------

def _is_default(value: Any, default: Any) -> bool:
    """``value`` is exactly the literal ``default`` (``None``/bools by identity, so ``0`` is not
    ``False``; numbers by value; other literals by type and value)."""
    if default is None or isinstance(default, bool) or isinstance(value, bool):
        return value is default
    if isinstance(default, (int, float)) and isinstance(value, (int, float)):
        return value == default
    try:
        return type(value) is type(default) and bool(value == default)
    except Exception:  # noqa: BLE001 - exotic __eq__ (tensors): not provably the default
        return False


def _known_default(names: Iterable[str], keyword: str) -> facts.Default:
    for name in names:
        default = facts.keyword_default(name, keyword)
        if default.known:
            return default
    return facts.Default(False)


def _span(names: Iterable[str], keyword: str) -> tuple[str | None, bool]:
    """(text of the releases accepting ``keyword``, whether the callable is known at all)."""
    known = False
    for name in names:
        got = facts.keyword_releases(name, keyword)
        if got is None:
            continue
        known = True
        if got:
            return facts.format_span(got), True
    return None, known


# -- call ----------------------------------------------------------------------------------------

def call(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call ``fn(*args, **kwargs)`` the way the installed megatron-core release takes it.

    * A keyword the installed ``fn`` takes is passed unchanged.
    * A known renamed keyword (``pg_collection`` <-> ``model_comm_pgs``/``grad_comm_pgs``/
      ``grad_finalize_pgs``, ...) is passed under the installed spelling(s); one new keyword
      that replaced several old ones is passed to each of them.
    * A keyword ``fn`` lacks is dropped only when its value is the default that every release
      accepting it used (``vp_stage=None`` on 0.12), logged once; otherwise ``TypeError``
      naming the keyword, the installed release and the releases that accept it. A
      process-group collection (``pg_collection=``) holding exactly megatron's global groups
      counts as that default: a callable without the parameter uses those groups.
    * A collection that converts itself (mcore_compat's ``ProcessGroupCollection`` on
      0.12-0.14: ``.model_comm_pgs()``, ``.grad_comm_pgs()``) is passed converted to each old
      keyword.
    * Positional arguments pass through unchanged: which parameter a positional meant depends
      on the release the caller wrote for (the linter's MC203 catches those statically).
    """
    try:
        params = releases.parameters(fn)
    except (TypeError, ValueError):  # no signature (builtins, C extensions): nothing to adapt
        return fn(*args, **kwargs)
    if all(releases.accepts_keyword(fn, k) for k in kwargs):
        return fn(*args, **kwargs)
    names = _fact_names(fn)
    out: dict[str, Any] = {}
    given: dict[str, str] = {}  # installed keyword -> the keyword the caller wrote

    def put(installed: str, written: str, value: Any) -> None:
        if installed in out:
            raise TypeError(
                f"{_display(fn)}() got {given[installed]!r} and {written!r}, which are the same "
                f"parameter {installed!r} in megatron-core {releases.installed_release()}; pass one"
            )
        out[installed] = value
        given[installed] = written

    for keyword, value in kwargs.items():
        if releases.accepts_keyword(fn, keyword):
            put(keyword, keyword, value)
            continue
        spellings: list[str] = []
        for name in names:
            spellings += [s for s in facts.keyword_spellings(name, keyword) if s not in spellings]
        installed = [s for s in spellings if releases.accepts_keyword(fn, s)]
        if installed:
            for spelling in installed:
                put(spelling, keyword, _as_container(value, spelling))
            _log_once(("rename", names[0], keyword), logging.INFO,
                      f"mcore_compat.call: passing {keyword}= as {'/'.join(installed)}= to "
                      f"{names[0]} (megatron-core {releases.installed_release()})")
            continue
        if releases.accepts_any_keyword(fn) or any(p == keyword for p in params):
            put(keyword, keyword, value)  # **kwargs, or positional-only: let Python decide
            continue
        default = _known_default(names, keyword)
        for spelling in spellings:
            if not default.known:
                default = _known_default(names, spelling)
        if default.known and _is_default(value, default.value):
            _log_once(("drop", names[0], keyword), logging.WARNING,
                      f"mcore_compat.call: {names[0]} in megatron-core "
                      f"{releases.installed_release()} has no parameter {keyword!r}; dropped it "
                      f"(its value is the default {default.text} of the releases that take it)")
            continue
        if keyword in _GROUP_KEYWORDS and default.known and default.value is None \
                and _is_global_groups(value):
            _log_once(("drop-mpu", names[0], keyword), logging.INFO,
                      f"mcore_compat.call: {names[0]} in megatron-core "
                      f"{releases.installed_release()} has no parameter {keyword!r} and uses "
                      f"the global parallel_state groups, which {keyword}= holds; dropped it")
            continue
        raise TypeError(_lacking(names, keyword, value, default, what="parameter"))
    return fn(*args, **out)


#: Keywords holding a process-group collection. Callables that lack them (before 0.13/0.14)
#: use megatron's global parallel_state groups - what they do with ``None`` from 0.13 on too
#: (``model_comm_pgs = ModelCommProcessGroups.use_mpu_process_groups()`` when None,
#: transformer_layer.py 0.14.0) - so a collection of exactly those groups is dropped as the
#: default. research/megatron-core-api-history.md s5-s6.
_GROUP_KEYWORDS = frozenset({"pg_collection", "model_comm_pgs", "grad_comm_pgs", "grad_finalize_pgs"})


def _as_container(value: Any, keyword: str) -> Any:
    """A collection that converts itself for an old keyword (``value.model_comm_pgs()`` of
    mcore_compat's ProcessGroupCollection on 0.12-0.14) is passed converted."""
    convert = getattr(value, keyword, None) if keyword in _GROUP_KEYWORDS else None
    if callable(convert) and not dataclasses.is_dataclass(value):
        return convert()
    return value


def _is_global_groups(value: Any) -> bool:
    """Every group set on collection ``value`` is megatron's global group for that field."""
    if value is None or not hasattr(value, "__dict__"):
        return False
    try:
        from mcore_compat.groups import pg_collection_from_mpu

        mpu = pg_collection_from_mpu()
    except Exception:  # noqa: BLE001 - no megatron / not initialised: not provably global
        return False
    fields = {k: v for k, v in vars(value).items() if not k.startswith("_")}
    if not fields:
        return False
    return all(hasattr(mpu, k) and getattr(mpu, k) is v for k, v in fields.items())


def _lacking(names: list[str], keyword: str, value: Any, default: facts.Default, what: str) -> str:
    span, known = _span(names, keyword)
    message = (f"{names[0]} in megatron-core {releases.installed_release()} has no {what} "
               f"{keyword!r}")
    if span:
        message += f"; releases that accept it: {span}"
    elif known:
        message += "; no megatron-core release in the API index accepts it"
    else:
        message += "; the API index does not know which releases accept it"
    if default.known:
        message += (f". It is dropped only when its value is that default ({default.text}); "
                    f"got {value!r}")
    elif span:
        message += f" (got {value!r}; its default differs between releases: {default.text or '?'})"
    return message


# -- configs -------------------------------------------------------------------------------------

def make_config(cls: type[T], /, *, strict: bool = True, **fields: Any) -> T:
    """Build dataclass config ``cls`` (``TransformerConfig``, ``MLATransformerConfig``,
    ``ModelParallelConfig``, ``OptimizerConfig``, ``DistributedDataParallelConfig`` or any
    dataclass) from ``fields`` written for any megatron-core release.

    Renamed fields are passed under the installed name. Fields the installed class lacks are
    dropped - with one :class:`CompatWarning` listing them - when their value is the default
    of the releases that had them; otherwise ``TypeError`` names them (also a field no release
    has). ``strict=False`` drops those too and lists them in the warning.
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"make_config needs a dataclass type, got {cls!r}")
    available = releases.config_fields(cls)
    names = _fact_names(cls)
    release = releases.installed_release()
    kwargs: dict[str, Any] = {}
    written: dict[str, str] = {}
    dropped: list[str] = []
    errors: list[str] = []
    renamed: list[str] = []
    for name, value in fields.items():
        target = name if name in available else None
        if target is None:
            for q in names:
                row = facts.config_field_rename(q, name)
                if row is not None and row.other(name) in available:
                    target = row.other(name)
                    renamed.append(f"{name} -> {target}")
                    break
        if target is not None:
            if target in kwargs:
                errors.append(f"{written[target]!r} and {name!r} are the same field {target!r}; pass one")
            kwargs[target] = value
            written[target] = name
            continue
        default = _known_default(names, name)
        move = next((m for q in names if (m := facts.config_field_move(q, name)) is not None), None)
        where = _field_where(names, name, move)
        if default.known and _is_default(value, default.value):
            dropped.append(f"{name} ({where})")
        elif not strict:
            dropped.append(f"{name}={value!r} (not the default; {where})")
        else:
            problem = f"{name}={value!r}: {where}"
            if default.known:
                problem += f"; dropped only when equal to its default {default.text}"
            errors.append(problem)
    if errors:
        raise TypeError(f"make_config({cls.__name__}) for megatron-core {release}: "
                        + "; ".join(errors))
    if renamed:
        _log_once(("fields", names[0], tuple(renamed)), logging.INFO,
                  f"mcore_compat.make_config({cls.__name__}): renamed for megatron-core "
                  f"{release}: {', '.join(renamed)}")
    if dropped:
        warnings.warn(
            f"make_config({cls.__name__}): megatron-core {release} has no field(s) "
            f"{'; '.join(dropped)}; dropped them",
            CompatWarning,
            stacklevel=2,
        )
    return cls(**kwargs)


def _field_where(names: list[str], name: str, move: facts.FieldMove | None) -> str:
    span, known = _span(names, name)
    if move is not None:
        text = (f"moved to {move.to_class.rsplit('.', 1)[1]} in {move.new_first}; pass it there"
                f" ({move.source})")
        return text if not span else f"{text}; {names[0].rsplit('.', 1)[1]} has it in {span}"
    if span:
        return f"{names[0].rsplit('.', 1)[1]} has it in {span}"
    if known:
        return "no megatron-core release in the API index has this field"
    return "not a field of this class (the API index does not know it)"


def _is_group(value: Any) -> bool:
    """A torch.distributed process group, a megatron group collection, or a list of groups."""
    t = type(value)
    module = getattr(t, "__module__", "") or ""
    if "ProcessGroup" in t.__name__ and ("torch" in module or "megatron" in module or "c10d" in module):
        return True
    if module.startswith(("megatron.core.process_groups_config", "megatron.core.hyper_comm_grid")):
        return True
    if module.startswith("mcore_compat.") and t.__name__ in {"ParallelGroups", "ProcessGroupCollection"}:
        return True
    if isinstance(value, (list, tuple)) and value and all(_is_group(v) for v in value):
        return True
    return False


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The constructor fields of dataclass instance ``cfg`` as a dict, leaving out process
    groups (and collections of them), callables (``init_method``, ``activation_func``, ...),
    ``init=False`` fields and private ``_fields`` (runtime state such as
    ``_cpu_offloading_context``), so the result can be logged, saved with a checkpoint, and
    given back to :func:`make_config` on another release."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"config_to_dict needs a dataclass instance, got {type(cfg).__name__}")
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        if not f.init or f.name.startswith("_"):  # _cpu_offloading_context, _pg_collection: state
            continue
        value = getattr(cfg, f.name, None)
        if callable(value) or _is_group(value):
            continue
        out[f.name] = value
    return out


# -- imports -------------------------------------------------------------------------------------

class _Absent(Exception):
    """The dotted name is not there (as opposed to: there, but failing to import)."""


def _resolve(dotted: str) -> Any:
    """The object called ``dotted``, walked top-down as ``from a.b import c`` does: an
    attribute of the module so far, else its submodule. Raises :class:`_Absent` when the name
    is not in the installed code; every other import failure (a missing dependency inside a
    module that is there, a broken import) propagates, naming that module."""
    parts = dotted.split(".")
    obj: Any = None
    path = ""
    for part in parts:
        path = f"{path}.{part}" if path else part
        if obj is not None and hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        if obj is not None and not isinstance(obj, types.ModuleType):
            raise _Absent(dotted)
        try:
            obj = importlib.import_module(path)
        except ModuleNotFoundError as exc:
            if exc.name == path:
                raise _Absent(dotted) from None
            where = (f" (megatron-core {releases.installed_release()})"
                     if path.startswith("megatron.") else "")
            raise ModuleNotFoundError(
                f"{dotted}: module {path} is there{where} but cannot be imported here: {exc}",
                name=exc.name,
            ) from exc
    return obj


def import_symbol(dotted: str) -> Any:
    """The object named ``dotted`` (``"megatron.core.process_groups_config.ProcessGroupCollection"``,
    a module, or a name in one) as of any megatron-core release, found where the installed
    release keeps it by following the moves table (forward and back). A real import failure
    inside a module that is there (e.g. Transformer Engine missing) is raised, never taken
    for "moved". ``ImportError`` when it is nowhere, saying where it lives in which releases.
    """
    if not isinstance(dotted, str) or not dotted or dotted.startswith(".") or dotted.endswith("."):
        raise ValueError(f"import_symbol needs an absolute dotted name, got {dotted!r}")
    candidates = facts.symbol_candidates(dotted)
    for candidate in candidates:
        try:
            obj = _resolve(candidate)
        except _Absent:
            continue
        if candidate != dotted:
            _log_once(("import", dotted), logging.INFO,
                      f"mcore_compat.import_symbol: {dotted} is {candidate} in megatron-core "
                      f"{releases.installed_release()}")
        return obj
    raise ImportError(_nowhere(dotted, candidates), name=dotted)


def _nowhere(dotted: str, candidates: list[str]) -> str:
    lines = []
    for candidate in candidates:
        got = facts.symbol_releases(candidate)
        if got:
            lines.append(f"{candidate} in {facts.format_span(got)}")
        elif got is None:
            spans = [f"{row.old_first}–{row.old_last}" for row in facts.load().symbols if row.old == candidate]
            spans += [f"{row.new_first} and later" for row in facts.load().symbols if row.new == candidate]
            if spans:
                lines.append(f"{candidate} in {', '.join(spans)}")
    where = "; ".join(lines) if lines else "no megatron-core release on record has it"
    tried = ", ".join(candidates)
    return (f"cannot import {dotted}: not in megatron-core {releases.installed_release()} "
            f"(tried {tried}). It lives at: {where}")


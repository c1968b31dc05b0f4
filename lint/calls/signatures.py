"""What a call site's callee accepts in one megatron-core release, from the API index.

Why: the index stores each release's functions (``p``: parameters with kinds and defaults),
methods (``self``/``cls`` kept, decorators in ``d``) and classes (``i``: the constructor's
parameters, dataclass fields with inherited ones included). This module turns a
:class:`~.sites.CallSite` into the parameter list the call binds against in a release, or says
it cannot be known statically. It refuses (``UNKNOWN``) rather than guess when:

* the name leaves megatron.core (an external base class, ``i_from``), is dynamic (module
  ``__getattr__``, compiled module), or is not callable (a property, an attribute);
* the callable takes ``**kwargs`` (anything may be accepted and forwarded);
* a decorator not known to keep the signature wraps it (``copy_signature``, ``triton.jit``,
  anything not in :data:`SIGNATURE_KEEPING`), or the class defines ``__new__``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcore_compat.api_index import ApiIndex

#: Decorators that return a callable with the same parameters (megatron-core 0.5.0-0.19.2:
#: ``internal_api``/``experimental_api`` set an attribute and return the function,
#: ``nvtx_decorator``/``deprecated``/``deprecate_args``/``trace_async_exceptions`` use
#: ``functools.wraps`` over the same call, ``jit_fuser`` is ``torch.jit.script`` or
#: ``torch.compile`` (megatron/core/jit.py); read in the 0.19.2 wheel, megatron/core/utils.py).
SIGNATURE_KEEPING = frozenset({
    "staticmethod", "classmethod", "abstractmethod", "abc.abstractmethod", "override", "typing.override",
    "typing_extensions.override", "torch.no_grad", "torch.inference_mode", "torch.enable_grad",
    "contextmanager", "contextlib.contextmanager", "lru_cache", "functools.lru_cache", "cache",
    "functools.cache", "internal_api", "experimental_api", "jit_fuser", "torch.jit.script", "torch.compile",
    "nvtx_decorator", "deprecated", "deprecate_args", "trace_async_exceptions", "torch.jit.ignore",
    "torch.jit.unused", "torch._dynamo.disable", "torch.compiler.disable",
})
#: Class decorators that keep the constructor the index records.
CLASS_KEEPING = frozenset({"dataclass", "dataclasses.dataclass", "internal_api", "experimental_api"})


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "po" | "pk" | "va" | "ko" (the index's kinds; "vk" never reaches here)
    default: str | None  # source text; None = required

    @property
    def required(self) -> bool:
        return self.default is None and self.kind in {"po", "pk", "ko"}

    @property
    def by_keyword(self) -> bool:
        return self.kind in {"pk", "ko"}

    @property
    def positional(self) -> bool:
        return self.kind in {"po", "pk"}


@dataclass(frozen=True)
class Signature:
    """The parameters a call binds against in one release (``self``/``cls`` already bound)."""

    release: str
    definition: str  # canonical qualname of the definition in that release
    params: tuple[Param, ...]

    @property
    def has_varargs(self) -> bool:
        return any(p.kind == "va" for p in self.params)

    def keyword_names(self) -> list[str]:
        return [p.name for p in self.params if p.by_keyword]

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    def positional(self) -> list[Param]:
        return [p for p in self.params if p.positional]


class _Status:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: The callee does not exist in that release (a name problem: MC102/MC103's business).
MISSING = _Status("MISSING")
#: Not statically knowable (see the module docstring).
UNKNOWN = _Status("UNKNOWN")


def signature_in(idx: "ApiIndex", release: str, qualname: str, style: str):
    """:class:`Signature`, :data:`MISSING` or :data:`UNKNOWN` for a callee in ``release``."""
    return _cached(idx, release, qualname, style)


@lru_cache(maxsize=65536)
def _cached(idx: "ApiIndex", release: str, qualname: str, style: str):
    res = idx.resolve(release, qualname)
    if res.missing:
        return MISSING
    if not res.found or not res.record:
        return UNKNOWN
    rec = res.record
    kind = rec.get("k")
    if kind == "class":
        if style == "bound":
            return UNKNOWN
        if any(d not in CLASS_KEEPING for d in rec.get("d", [])):
            return UNKNOWN
        if idx.resolve(release, res.qualname + ".__new__").found:
            return UNKNOWN  # a custom __new__ decides what the call accepts
        init = idx.resolve(release, res.qualname + ".__init__")
        if init.found and init.record and any(d not in SIGNATURE_KEEPING for d in init.record.get("d", [])):
            return UNKNOWN  # a decorated __init__ may take other arguments
        raw = rec.get("i")
        if raw is None:
            return UNKNOWN
        params = list(raw)
    elif kind in {"function", "method"}:
        if style == "init":
            return UNKNOWN
        decos = rec.get("d", [])
        if "property" in decos or any(d not in SIGNATURE_KEEPING for d in decos):
            return UNKNOWN
        params = list(rec.get("p") or [])
        if kind == "method":
            if style == "bound" and idx.resolve(release, qualname.rsplit(".", 1)[0] + ".__new__").found:
                return UNKNOWN  # the instance may not be of this class
            static = "staticmethod" in decos
            classm = "classmethod" in decos
            if style == "bound" and not static or style in {"call", "partial"} and classm:
                if not params or params[0][1] not in {"po", "pk"}:
                    return UNKNOWN
                params = params[1:]
        elif style == "bound":
            return UNKNOWN
    else:
        return UNKNOWN
    if any(p[1] == "vk" for p in params):
        return UNKNOWN
    return Signature(release, res.qualname, _interned(params))


#: Parameter tuples by value: releases whose callee did not change share one tuple, so a binding
#: computed for one release is reused for the others (:mod:`.binding`).
_PARAMS: dict[tuple, tuple[Param, ...]] = {}


def _interned(raw: list) -> tuple[Param, ...]:
    try:
        key = tuple((p[0], p[1], p[2]) for p in raw)
        got = _PARAMS.get(key)
    except TypeError:  # an unhashable default in hand-made index data: no sharing
        return tuple(Param(p[0], p[1], p[2]) for p in raw)
    if got is None:
        if len(_PARAMS) > 65536:
            _PARAMS.clear()
        got = _PARAMS[key] = tuple(Param(*k) for k in key)
    return got

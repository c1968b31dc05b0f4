"""Bind a call's arguments to a release's parameters, as Python would at the call.

Why not ``inspect.Signature.bind``: the rules need every problem at once (each unknown
keyword, each missing parameter) and which parameter each positional argument lands on, not
the first TypeError. Calls with ``*args`` / ``**kwargs`` are never bound (the arguments are
unknown); :func:`bind` returns None for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .signatures import Param, Signature
from .sites import CallSite

#: What a positional argument binds to when the callee's ``*args`` collects it.
VARARG = Param("*args", "va", None)


@dataclass
class Bound:
    """The outcome of binding one call site in one release."""

    signature: Signature
    positional: list[Param | None] = field(default_factory=list)  # per positional argument; None = too many
    keywords: dict[str, Param] = field(default_factory=dict)  # keyword -> parameter it binds
    unknown_keywords: list[str] = field(default_factory=list)  # no such keyword parameter
    duplicates: list[str] = field(default_factory=list)  # given positionally and by keyword
    missing: list[Param] = field(default_factory=list)  # required, not passed
    partial: bool = False

    @property
    def too_many_positional(self) -> int:
        return sum(1 for p in self.positional if p is None)

    @property
    def ok(self) -> bool:
        """The call binds without TypeError (for ``partial``: the given part does)."""
        return not (self.unknown_keywords or self.duplicates or self.too_many_positional
                    or (self.missing and not self.partial))

    def problems(self) -> list[str]:
        """Why the call fails in this release, one short phrase each."""
        out = [f"no keyword `{k}`" for k in self.unknown_keywords]
        if not self.partial:
            out += [f"`{p.name}` missing" for p in self.missing]
        if self.too_many_positional:
            n = len([p for p in self.signature.params if p.positional])
            out.append(f"{len(self.positional)} positional arguments for {n} parameters")
        out += [f"`{k}` given twice" for k in self.duplicates]
        return out


def bind(site: CallSite, sig: Signature) -> Bound | None:
    """Bind ``site``'s arguments to ``sig``; None when the call has ``*args``/``**kwargs``."""
    if site.has_star_args:
        return None
    return _bind_shape(site.shape, sig)


#: (site shape, id(signature)) -> (signature, binding); (shape, id(params)) -> (params, parts).
#: Binding depends only on the call's shape and the parameters, so calls of the same shape share
#: one binding per release, and releases with the same parameters (the index's payloads are
#: shared, :mod:`.signatures` interns them) share the work: 126k binds became a few thousand on
#: the benchmark corpus (issue 11). The signature/params are kept in the value, so an ``id``
#: is never reused while its entry lives.
_BY_SIG: dict[tuple, tuple[Signature, "Bound | None"]] = {}
_BY_PARAMS: dict[tuple, tuple] = {}
_LIMIT = 200_000


def bind_cached(site: CallSite, sig: Signature) -> Bound | None:
    """:func:`bind`, shared between calls of the same shape. The result is shared: read it,
    never mutate it (``dataclasses.replace`` makes a changed copy)."""
    if site.has_star_args:
        return None
    shape = site.shape
    key = (shape, id(sig))
    hit = _BY_SIG.get(key)
    if hit is not None:
        return hit[1]
    if len(_BY_SIG) > _LIMIT:
        _BY_SIG.clear()
    got = _bind_shape(shape, sig)
    _BY_SIG[key] = (sig, got)
    return got


def _bind_shape(shape: tuple, sig: Signature) -> Bound:
    nargs, kwnames, partial = shape[0], shape[1], shape[2]
    params = sig.params
    key = (shape, id(params))
    hit = _BY_PARAMS.get(key)
    if hit is None:
        if len(_BY_PARAMS) > _LIMIT:
            _BY_PARAMS.clear()
        hit = _BY_PARAMS[key] = (params, *_bind_params(nargs, kwnames, sig))
    _, positional, keywords, unknown, duplicates, missing = hit
    return Bound(sig, positional, keywords, unknown, duplicates, missing, partial)


def _bind_params(nargs: int, kwnames: tuple, sig: Signature):
    """Python's binding of ``nargs`` positional arguments and the keywords ``kwnames`` to
    ``sig``'s parameters: (positional, keywords, unknown keywords, duplicates, missing)."""
    positional_params = sig.positional()
    varargs = sig.has_varargs
    positional: list[Param | None] = []
    filled: set[str] = set()
    for i in range(nargs):
        if i < len(positional_params):
            positional.append(positional_params[i])
            filled.add(positional_params[i].name)
        else:
            positional.append(VARARG if varargs else None)
    by_name = {p.name: p for p in sig.params if p.by_keyword}
    keywords: dict[str, Param] = {}
    unknown: list[str] = []
    duplicates: list[str] = []
    for name in kwnames:
        assert name is not None
        p = by_name.get(name)
        if p is None:
            unknown.append(name)
            continue
        if name in filled:
            duplicates.append(name)
        keywords[name] = p
        filled.add(name)
    missing = [p for p in sig.params if p.required and p.name not in filled]
    return positional, keywords, unknown, duplicates, missing

"""Calls of megatron.core callables, bound against each release's parameters (MC201-MC204,
``mcore-lint supported-range``).

Pipeline (one way): :func:`call_sites` (semantic model -> call sites whose callee is known
statically) -> :func:`signature_in` (API index -> the parameters in one release) -> :func:`bind`
(arguments -> parameters, with every problem). :func:`bindings` does the three for a set of
releases, cached per site.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from .binding import VARARG, Bound, bind
from .releases import checked_releases, describe, span_releases
from .signatures import MISSING, UNKNOWN, Param, Signature, signature_in
from .sites import CallSite, call_sites, is_signature_guarded

if TYPE_CHECKING:
    from mcore_compat.api_index import ApiIndex

_BOUND: "weakref.WeakKeyDictionary[CallSite, dict[str, object]]" = weakref.WeakKeyDictionary()


def binding_in(idx: "ApiIndex", site: CallSite, release: str):
    """:class:`Bound` for ``site`` in ``release``, or MISSING / UNKNOWN (cached per site), or
    None when the call has ``*args``/``**kwargs``."""
    per = _BOUND.get(site)
    if per is None:
        per = _BOUND[site] = {}
    if release not in per:
        sig = signature_in(idx, release, site.qualname, site.style)
        per[release] = bind(site, sig) if isinstance(sig, Signature) else sig
    return per[release]


def index():
    """The shipped API index (loaded once per process)."""
    from mcore_compat.api_index import load

    return load()


__all__ = ["Bound", "CallSite", "MISSING", "Param", "Signature", "UNKNOWN", "VARARG", "bind", "binding_in",
           "call_sites", "checked_releases", "describe", "index", "is_signature_guarded", "signature_in",
           "span_releases"]

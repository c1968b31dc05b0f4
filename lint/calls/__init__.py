"""Calls of megatron.core callables, bound against each release's parameters (MC201-MC204,
``mcore-lint supported-range``).

Pipeline (one way): :func:`call_sites` (semantic model -> call sites whose callee is known
statically) -> :func:`signature_in` (API index -> the parameters in one release) -> :func:`bind`
(arguments -> parameters, with every problem). :func:`bindings` does the three for a set of
releases, cached per site.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple

from .binding import VARARG, Bound, bind, bind_cached
from .releases import checked_releases, describe, span_releases
from .signatures import MISSING, UNKNOWN, Param, Signature, signature_in
from .sites import CallSite, call_sites, is_signature_guarded

if TYPE_CHECKING:
    from mcore_compat.api_index import ApiIndex
    from mcore_lint.target import Target

_UNSET = object()


def binding_in(idx: "ApiIndex", site: CallSite, release: str):
    """:class:`Bound` for ``site`` in ``release``, or MISSING / UNKNOWN (cached per site), or
    None when the call has ``*args``/``**kwargs``. The binding may be shared with other sites
    of the same shape: read it, never mutate it."""
    per = site.bound
    got = per.get(release, _UNSET)
    if got is _UNSET:
        sig = signature_in(idx, release, site.qualname, site.style)
        got = per[release] = bind_cached(site, sig) if isinstance(sig, Signature) else sig
    return got


def bindings_in(idx: "ApiIndex", site: CallSite, releases: Iterable[str]) -> list:
    """:func:`binding_in` for each of ``releases``, in order (one call per site instead of one
    per site and release: MC201/MC202 ask ~20 releases for each of ~9k sites on the corpus)."""
    get = site.bound.get
    out = []
    for r in releases:
        got = get(r, _UNSET)
        out.append(binding_in(idx, site, r) if got is _UNSET else got)
    return out


class SpanBinding(NamedTuple):
    """One call bound in the first release of the target span and in the later ones."""

    site: CallSite
    base: str  # first release of the span: where the code is taken to be written
    bound: Bound  # the call bound in ``base``
    later: dict[str, Bound]  # later releases of the span where the call binds


def span_bindings(idx: "ApiIndex", target: "Target | None", sites: Iterable[CallSite],
                  skip: Callable[[CallSite], bool]) -> Iterator[SpanBinding]:
    """For the rules that compare the first release of the span with the later ones (MC203,
    MC204): every site that is not guarded, has no ``*args``/``**kwargs``, is not ``skip``-ped
    and binds in the first release. Nothing when the span has fewer than two releases."""
    releases = span_releases(target, idx)
    if len(releases) < 2:
        return
    base, rest = releases[0], releases[1:]
    for site in sites:
        if site.guarded or site.has_star_args or skip(site):
            continue
        b0 = binding_in(idx, site, base)
        if not isinstance(b0, Bound):
            continue
        later = {r: b for r, b in zip(rest, bindings_in(idx, site, rest)) if isinstance(b, Bound)}
        yield SpanBinding(site, base, b0, later)


def index():
    """The shipped API index (loaded once per process)."""
    from mcore_compat.api_index import load

    return load()


__all__ = ["Bound", "CallSite", "MISSING", "Param", "Signature", "SpanBinding", "UNKNOWN", "VARARG", "bind", "binding_in", "bindings_in",
           "call_sites", "checked_releases", "describe", "index", "is_signature_guarded", "signature_in",
           "span_bindings", "span_releases"]

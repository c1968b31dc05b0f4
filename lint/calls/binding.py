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
    out = Bound(sig, partial=site.style == "partial")
    positional = sig.positional()
    varargs = sig.has_varargs
    filled: set[str] = set()
    for i, _arg in enumerate(site.args):
        if i < len(positional):
            out.positional.append(positional[i])
            filled.add(positional[i].name)
        else:
            out.positional.append(VARARG if varargs else None)
    by_name = {p.name: p for p in sig.params if p.by_keyword}
    for kw in site.keywords:
        name = kw.arg
        assert name is not None
        p = by_name.get(name)
        if p is None:
            out.unknown_keywords.append(name)
            continue
        if name in filled:
            out.duplicates.append(name)
        out.keywords[name] = p
        filled.add(name)
    out.missing = [p for p in sig.params if p.required and p.name not in filled]
    return out



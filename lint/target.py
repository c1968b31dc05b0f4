"""Which megatron-core release(s) the checked code must run on: what a rule sees of the settings.

A rule declares the releases it applies to (a PEP 440 specifier, as Fixit's ``PYTHON_VERSION``);
the project declares a target: one exact ``target-version`` and/or a supported span (a
specifier such as ``>=0.12,<0.17``). Target *detection* (from dependencies, the installed
package, ...) is extended elsewhere; this module only holds the value and its queries.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

#: megatron-core releases published on PyPI that this project has read (the wheels in
#: ``tools/downloads.py``'s cache, fetched from https://pypi.org/project/megatron-core/).
KNOWN_RELEASES: tuple[Version, ...] = tuple(Version(v) for v in (
    "0.5.0", "0.6.0", "0.7.0", "0.8.0", "0.9.0", "0.10.0", "0.11.0", "0.12.0", "0.12.1", "0.12.2",
    "0.12.3", "0.13.0", "0.13.1", "0.14.0", "0.15.0", "0.15.1", "0.15.2", "0.15.3", "0.16.0", "0.16.1",
    "0.17.0", "0.17.1", "0.18.0", "0.18.2", "0.19.0", "0.19.2",
))


class TargetError(ValueError):
    """A target version or span that cannot be understood (message names the value)."""


def parse_version(text: str, *, source: str = "target-version") -> Version:
    try:
        return Version(str(text).strip())
    except InvalidVersion:
        raise TargetError(f"{source}: {text!r} is not a version (expected e.g. '0.16.1')") from None


def parse_specifier(text: str, *, source: str = "supported") -> SpecifierSet:
    try:
        return SpecifierSet(str(text).strip(), prereleases=True)
    except InvalidSpecifier:
        raise TargetError(f"{source}: {text!r} is not a version specifier (expected e.g. '>=0.12,<0.17')") from None


@dataclass(frozen=True)
class Target:
    """The megatron-core release(s) code is checked against.

    ``version``: the exact release the project runs (``target-version``), or None.
    ``span``: the releases the code must support (a SpecifierSet; empty = no constraint).
    """

    version: Version | None = None
    span: SpecifierSet = SpecifierSet()
    #: The release the code was written for (``--from-version``): MC203/MC204 compare the
    #: other releases against it instead of the low end of the span (None: the low end).
    from_version: Version | None = None

    @classmethod
    def parse(cls, version: str | None = None, span: str | None = None,
              from_version: str | None = None) -> "Target":
        return cls(parse_version(version) if version else None, parse_specifier(span) if span else SpecifierSet(),
                   parse_version(from_version, source="from-version") if from_version else None)

    @property
    def releases(self) -> tuple[Version, ...]:
        """Known releases the code must run on: the target version alone, else the known
        releases inside ``span`` (all known releases when there is no constraint)."""
        if self.version is not None:
            return (self.version,)
        return tuple(v for v in KNOWN_RELEASES if self.span.contains(v, prereleases=True))

    def overlaps(self, spec: str | SpecifierSet) -> bool:
        """Whether a rule applying to releases ``spec`` matters for this target."""
        s = spec if isinstance(spec, SpecifierSet) else SpecifierSet(spec, prereleases=True)
        if not str(s):
            return True
        if self.version is not None:
            return s.contains(self.version, prereleases=True)
        return any(s.contains(v, prereleases=True) for v in self.releases)

    def fingerprint(self) -> str:
        return f"{self.version or ''}|{self.span}|{self.from_version or ''}"

    def __str__(self) -> str:
        if self.version is not None:
            text = f"megatron-core {self.version}"
        else:
            text = f"megatron-core {self.span}" if str(self.span) else "any megatron-core release"
        return text + (f" (code written for {self.from_version})" if self.from_version else "")

"""Which indexed megatron-core releases a check runs against, and target detection from the
project's own megatron-core requirement.

Why here: the version-aware rules (MC102-MC104) need concrete releases of the API index,
while :class:`mcore_lint.target.Target` holds a version and/or a PEP 440 span. The detection
step of the chain (``--target-version`` > ``[tool.mcore-compat] target-version`` > **the
megatron-core requirement in pyproject/requirements** > the installed release > the newest
indexed release) that belongs to this issue is :func:`detect_requirement`; the settings layer
calls it (see :func:`detect`).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcore_compat.api_index import ApiIndex

    from ..target import Target

_REQ = re.compile(r"^\s*megatron[-_.]core\s*(?:\[[^\]]*\])?\s*(?P<spec>[^;#]*)", re.IGNORECASE)


@dataclass(frozen=True)
class Detected:
    """A target found in the project: an exact ``version`` (``==X``) or a ``span``, and where."""

    version: str | None
    span: str | None
    source: str  # "pyproject.toml [project.dependencies]", "requirements.txt:3", ...


def _from_requirement(text: str) -> tuple[str | None, str | None] | None:
    m = _REQ.match(text)
    if not m:
        return None
    spec = m.group("spec").strip().strip(",").replace(" ", "")
    if not spec:
        return None, None
    exact = re.fullmatch(r"===?(\d+(?:\.\d+)*)", spec)
    if exact:
        return exact.group(1), None
    return None, spec


def _load_toml(path: Path) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def detect_requirement(project: Path) -> Detected | None:
    """The megatron-core requirement of the project at ``project`` (a folder): from
    ``pyproject.toml`` (``[project]`` dependencies, then optional dependencies), else from
    ``requirements*.txt``. ``megatron-core==0.16.1`` gives a version, ``>=0.12,<0.17`` a span.
    A pyproject that does not parse raises ValueError naming the file."""
    pyproject = project / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = _load_toml(pyproject)
        except Exception as exc:  # tomllib.TOMLDecodeError, OSError
            raise ValueError(f"{pyproject}: cannot read megatron-core requirement: {exc}") from None
        proj = data.get("project", {})
        groups = [("[project.dependencies]", proj.get("dependencies", []))]
        groups += [(f"[project.optional-dependencies] {k}", v)
                   for k, v in sorted(proj.get("optional-dependencies", {}).items())]
        for where, reqs in groups:
            for req in reqs if isinstance(reqs, list) else []:
                got = _from_requirement(str(req))
                if got is not None and (got[0] or got[1]):
                    return Detected(got[0], got[1], f"{pyproject} {where}")
    for req_file in sorted(project.glob("requirements*.txt")):
        try:
            lines = req_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for n, line in enumerate(lines, 1):
            got = _from_requirement(line)
            if got is not None and (got[0] or got[1]):
                return Detected(got[0], got[1], f"{req_file}:{n}")
    return None


def installed_release() -> str | None:
    """The megatron-core version installed in this environment (metadata only, no import)."""
    from importlib import metadata

    try:
        return metadata.version("megatron-core")
    except metadata.PackageNotFoundError:
        return None


def detect(project: Path) -> Detected:
    """The tail of the target chain: requirement, else installed release, else the newest
    indexed release (always answers)."""
    found = detect_requirement(project)
    if found is not None:
        return found
    inst = installed_release()
    if inst:
        return Detected(inst, None, "installed megatron-core")
    from mcore_compat.api_index import load

    return Detected(load().newest, None, "newest release in the API index")


def project_target(project: Path) -> tuple["Target", str]:
    """The tail of the chain as a :class:`Target` plus a description for stderr, e.g.
    ``(Target(span=>=0.12,<0.17), "megatron-core>=0.12,<0.17 from .../pyproject.toml
    [project.dependencies]")``. For ``settings.detect_target`` when neither
    ``--target-version`` nor ``[tool.mcore-compat]`` gave a target."""
    from ..target import Target

    d = detect(project)
    target = Target.parse(d.version, d.span)
    said = f"megatron-core=={d.version}" if d.version else f"megatron-core{d.span}"
    return target, f"{said} from {d.source}"


def target_releases(target: "Target | None", idx: "ApiIndex") -> list[str]:
    """Indexed releases code must work on: the target version (its nearest indexed release
    when it is a patch we have not indexed), the indexed releases inside the span, else the
    newest indexed release. Never empty."""
    if target is None:
        return [idx.newest]
    if target.version is not None:
        v = str(target.version)
        try:
            return [idx.release(v)]
        except ValueError:
            older = [r for r in idx.releases if _key(r) <= _key(v)]
            return [older[-1] if older else idx.releases[0]]
    if str(target.span):
        got = idx.releases_matching(str(target.span))
        return got or [idx.newest]
    return [idx.newest]


def _key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def describe(releases: list[str]) -> str:
    """``0.16.1`` or ``0.12.0-0.16.1 (9 releases)``."""
    if len(releases) == 1:
        return releases[0]
    return f"{releases[0]}-{releases[-1]} ({len(releases)} releases)"

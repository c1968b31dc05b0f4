"""The data that flows from rules to fixes to reporters: findings, fixes, edits.

Shared vocabulary of the engine. Rules produce ``Finding``s; the fixer applies their ``Fix``es;
reporters format them. Rows and columns are 1-based (as ruff's JSON), columns count characters
(not bytes) of the decoded line. ``offset``s are 0-based character offsets into the decoded text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Applicability(str, enum.Enum):
    """How a fix may be applied (ruff's fix safety)."""

    SAFE = "safe"  # applied by `mcore-fix`
    UNSAFE = "unsafe"  # applied only with `--unsafe-fixes`: may change behaviour
    DISPLAY_ONLY = "display-only"  # shown, never applied


@dataclass(frozen=True, order=True)
class Location:
    row: int  # 1-based line
    column: int  # 1-based character column


@dataclass(frozen=True)
class Edit:
    """Replace the text between two locations with ``content`` (an insertion when equal)."""

    content: str
    location: Location
    end_location: Location


@dataclass(frozen=True)
class ImportRequest:
    """An import a fix needs (``from module import name`` when ``name`` is set, else
    ``import module``) or an import it may have made unused (``remove=True``). The fixer
    schedules all of a file's requests in one place, with libcst's import machinery."""

    module: str
    name: str | None = None
    asname: str | None = None
    remove: bool = False


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    message: str
    edits: tuple[Edit, ...] = ()
    imports: tuple[ImportRequest, ...] = ()
    #: the fix exists but its edits were not computed (the run needed none: see
    #: ``Context.want_edits``); a run that applies or prints edits recomputes the file
    deferred: bool = False


@dataclass(frozen=True)
class Finding:
    code: str  # "MC101"
    name: str  # "parallel-state-via-wrong-module"
    message: str
    filename: str
    location: Location
    end_location: Location
    fix: Fix | None = None
    url: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def sort_key(self) -> tuple:
        return (self.filename, self.location, self.code)


@dataclass(frozen=True)
class FileProblem:
    """A file that could not be processed (unreadable, undecodable, unparsable, ...).

    Reported on stderr with its path and reason; makes the exit code 2; never written to.
    """

    filename: str
    reason: str

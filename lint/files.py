"""Files in and out: discovery, decoding, atomic writes.

* Discovery walks directories for ``*.py``/``*.pyi``, honouring ``.gitignore`` files (the
  walked folders' own and their ancestors' up to the repository root), the configured
  ``exclude`` patterns (gitignore syntax, relative to the project root) and a built-in list of
  tool folders (``.git``, ``.venv``, ...; as ruff). Files named explicitly are always taken
  unless ``exclude`` matches them (so pre-commit's explicit file lists honour ``exclude``).
* Decoding honours a UTF-8 BOM and a PEP 263 coding cookie and keeps line endings as they are
  (CRLF stays CRLF): edits are made on the exact text and written back in the same encoding.
* Writes are atomic (temp file in the same folder, then ``os.replace``) and keep the mode.

A file that cannot be read or decoded raises :class:`FileError` naming the path and reason.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

PYTHON_SUFFIXES = (".py", ".pyi")

#: Folders never walked (ruff's default ``exclude`` plus our cache).
DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".mypy_cache", ".nox", ".pants.d",
    ".pytype", ".ruff_cache", ".svn", ".tox", ".venv", "__pypackages__", "_build", "buck-out",
    "node_modules", "site-packages", "venv", ".mcore_lint_cache", "__pycache__",
)


class FileError(Exception):
    """A file that cannot be read, decoded or written; ``str()`` is the reason."""


@dataclass
class SourceText:
    """Decoded text of a file and how to encode it back unchanged."""

    text: str
    encoding: str  # codec name used to decode ("utf-8", "latin-1", ...)
    bom: bool  # the file starts with a UTF-8 BOM

    def encode(self, text: str | None = None) -> bytes:
        data = (self.text if text is None else text).encode(self.encoding)
        return codecs.BOM_UTF8 + data if self.bom else data


def decode(data: bytes) -> SourceText:
    """Decode Python source bytes (BOM, coding cookie, default UTF-8) keeping line endings."""
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as e:  # unknown/invalid coding cookie, BOM + non-utf8 cookie, bad bytes
        if "invalid or missing encoding declaration" in str(e):
            encoding = "utf-8"  # undecodable bytes in the first lines: report them below
        else:
            raise FileError(f"cannot determine encoding: {e}") from None
    if encoding == "utf-8-sig":
        encoding = "utf-8"
    body = data[len(codecs.BOM_UTF8):] if bom else data
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as e:
        raise FileError(f"cannot decode as {encoding}: byte 0x{body[e.start]:02x} at offset {e.start + (3 if bom else 0)}") from None
    except LookupError:
        raise FileError(f"unknown encoding {encoding!r}") from None
    return SourceText(text, encoding, bom)


def read_source(path: Path) -> tuple[bytes, SourceText]:
    """(raw bytes, decoded text) of ``path``; FileError names the reason."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise FileError("is a directory") from None
    except OSError as e:
        raise FileError(f"cannot read: {e.strerror or e}") from None
    return data, decode(data)


def read_file_bytes(path: Path) -> bytes:
    """The bytes of ``path``, refusing what is not a regular file *before* reading it: opening a
    named pipe would block the run forever, a directory or a device is not source."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except IsADirectoryError:
        raise FileError("is a directory") from None
    except OSError as e:
        raise FileError(f"cannot open: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise FileError("is a directory")
        if not stat.S_ISREG(st.st_mode):
            kind = "named pipe" if stat.S_ISFIFO(st.st_mode) else "device or socket"
            raise FileError(f"not a regular file ({kind})")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read()
    except OSError as e:
        raise FileError(f"cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)


#: Temp files of :func:`write_atomic`: ``.<name>.<pid>.<random>.mcore-fix.tmp`` next to the file.
TEMP_SUFFIX = ".mcore-fix.tmp"


def remove_stale_temp(folder: str, name: str) -> bool:
    """Delete ``folder/name`` when it is a :func:`write_atomic` temp file whose writing process
    is gone (killed mid-write: the target still has its old content). A temp file of a live
    process (a concurrent run) is left alone. True when deleted."""
    if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
        return False
    parts = name[: -len(TEMP_SUFFIX)].rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    if _alive(int(parts[1])):
        return False
    try:
        os.unlink(os.path.join(folder, name))
        return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie - killed, not yet reaped - does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def write_atomic(path: Path, data: bytes, *, expected: bytes | None = None) -> None:
    """Replace ``path``'s content with ``data`` atomically, keeping its permission bits.

    A file without any write bit is refused (judged by the mode, not ``os.access``: root may
    write anything). With ``expected`` (the bytes the fix was computed from), a file whose
    content changed meanwhile is not overwritten. A SIGKILL at any point leaves the file with
    its old or its new content; the temp file it may leave is removed by the next run's
    discovery (:func:`remove_stale_temp`)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    if mode is not None and not mode & 0o222:
        raise FileError(f"read-only (mode {mode:03o}): fix not written")
    try:
        fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX)
    except OSError as e:
        raise FileError(f"cannot write: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        if expected is not None:
            try:
                now = path.read_bytes()
            except OSError:
                now = None
            if now != expected:
                os.unlink(tmp)
                raise FileError("changed on disk since it was read; fix not written (run again)")
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise FileError(f"cannot write: {e.strerror or e}") from None


# ---------------------------------------------------------------------------- gitignore
@dataclass(frozen=True)
class IgnoreRule:
    regex: re.Pattern
    negate: bool
    dir_only: bool


def _translate(pattern: str) -> str:
    """Regex for one gitignore glob (already stripped of ``!``, leading and trailing ``/``)."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern[i:i + 2] == "**":
                before_ok = i == 0 or pattern[i - 1] == "/"
                after = pattern[i + 2:i + 3]
                if before_ok and after == "/":
                    out.append("(?:.*/)?")
                    i += 3
                    continue
                if before_ok and i + 2 == n:
                    out.append(".*")
                    i += 2
                    continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 2 if pattern[i + 1:i + 2] in ("!", "^") else i + 1)
            if j == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:j]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def parse_ignore_lines(lines: Iterable[str]) -> list[IgnoreRule]:
    """Gitignore syntax: comments, ``!`` negation, ``dir/`` folders only, ``/``-anchored or
    any-depth patterns, ``*``, ``?``, ``[...]``, ``**``."""
    rules = []
    for raw in lines:
        line = raw.rstrip("\n").rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        line = re.sub(r"(?<!\\)\s+$", "", line)
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        if line.startswith("\\"):
            line = line[1:] if line[1:2] in ("#", "!") else line
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        body = _translate(line)
        regex = re.compile(("" if anchored else "(?:.*/)?") + body + "$")
        rules.append(IgnoreRule(regex, negate, dir_only))
    return rules


@lru_cache(maxsize=4096)
def _gitignore_rules(folder: str) -> tuple[IgnoreRule, ...]:
    try:
        with open(os.path.join(folder, ".gitignore"), encoding="utf-8", errors="replace") as fh:
            return tuple(parse_ignore_lines(fh))
    except OSError:
        return ()


class Matcher:
    """Decides whether a path is ignored: stacked gitignore files (deeper ones win) plus the
    ``exclude`` patterns anchored at the project root. Works on absolute path strings (no
    ``resolve()`` per file: discovery of thousands of files must stay in milliseconds)."""

    def __init__(self, root: Path, exclude: Iterable[str] = (), respect_gitignore: bool = True):
        self.root = root.resolve()
        self._root = str(self.root)
        self.exclude = parse_ignore_lines(exclude)
        self.respect_gitignore = respect_gitignore
        self.repo_root = _repo_root(self.root)

    @staticmethod
    def _match(rules: Iterable[IgnoreRule], rel: str, is_dir: bool) -> bool | None:
        result = None
        for r in rules:
            if r.dir_only and not is_dir:
                continue
            if r.regex.match(rel):
                result = not r.negate
        return result

    def _rel_to_root(self, abspath: str) -> str | None:
        if abspath == self._root:
            return ""
        if abspath.startswith(self._root + os.sep):
            return abspath[len(self._root) + 1:].replace(os.sep, "/")
        return None

    def excluded(self, path: Path | str, is_dir: bool) -> bool:
        """``exclude`` patterns (relative to the project root; a matching folder excludes all
        below it) or a built-in tool folder."""
        abspath = path if isinstance(path, str) else os.path.abspath(path)
        name = abspath.rsplit(os.sep, 1)[-1]
        if is_dir and name in DEFAULT_EXCLUDE:
            return True
        if not self.exclude:
            return False
        rel = self._rel_to_root(abspath)
        if rel is None:
            rel = name
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            if self._match(self.exclude, "/".join(parts[:i]), is_dir or i < len(parts)):
                return True
        return False

    def chain_for(self, folder: str) -> tuple[tuple[str, tuple[IgnoreRule, ...]], ...]:
        """(folder, rules) of every ``.gitignore`` from the repository root down to ``folder``."""
        if not self.respect_gitignore:
            return ()
        top = str(self.repo_root or self.root)
        folders = []
        f = folder
        while True:
            folders.append(f)
            if f == top or os.path.dirname(f) == f or not f.startswith(top):
                break
            f = os.path.dirname(f)
        return tuple((f, r) for f in reversed(folders) if (r := _gitignore_rules(f)))

    def gitignored(self, abspath: str, is_dir: bool, chain) -> bool:
        verdict = None
        for folder, rules in chain:
            if abspath.startswith(folder + os.sep):
                m = self._match(rules, abspath[len(folder) + 1:].replace(os.sep, "/"), is_dir)
                if m is not None:
                    verdict = m
        return bool(verdict)


@lru_cache(maxsize=256)
def _repo_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def discover(paths: Iterable[Path], matcher: Matcher) -> Iterator[tuple[Path, bool]]:
    """(file, explicitly named) for every Python file under ``paths``, sorted per folder.
    Missing paths raise FileError."""
    seen: set[str] = set()
    cleaned: set[str] = set()
    for p in paths:
        if not p.exists() and not p.is_symlink():
            raise FileError(f"{p}: no such file or directory")
        if p.is_dir():
            top = os.path.realpath(p)
            if matcher.excluded(top, True) and Path(top) != matcher.root:
                continue
            for f, abspath in _walk(p, top, matcher):
                if abspath not in seen:
                    seen.add(abspath)
                    yield f, False
        else:
            abspath = os.path.realpath(p)
            if matcher.excluded(abspath, False):
                continue
            parent = os.path.dirname(os.path.abspath(p))
            if parent not in cleaned:  # temp files a killed run left next to named files
                cleaned.add(parent)
                _remove_stale_temps(parent)
            if abspath not in seen:
                seen.add(abspath)
                yield p, True


def _remove_stale_temps(folder: str) -> None:
    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it if e.name.endswith(TEMP_SUFFIX)]
    except OSError:
        return
    for name in names:
        remove_stale_temp(folder, name)


def _walk(top: Path, abs_top: str, matcher: Matcher) -> Iterator[tuple[Path, str]]:
    """Python files under ``top`` (display paths keep the caller's spelling)."""
    stack = [(str(top), abs_top, matcher.chain_for(abs_top))]
    while stack:
        shown, folder, chain = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        if matcher.respect_gitignore and any(e.name == ".gitignore" for e in entries):
            rules = _gitignore_rules(folder)
            if rules and (not chain or chain[-1][0] != folder):
                chain = chain + ((folder, rules),)
        subdirs = []
        for e in entries:
            abspath = folder + os.sep + e.name
            if e.name.endswith(TEMP_SUFFIX):
                remove_stale_temp(folder, e.name)
                continue
            try:
                is_dir = e.is_dir()
            except OSError:  # e.g. a symlink loop: a .py one is yielded so that reading names it
                is_dir = False
            if is_dir and e.name.endswith(PYTHON_SUFFIXES) and not e.is_symlink():
                is_dir = False  # a folder named like a module is not source: reading reports it
            if is_dir:
                if e.is_symlink() or matcher.excluded(abspath, True) or matcher.gitignored(abspath, True, chain):
                    continue
                subdirs.append((os.path.join(shown, e.name), abspath, chain))
            elif e.name.endswith(PYTHON_SUFFIXES):
                if matcher.excluded(abspath, False) or matcher.gitignored(abspath, False, chain):
                    continue
                yield Path(os.path.join(shown, e.name)), abspath
        stack.extend(reversed(subdirs))

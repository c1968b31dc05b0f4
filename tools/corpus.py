"""The shared real-code corpus: released Megatron-based code from PyPI, for real-code tests and bench/.

Why: the linter has to be right and fast on the code people actually run, so every real-code
test and the benchmark read the same downloaded releases. Nothing here is committed; the wheels
are fetched once by ``tools.downloads`` (cache ``$MCORE_COMPAT_CACHE``, default
``~/.cache/mcore-compat``, ``flock``-locked, atomic unpack), so concurrent test workers are safe
and reruns download nothing.

Parts (name -> PyPI release, folders inside the unpacked wheel):

=========================  ==============================  =========================================
part name                  release                         code folders
=========================  ==============================  =========================================
``megatron-core-0.9.0``    megatron-core 0.9.0 (cp311)     ``megatron/``
``megatron-core-0.16.1``   megatron-core 0.16.1 (cp311)    ``megatron/``
``megatron-core-0.19.2``   megatron-core 0.19.2 (cp312)    ``megatron/`` (core and training)
``megatron-bridge-0.6.2``  megatron-bridge 0.6.2 (py3.12)  ``megatron/``
``nemo-2.2.1``             nemo-toolkit 2.2.1 (py3)        ``nemo/collections/nlp``, ``nemo/lightning``
=========================  ==============================  =========================================

Functions (all download on first use, then only read the cache):

- ``site_root(part)``   the unpacked wheel folder: put it on ``PYTHONPATH`` to import the code
  (only 0.9.0 / 0.16.1 import on this Python 3.11; read the others statically).
- ``roots(part)``       the code folders of the part (list of Paths, inside ``site_root``).
- ``files(part, quick=False, stride=None)``  sorted ``.py`` files of the part; ``quick`` = every
  ``QUICK_STRIDE``-th file (a deterministic ~5 % sample for CI-sized runs); ``stride=n`` = every
  n-th file (overrides ``quick``).
- ``stats(part, quick=False, stride=None)``  ``PartStats(part, files, lines, bytes)``.
- ``corpus(parts=BENCH_PARTS, quick=False, stride=None)``  ``{part: [files]}`` for several parts at once.
- ``copy_tree(dest, parts=BENCH_PARTS, quick=False, stride=None)``  a writable copy laid out as
  ``dest/<part>/<path inside the wheel>`` (e.g. ``dest/megatron-core-0.16.1/megatron/core/...``),
  for tools that take one folder or that write (caches, touched files); returns the stats.

``BENCH_PARTS`` is the benchmark corpus named by issue 11 (0.16.1, 0.19.2, bridge, nemo);
``ALL_PARTS`` adds 0.9.0. Command line: ``python -m tools.corpus [--quick] [part ...]`` downloads
and prints files/lines per part.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

try:  # importable both as ``tools.corpus`` (repo root on sys.path) and from within tools/
    from tools.downloads import unpacked
except ImportError:  # pragma: no cover
    from downloads import unpacked  # type: ignore[no-redef]


@dataclass(frozen=True)
class Part:
    """One corpus part: a PyPI release and the folders of it we read."""

    name: str
    package: str
    version: str
    folders: tuple[str, ...]


_PARTS = (
    Part("megatron-core-0.9.0", "megatron-core", "0.9.0", ("megatron",)),
    Part("megatron-core-0.16.1", "megatron-core", "0.16.1", ("megatron",)),
    Part("megatron-core-0.19.2", "megatron-core", "0.19.2", ("megatron",)),
    Part("megatron-bridge-0.6.2", "megatron-bridge", "0.6.2", ("megatron",)),
    Part("nemo-2.2.1", "nemo-toolkit", "2.2.1", ("nemo/collections/nlp", "nemo/lightning")),
)
PARTS: dict[str, Part] = {p.name: p for p in _PARTS}
ALL_PARTS: tuple[str, ...] = tuple(PARTS)
#: The benchmark corpus of issue 11.
BENCH_PARTS: tuple[str, ...] = (
    "megatron-core-0.16.1",
    "megatron-core-0.19.2",
    "megatron-bridge-0.6.2",
    "nemo-2.2.1",
)
#: ``quick`` keeps every QUICK_STRIDE-th file of the sorted list (starting with the first).
QUICK_STRIDE = 20


@dataclass(frozen=True)
class PartStats:
    """Size of (a sample of) one part: counts are what a linter run over it has to read."""

    part: str
    files: int
    lines: int
    bytes: int


def _part(name: str) -> Part:
    try:
        return PARTS[name]
    except KeyError:
        raise KeyError(f"unknown corpus part {name!r}; known parts: {', '.join(PARTS)}") from None


def site_root(part: str) -> Path:
    """The unpacked wheel folder of ``part`` (downloads it once)."""
    p = _part(part)
    return unpacked(p.package, p.version)


def roots(part: str) -> list[Path]:
    """The folders of ``part`` that hold its code."""
    base = site_root(part)
    out = []
    for folder in _part(part).folders:
        root = base / folder
        if not root.is_dir():
            raise FileNotFoundError(f"corpus part {part}: expected folder {root} in the unpacked wheel")
        out.append(root)
    return out


@lru_cache(maxsize=None)
def _all_files(part: str) -> tuple[Path, ...]:
    found: list[Path] = []
    for root in roots(part):
        found.extend(p for p in root.rglob("*.py") if p.is_file())
    return tuple(sorted(found))


def _stride(quick: bool, stride: int | None) -> int:
    if stride is not None:
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        return stride
    return QUICK_STRIDE if quick else 1


def files(part: str, quick: bool = False, stride: int | None = None) -> list[Path]:
    """Sorted ``.py`` files of ``part``; ``quick`` keeps a deterministic 1-in-QUICK_STRIDE sample,
    ``stride=n`` a 1-in-n sample (first file included)."""
    return list(_all_files(part)[::_stride(quick, stride)])


def _count(paths: list[Path]) -> tuple[int, int]:
    lines = size = 0
    for path in paths:
        data = path.read_bytes()
        size += len(data)
        lines += data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    return lines, size


@lru_cache(maxsize=None)
def stats(part: str, quick: bool = False, stride: int | None = None) -> PartStats:
    """Files, lines and bytes of ``part`` (or of a sample of it)."""
    paths = files(part, quick, stride)
    lines, size = _count(paths)
    return PartStats(part, len(paths), lines, size)


def corpus(parts: tuple[str, ...] | list[str] = BENCH_PARTS, quick: bool = False,
           stride: int | None = None) -> dict[str, list[Path]]:
    """``{part: sorted files}`` for several parts."""
    return {name: files(name, quick, stride) for name in parts}


def copy_tree(dest: Path, parts: tuple[str, ...] | list[str] = BENCH_PARTS,
              quick: bool = False, stride: int | None = None) -> list[PartStats]:
    """Copy the parts' files to ``dest/<part>/<path in wheel>``; ``dest`` must not exist yet.

    A copy (not links) so that tools may write caches next to it and a benchmark may touch a
    file without ever changing the shared cache.
    """
    dest = Path(dest)
    if dest.exists():
        raise FileExistsError(f"copy_tree: {dest} already exists; give a new folder")
    out = []
    for name in parts:
        base = site_root(name)
        for src in files(name, quick, stride):
            target = dest / name / src.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
        out.append(stats(name, quick, stride))
    return out


def main(argv: list[str] | None = None) -> int:
    """Download the parts and print their sizes (``python -m tools.corpus [--quick] [part ...]``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in args
    names = [a for a in args if a != "--quick"] or list(ALL_PARTS)
    total = PartStats("total", 0, 0, 0)
    print(f"{'part':<24} {'files':>6} {'lines':>9}  folders")
    for name in names:
        s = stats(name, quick)
        total = PartStats("total", total.files + s.files, total.lines + s.lines, total.bytes + s.bytes)
        print(f"{name:<24} {s.files:>6} {s.lines:>9}  {', '.join(os.fspath(r) for r in roots(name))}")
    print(f"{'total':<24} {total.files:>6} {total.lines:>9}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""The floor rows: one process that finds, reads (and ``ast.parse``-s) every ``.py`` file.

Why: no Python linter can check a file without reading and parsing it, so "read + ast.parse in
one process" is the yardstick the issue's targets are ratios of. Run as
``python -m bench.floor read|parse PATH...``; prints ``files lines`` so the caller can check the
floor saw the same files as the tools.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path


def python_files(paths: list[str]) -> list[Path]:
    """Every ``.py`` file under ``paths`` (sorted; hidden folders such as caches skipped)."""
    out: list[Path] = []
    for top in paths:
        if os.path.isfile(top):
            out.append(Path(top))
            continue
        for folder, dirs, names in os.walk(top):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            out.extend(Path(folder, n) for n in sorted(names) if n.endswith(".py"))
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("read", "parse"):
        print("usage: python -m bench.floor read|parse PATH...", file=sys.stderr)
        return 2
    parse = argv[0] == "parse"
    files = python_files(argv[1:])
    lines = 0
    for path in files:
        data = path.read_bytes()
        lines += data.count(b"\n")
        if parse:
            ast.parse(data, filename=str(path))
    print(len(files), lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""`mcore-lint` and `mcore-fix` command lines (filled by the engine issue)."""

from __future__ import annotations

import sys


def lint_main() -> None:
    sys.exit("mcore-lint: not implemented yet")


def fix_main() -> None:
    sys.exit("mcore-fix: not implemented yet")

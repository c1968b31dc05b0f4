"""The main job of the quick start (`make demo`); filled as features land."""

from __future__ import annotations

import sys


def main() -> int:
    print("mcore-compat demo: nothing to show yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())

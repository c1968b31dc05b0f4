"""Demo of the linter half: fix a copy of the bundled fixtures and compare with the expected
results. ``.venv/bin/python -m tools.demo_fix`` (exit 0 when every file matches).

Copies ``fixtures/mc101/*_before.py`` into a temporary folder, shows what ``mcore-lint``
reports, runs ``mcore-fix`` (the installed console script) on the copy, compares each result
with its ``*_after.py``, and checks that ``mcore-lint`` is then clean and a second
``mcore-fix`` changes nothing.
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "mc101"
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), *args, "--no-cache", "--select", "MC101"], cwd=cwd, capture_output=True,
                          text=True)


def main() -> int:
    pairs = sorted(FIXTURES.glob("*_before.py"))
    ok = True
    with tempfile.TemporaryDirectory(prefix="mcore-fix-demo-") as tmp:
        work = Path(tmp)
        for before in pairs:
            shutil.copy(before, work / before.name.replace("_before.py", ".py"))
        lint = _run("mcore-lint", ".", cwd=work)
        print(f"$ mcore-lint   (exit {lint.returncode})\n{lint.stdout}{lint.stderr}")
        fixed = _run("mcore-fix", ".", cwd=work)
        print(f"$ mcore-fix    (exit {fixed.returncode})\n{fixed.stdout}{fixed.stderr}")
        for before in pairs:
            expected = before.with_name(before.name.replace("_before.py", "_after.py")).read_text(encoding="utf-8")
            got = (work / before.name.replace("_before.py", ".py")).read_text(encoding="utf-8")
            if got == expected:
                print(f"{before.name}: fixed result matches {before.name.replace('_before', '_after')}")
            else:
                ok = False
                print(f"{before.name}: MISMATCH")
                sys.stdout.writelines(difflib.unified_diff(expected.splitlines(True), got.splitlines(True),
                                                           "expected", "got"))
        again = _run("mcore-fix", ".", "--diff", cwd=work)
        relint = _run("mcore-lint", ".", cwd=work)
        print(f"second mcore-fix --diff: exit {again.returncode} ({'no change' if not again.stdout else 'CHANGES'})")
        print(f"mcore-lint after fixing: exit {relint.returncode} {relint.stdout.strip()}")
        ok = ok and lint.returncode == 1 and fixed.returncode == 0 and again.returncode == 0 and relint.returncode == 0
    print("demo_fix:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

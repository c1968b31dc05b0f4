"""The main job on the bundled examples: fix a copy of fixtures/ and show it equals the "after" files.

``.venv/bin/python -m tools.demo_fix`` (``make demo`` runs it, then the shim demo); exit 0 when
every fixed file equals its ``*_after.py``, a second ``mcore-fix`` changes nothing and
``mcore-lint`` is then clean. Each scenario copies ``<folder>/*_before.py`` into a temporary
folder and runs the installed console scripts there, exactly as a user would.
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Scenario:
    title: str
    folder: str
    args: tuple[str, ...]  # rule selection and target, shared by every command of the scenario
    fix_args: tuple[str, ...] = ()  # e.g. --unsafe-fixes


SCENARIOS = (
    Scenario("MC101: parallel-state getters through the wrong module (the seed's SFT crash)",
             "mc101", ("--select", "MC101")),
    Scenario("MC301/MC302: thread explicit tp/pp/dp_cp groups into checkpoint and loss code "
             "(opt-in codemod, unsafe fixes, target 0.16.1)",
             "groups", ("--select", "MC301,MC302", "--target-version", "0.16.1"), ("--unsafe-fixes",)),
)


def _run(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), *args, "--no-cache"], cwd=cwd, capture_output=True, text=True)


def _scenario(sc: Scenario) -> bool:
    print(f"== {sc.title}")
    pairs = sorted((ROOT / "fixtures" / sc.folder).glob("*_before.py"))
    ok = bool(pairs)
    with tempfile.TemporaryDirectory(prefix="mcore-fix-demo-") as tmp:
        work = Path(tmp)
        for before in pairs:
            shutil.copy(before, work / before.name.replace("_before.py", ".py"))
        lint = _run("mcore-lint", ".", *sc.args, cwd=work)
        print(f"$ mcore-lint . {' '.join(sc.args)}   (exit {lint.returncode})\n{lint.stdout}{lint.stderr}")
        fixed = _run("mcore-fix", ".", *sc.args, *sc.fix_args, cwd=work)
        print(f"$ mcore-fix . {' '.join(sc.args + sc.fix_args)}   (exit {fixed.returncode})\n"
              f"{fixed.stdout}{fixed.stderr}")
        for before in pairs:
            after = before.with_name(before.name.replace("_before.py", "_after.py"))
            got = (work / before.name.replace("_before.py", ".py")).read_text(encoding="utf-8")
            expected = after.read_text(encoding="utf-8")
            if got == expected:
                print(f"  {before.name}: fixed copy equals {after.name}")
            else:
                ok = False
                print(f"  {before.name}: MISMATCH with {after.name}")
                sys.stdout.writelines(difflib.unified_diff(expected.splitlines(True), got.splitlines(True),
                                                           "expected", "got"))
        again = _run("mcore-fix", ".", "--diff", *sc.args, *sc.fix_args, cwd=work)
        relint = _run("mcore-lint", ".", *sc.args, cwd=work)
        print(f"  second mcore-fix --diff: exit {again.returncode} ({'no change' if not again.stdout else 'CHANGES'})")
        print(f"  mcore-lint after fixing: exit {relint.returncode} {relint.stdout.strip()}\n")
        return (ok and lint.returncode == 1 and fixed.returncode == 0 and again.returncode == 0
                and relint.returncode == 0)


def main() -> int:
    results = [_scenario(sc) for sc in SCENARIOS]
    ok = all(results)
    print("demo_fix:", "OK" if ok else "FAILED", f"({sum(results)}/{len(results)} scenarios)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench.imports``: time ``mcore-fix`` on one big generated file needing one import fix.

Why: a fix that adds or removes an import used to run libcst's Add/RemoveImportsVisitor over
the whole module (380 s for 0.86 MB); ``lint/fix/imports.py`` now hands libcst only the
import head and the statements holding a removed import. This measures both on the same file.

The file: the seed's SFT trainer (``fixtures/mc101/sft_trainer_before.py``: MC101 sites whose
fix adds ``from megatron.core import parallel_state`` and removes a now unused nested import),
followed by real top-level defs/classes of megatron-core 0.16.1 (downloaded by
``tools.corpus``), renamed per copy, up to ``--mb`` megabytes. Runs ``mcore-fix --select MC101
--no-cache -j 1`` on a copy (new path), then with ``schedule_imports`` replaced by the
whole-file reference (old path, ``--reference``; minutes), and checks both write the same bytes.
Prints wall times; writes nothing in the repository.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED = ROOT / "fixtures" / "mc101" / "sft_trainer_before.py"
FIX = [sys.executable, "-c", "from mcore_lint.cli import fix_main; fix_main()"]
OLD = [sys.executable, "-c", ("import mcore_lint.fix.loop as loop, mcore_lint.fix.imports as imports\n"
                              "loop.schedule_imports = imports.schedule_imports_whole_file\n"
                              "from mcore_lint.cli import fix_main; fix_main()")]
ARGS = ["--select", "MC101", "--no-cache", "-j", "1", "--exit-zero"]


def generate(megabytes: float) -> str:
    """The seed followed by renamed real megatron-core defs/classes until ``megabytes`` MB."""
    from tools.corpus import files

    chunks: list[str] = []
    for path in files("megatron-core-0.16.1"):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        lines = text.splitlines(keepends=True)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                chunks.append("".join(lines[first - 1:node.end_lineno]))
    seed = SEED.read_text(encoding="utf-8")
    out, size, i = [seed], len(seed), 0
    while size < megabytes * 1_000_000:
        chunk = chunks[i % len(chunks)]
        renamed = re.sub(r"^((?:async\s+)?(?:def|class)\s+)(\w+)", rf"\g<1>\g<2>_copy{i}", chunk, count=1,
                         flags=re.MULTILINE)
        out.append("\n\n" + renamed)
        size += len(renamed) + 2
        i += 1
    text = "".join(out)
    ast.parse(text)
    return text


def run(cmd: list[str], path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd + ARGS + [str(path)], check=True, stdout=subprocess.DEVNULL, cwd=path.parent)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1.0, help="size of the generated file in MB (default 1.0)")
    parser.add_argument("--reference", action="store_true", help="also time the old whole-file libcst path")
    args = parser.parse_args(argv)
    text = generate(args.mb)
    with tempfile.TemporaryDirectory(prefix="mcore-bench-imports-") as tmp:
        new = Path(tmp, "new", "big_trainer.py")
        new.parent.mkdir()
        new.write_text(text, encoding="utf-8")
        print(f"generated file: {len(text.encode()) / 1e6:.2f} MB, {text.count(chr(10)) + 1} lines")
        seconds = run(FIX, new)
        result = new.read_text(encoding="utf-8")
        changed = [i + 1 for i, (a, b) in enumerate(zip(text.splitlines(), result.splitlines())) if a != b]
        print(f"mcore-fix (import head only): {seconds:.1f} s wall; first changed lines {changed[:6]}")
        if result == text:
            print("error: nothing was fixed", file=sys.stderr)
            return 1
        if args.reference:
            old = Path(tmp, "old", "big_trainer.py")
            old.parent.mkdir()
            old.write_text(text, encoding="utf-8")
            ref_seconds = run(OLD, old)
            same = old.read_text(encoding="utf-8") == result
            print(f"mcore-fix (whole-file libcst, before): {ref_seconds:.1f} s wall; same output: {same}")
            if not same:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

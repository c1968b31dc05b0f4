"""Reliability figures of ``mcore-lint`` / ``mcore-fix`` on real code nobody here wrote (issue 12).

Why: a codemod that breaks one file of a large repository loses its users, so the claim "safe
to run on anything" is measured, not asserted: the shared real-code corpus (``tools.corpus``:
megatron-core 0.9.0 / 0.16.1 / 0.19.2, megatron-bridge 0.6.2, nemo-toolkit 2.2.1 nlp + lightning)
and the CPython standard library of the running interpreter go through the real command lines
(subprocesses, exactly what a user runs), on a copy:

1. ``mcore-lint --select ALL --output-format json``: every finding must lie inside its file;
2. ``mcore-fix --select ALL --unsafe-fixes``: every rewritten file must parse, keep its BOM and
   line endings, and only files with an applicable fix may change;
3. ``mcore-fix`` again: must change no byte (idempotent).

Every 7th file of the copy is converted to CRLF and every 11th gets a UTF-8 BOM first, so the
"kept as it was" checks see such files (the corpus itself has almost none). A crash is an exit
code other than 0/1/2, a traceback, or an "internal error" line on stderr; a parse failure is a
file named on stderr. The standard library must give zero findings and zero changes, its few
files that are not valid Python 3.11 on purpose (test data) named on stderr with exit code 2.

``python -m tools.reliability [--quick] [--no-stdlib] [--json FILE] [PART ...]`` prints the
figures (the README's "Reliability" section) and exits 1 when any invariant fails.
:func:`run_part` and :func:`run_stdlib` are what ``tests/real/test_reliability.py`` asserts on.
"""

from __future__ import annotations

import argparse
import ast
import codecs
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

try:  # importable both as ``tools.reliability`` (repo root on sys.path) and from within tools/
    from tools import corpus
except ImportError:  # pragma: no cover
    import corpus  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: The release every part is checked against: the newest indexed one, so that code written for
#: older releases (nemo 2.2.1, megatron-core 0.9.0) meets the most findings and fixes.
TARGET = "0.19.2"
CRLF_EVERY = 7
BOM_EVERY = 11
#: A subprocess that runs longer than this is killed and counted as a crash (a hang).
RUN_TIMEOUT_S = 1800
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ERROR_LINE = re.compile(r"^mcore-lint: error: (?P<path>.+?): (?P<reason>.*)$")
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=]", re.MULTILINE)


@dataclass
class RunFigures:
    """What one corpus part (or the stdlib) showed; every list names files (relative paths)."""

    name: str
    files: int = 0
    lines: int = 0
    findings: dict[str, int] = field(default_factory=dict)  # per rule code, from pass 1
    files_with_findings: int = 0
    fixed: int = 0  # findings whose fix was applied (pass 2 report)
    files_changed: int = 0
    exit_codes: tuple[int, ...] = ()  # lint, fix, fix again
    seconds: float = 0.0  # wall time of the three passes
    cpu_seconds: float = 0.0  # CPU time of the three passes (subprocesses and their workers)
    crashes: list[str] = field(default_factory=list)  # exit code / traceback / internal error
    problems: list[str] = field(default_factory=list)  # "path: reason" named on stderr (any pass)
    bad_locations: list[str] = field(default_factory=list)
    unparsable_after_fix: list[str] = field(default_factory=list)
    changed_without_fix: list[str] = field(default_factory=list)
    style_lost: list[str] = field(default_factory=list)  # BOM or line-ending style not kept
    non_idempotent: list[str] = field(default_factory=list)
    crlf_files: int = 0
    bom_files: int = 0
    crlf_changed: int = 0  # changed files that were CRLF (the style check had something to see)

    @property
    def total_findings(self) -> int:
        return sum(self.findings.values())

    def failures(self, allowed_problems: frozenset[str] = frozenset()) -> list[str]:
        """Every broken invariant, one line each (empty: the run was clean)."""
        out = [f"crash: {c}" for c in self.crashes]
        out += [f"problem: {p}" for p in self.problems if p.split(": ", 1)[0] not in allowed_problems]
        out += [f"finding outside its file: {b}" for b in self.bad_locations]
        out += [f"does not parse after fix: {p}" for p in self.unparsable_after_fix]
        out += [f"changed without an applicable fix: {p}" for p in self.changed_without_fix]
        out += [f"BOM or line endings not kept: {p}" for p in self.style_lost]
        out += [f"second fix run changed: {p}" for p in self.non_idempotent]
        return out


# ----------------------------------------------------------------------------- helpers
def _cli(tool: str, args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run ``mcore-lint``/``mcore-fix`` of this environment; (exit code, stdout, stderr)."""
    exe = BIN / tool
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c",
                                           f"from mcore_lint.cli import {tool.split('-')[1]}_main as m; m()"]
    try:
        proc = subprocess.run(cmd + args, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        return -9, e.stdout or "", (e.stderr or "") + f"\n(timeout after {RUN_TIMEOUT_S} s)"
    return proc.returncode, proc.stdout, proc.stderr


def _children_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _snapshot(top: Path) -> dict[str, bytes]:
    return {p.relative_to(top).as_posix(): p.read_bytes() for p in sorted(top.rglob("*"))
            if p.is_file() and ".mcore_lint_cache" not in p.parts}


def _decode(data: bytes) -> str:
    """The text as the linter sees it (BOM, coding cookie), for location and parse checks."""
    from mcore_lint.files import decode

    return decode(data).text


def _line_style(data: bytes) -> tuple[bool, bool]:
    """(has CRLF, has a bare LF or CR)."""
    crlf = data.count(b"\r\n")
    return crlf > 0, data.count(b"\n") > crlf or data.count(b"\r") > crlf


def add_variants(top: Path) -> tuple[int, int]:
    """Convert every CRLF_EVERY-th file below ``top`` to CRLF and give every BOM_EVERY-th a UTF-8
    BOM (only files without a coding cookie, where a BOM is legal). (crlf files, bom files)."""
    crlf = bom = 0
    for i, p in enumerate(sorted(top.rglob("*.py"))):
        data = p.read_bytes()
        new = data
        if i % CRLF_EVERY == 3 and b"\r" not in data:
            new = new.replace(b"\n", b"\r\n")
            crlf += 1
        if i % BOM_EVERY == 5 and not data.startswith(codecs.BOM_UTF8) and not _COOKIE.search(b"\n".join(data.split(b"\n")[:2])):
            new = codecs.BOM_UTF8 + new
            bom += 1
        if new != data:
            p.write_bytes(new)
    return crlf, bom


def _problems(stderr: str) -> list[str]:
    return [f"{m['path']}: {m['reason']}" for line in stderr.splitlines() if (m := _ERROR_LINE.match(line))]


def _crashes(label: str, code: int, stderr: str) -> list[str]:
    out = []
    if code not in (0, 1, 2):
        out.append(f"{label}: exit code {code}: {stderr.strip().splitlines()[-1:] or ''}")
    if "Traceback (most recent call last)" in stderr:
        out.append(f"{label}: traceback on stderr: {stderr.strip().splitlines()[-1]}")
    out += [f"{label}: {line}" for line in stderr.splitlines() if "internal error" in line]
    return out


def _location_ok(text: str, f: dict) -> bool:
    lines = _LINE_BREAK.split(text)
    (r1, c1), (r2, c2) = (f["location"]["row"], f["location"]["column"]), (f["end_location"]["row"], f["end_location"]["column"])
    if not (1 <= r1 <= r2 <= len(lines)):
        return False
    if not (1 <= c1 <= len(lines[r1 - 1]) + 1 and 1 <= c2 <= len(lines[r2 - 1]) + 1):
        return False
    return r1 < r2 or c1 <= c2


def _fixable(f: dict) -> bool:
    return bool(f.get("fix")) and f["fix"]["applicability"] in ("safe", "unsafe")


# ----------------------------------------------------------------------------- runs
def check_tree(name: str, top: Path, *, target: str = TARGET, cwd: Path | None = None) -> RunFigures:
    """Lint, fix and fix again the tree ``top`` (already a writable copy) and record the figures.
    Paths in the figures are relative to ``cwd`` (default: ``top``'s parent)."""
    cwd = cwd or top.parent
    rel_top = os.path.relpath(top, cwd)
    fig = RunFigures(name)
    start, cpu_start = time.perf_counter(), _children_cpu()
    old = _snapshot(top)
    fig.files = sum(1 for k in old if k.endswith((".py", ".pyi")))
    fig.crlf_files = sum(1 for d in old.values() if b"\r\n" in d)
    fig.bom_files = sum(1 for d in old.values() if d.startswith(codecs.BOM_UTF8))
    fig.lines = sum(d.count(b"\n") + (1 if d and not d.endswith(b"\n") else 0)  # as tools.corpus counts
                    for d in (v.removeprefix(codecs.BOM_UTF8) for v in old.values()))
    common = ["--select", "ALL", "--target-version", target]

    # pass 1: lint, every finding inside its file
    code1, out1, err1 = _cli("mcore-lint", common + ["--output-format", "json", rel_top], cwd)
    fig.crashes += _crashes("mcore-lint", code1, err1)
    problems = _problems(err1)
    try:
        found = json.loads(out1) if out1.strip() else []
    except json.JSONDecodeError:
        fig.crashes.append(f"mcore-lint: stdout is not JSON: {out1[:200]!r}")
        found = []
    fig.findings = dict(sorted(Counter(f["code"] for f in found).items(), key=lambda kv: (-kv[1], kv[0])))
    fig.files_with_findings = len({f["filename"] for f in found})
    texts: dict[str, str] = {}
    for f in found:
        key = os.path.relpath(os.path.join(cwd, f["filename"]), top).replace(os.sep, "/")
        if key not in texts:
            texts[key] = _decode(old[key]) if key in old else ""
        if key not in old or not _location_ok(texts[key], f):
            fig.bad_locations.append(f"{f['filename']}:{f['location']['row']}:{f['location']['column']} {f['code']}")
    fixable = {os.path.relpath(os.path.join(cwd, f["filename"]), top).replace(os.sep, "/") for f in found if _fixable(f)}

    # pass 2: fix
    code2, out2, err2 = _cli("mcore-fix", common + ["--unsafe-fixes", rel_top], cwd)
    fig.crashes += _crashes("mcore-fix", code2, err2)
    problems += _problems(err2)
    m = re.search(r"\((\d+) fixed, \d+ remaining\)", out2)
    fig.fixed = int(m.group(1)) if m else 0
    new = _snapshot(top)
    for key, data in new.items():
        before = old.get(key)
        if before == data:
            continue
        if before is None:
            fig.changed_without_fix.append(f"{key} (new file left in the tree)")
            continue
        fig.files_changed += 1
        if key not in fixable:
            fig.changed_without_fix.append(key)
        try:
            ast.parse(_decode(data))
        except (SyntaxError, ValueError) as e:
            fig.unparsable_after_fix.append(f"{key}: {e}")
        crlf_before, mixed_before = _line_style(before)
        crlf_after, mixed_after = _line_style(data)
        fig.crlf_changed += crlf_before and not mixed_before
        if before.startswith(codecs.BOM_UTF8) != data.startswith(codecs.BOM_UTF8) or \
                (not mixed_before and (mixed_after or crlf_after != crlf_before)):
            fig.style_lost.append(key)
    fig.changed_without_fix += [f"{k} (deleted)" for k in old if k not in new]

    # pass 3: fix again, nothing may change
    code3, _out3, err3 = _cli("mcore-fix", common + ["--unsafe-fixes", rel_top], cwd)
    fig.crashes += _crashes("mcore-fix (again)", code3, err3)
    again = _snapshot(top)
    fig.non_idempotent = sorted(k for k in set(again) | set(new) if again.get(k) != new.get(k))
    fig.exit_codes = (code1, code2, code3)
    fig.problems = sorted(set(problems))
    fig.seconds = round(time.perf_counter() - start, 1)
    fig.cpu_seconds = round(_children_cpu() - cpu_start, 1)
    return fig


def run_part(part: str, workdir: Path, *, stride: int | None = None, variants: bool = True,
             target: str = TARGET) -> RunFigures:
    """Copy corpus ``part`` (1-in-``stride`` files) below ``workdir`` and :func:`check_tree` it."""
    dest = workdir / part
    corpus.copy_tree(workdir / f".{part}.copy", [part], stride=stride)
    shutil.move(str(workdir / f".{part}.copy" / part), dest)
    shutil.rmtree(workdir / f".{part}.copy")
    if variants:
        add_variants(dest)
    return check_tree(part, dest, target=target, cwd=workdir)


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def copy_stdlib(dest: Path) -> None:
    """The stdlib's ``.py``/``.pyi`` files (no site-packages, no caches) copied to ``dest``."""
    src = stdlib_dir()
    for folder, dirs, names in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d not in ("site-packages", "__pycache__")
                         and not (folder == str(src) and d.startswith("config-")))
        for n in names:
            if n.endswith((".py", ".pyi")):
                s = Path(folder, n)
                if s.is_symlink() or not s.is_file():
                    continue
                t = dest / s.relative_to(src)
                t.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(s, t)


def run_stdlib(workdir: Path) -> RunFigures:
    """The CPython standard library of this interpreter, copied below ``workdir``."""
    dest = workdir / "cpython-stdlib"
    copy_stdlib(dest)
    fig = check_tree(f"cpython-{sys.version_info.major}.{sys.version_info.minor} stdlib", dest, cwd=workdir)
    return fig


# ----------------------------------------------------------------------------- report
def render(parts: list[RunFigures], stdlib: RunFigures | None) -> str:
    head = f"{'part':<22} {'files':>6} {'lines':>8} {'findings':>8} {'fixed':>6} {'changed':>7} " \
           f"{'crashes':>7} {'problems':>8} {'non-idem':>8} {'wall s':>7} {'CPU s':>6}"
    rows = [head]
    allp = parts + ([stdlib] if stdlib else [])
    for f in allp:
        rows.append(f"{f.name:<22} {f.files:>6} {f.lines:>8} {f.total_findings:>8} {f.fixed:>6} {f.files_changed:>7} "
                    f"{len(f.crashes):>7} {len(f.problems):>8} {len(f.non_idempotent):>8} {f.seconds:>7} {f.cpu_seconds:>6}")
    tot = RunFigures("corpus total")
    per_rule: Counter = Counter()
    for f in parts:
        tot.files += f.files
        tot.lines += f.lines
        tot.fixed += f.fixed
        tot.files_changed += f.files_changed
        per_rule.update(f.findings)
    rows.append(f"{'corpus total':<22} {tot.files:>6} {tot.lines:>8} {sum(per_rule.values()):>8} {tot.fixed:>6} "
                f"{tot.files_changed:>7} {sum(len(f.crashes) for f in parts):>7} "
                f"{sum(len(f.problems) for f in parts):>8} {sum(len(f.non_idempotent) for f in parts):>8}")
    rows.append("")
    repos = {p.name.rsplit("-", 1)[0] for p in parts}
    rows.append(f"repositories: {len(repos)} ({', '.join(sorted(repos))}), {len(parts)} releases; "
                f"target megatron-core {TARGET}; all rules (--select ALL), fixes with --unsafe-fixes")
    rows.append("findings per rule: " + (", ".join(f"{c} {n}" for c, n in sorted(per_rule.items(), key=lambda kv: (-kv[1], kv[0])))
                                         or "none"))
    rows.append(f"crashes: {sum(len(f.crashes) for f in parts)}; parse failures: {sum(len(f.problems) for f in parts)}; "
                f"non-idempotent files: {sum(len(f.non_idempotent) for f in parts)}; rewritten files that do not parse: "
                f"{sum(len(f.unparsable_after_fix) for f in parts)}; changed without a fix: "
                f"{sum(len(f.changed_without_fix) for f in parts)}; BOM/line endings lost: {sum(len(f.style_lost) for f in parts)} "
                f"(of {sum(f.crlf_files for f in parts)} CRLF and {sum(f.bom_files for f in parts)} BOM files; "
                f"{sum(f.crlf_changed for f in parts)} CRLF files rewritten)")
    if stdlib:
        rows.append(f"stdlib: {stdlib.total_findings} findings, {stdlib.files_changed} files changed, exit codes "
                    f"{'/'.join(map(str, stdlib.exit_codes))}; not valid Python {sys.version_info.major}."
                    f"{sys.version_info.minor} (named on stderr): {len(stdlib.problems)}")
        rows += [f"  {p}" for p in stdlib.problems]
    failing = [f"{f.name}: {x}" for f in parts for x in f.failures()]
    if stdlib:
        failing += [f"{stdlib.name}: {x}" for x in stdlib_failures(stdlib)]
    rows.append("")
    rows.append("FAILURES:\n  " + "\n  ".join(failing) if failing else "all invariants hold")
    return "\n".join(rows) + "\n"


def stdlib_failures(fig: RunFigures) -> list[str]:
    """The stdlib run's broken invariants: any finding or change, or a file named on stderr that
    really is valid Python 3 (CPython's own ``compile`` decides), or exit codes other than 2."""
    out = fig.failures(allowed_problems=frozenset(p.split(": ", 1)[0] for p in fig.problems))
    if fig.total_findings:
        out.append(f"{fig.total_findings} findings: {fig.findings}")
    if fig.files_changed:
        out.append(f"{fig.files_changed} files changed")
    for p in fig.problems:
        rel = p.split(": ", 1)[0].split("/", 1)[1]
        try:
            compile((stdlib_dir() / rel).read_bytes(), rel, "exec", dont_inherit=True)
            out.append(f"named on stderr but compiles: {p}")
        except (SyntaxError, ValueError):
            pass
    if fig.problems and fig.exit_codes != (2, 2, 2):
        out.append(f"exit codes {fig.exit_codes}, want 2 (files that do not parse)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.reliability", description=__doc__.split("\n\n")[0])
    ap.add_argument("parts", nargs="*", help=f"corpus parts (default: all: {', '.join(corpus.ALL_PARTS)})")
    ap.add_argument("--quick", action="store_true", help=f"1 in {corpus.QUICK_STRIDE} files of each part")
    ap.add_argument("--no-stdlib", action="store_true", help="skip the CPython standard library run")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    args = ap.parse_args(argv)
    parts = args.parts or list(corpus.ALL_PARTS)
    with tempfile.TemporaryDirectory(prefix="mcore-reliability-") as tmp:
        work = Path(tmp)
        figs = []
        for p in parts:
            print(f"... {p}", file=sys.stderr, flush=True)
            figs.append(run_part(p, work, stride=corpus.QUICK_STRIDE if args.quick else None))
        std = None
        if not args.no_stdlib:
            print("... CPython stdlib", file=sys.stderr, flush=True)
            std = run_stdlib(work)
    text = render(figs, std)
    print(text, end="")
    if args.json:
        args.json.write_text(json.dumps({"parts": [asdict(f) for f in figs], "stdlib": asdict(std) if std else None},
                                        indent=2) + "\n")
    ok = not any(f.failures() for f in figs) and (std is None or not stdlib_failures(std))
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

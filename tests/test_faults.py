"""Faults during a fix run never corrupt a file (issue 12).

``mcore-fix`` killed with SIGKILL (the whole process group: the CLI and its worker pool) at
arbitrary moments over many files: every file is afterwards byte-identical to its old or its
new content, and the next run removes the temp files a killed write left behind and finishes
the job. A process killed inside the atomic write itself (deterministically: its ``fsync`` is
the kill) leaves the old content and a temp file that the next run removes; a temp file of a
run that is still alive is left alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
N_FILES = 120
ARGS = ["--select", "ALL", "--target-version", "0.17.1", "--no-cache", "-j", "2"]
TEMP_GLOB = "*.mcore-fix.tmp"


def _module(i: int) -> bytes:
    """A trainer-like module with two MC104 fixes (in-place renames: cheap, so the test is
    fast) and filler so that files are not trivially small; every 5th is CRLF. Only two
    shapes (LF, CRLF), so the reference run fixes two files."""
    filler = "".join(f"def helper_{k}(x):\n    return x * {k}  # filler\n\n\n" for k in range(80))
    body = textwrap.dedent("""\
        import torch
        from megatron.core import parallel_state


        def loss(loss):
            group = parallel_state.get_data_modulo_expert_parallel_group()
            torch.distributed.all_reduce(loss, group=group)
            return loss, parallel_state.get_data_modulo_expert_parallel_rank()


        """)
    data = (body + filler).encode()
    return data.replace(b"\n", b"\r\n") if i % 5 == 0 else data


def _make(top: Path) -> dict[str, bytes]:
    top.mkdir(parents=True)
    files = {}
    for i in range(N_FILES):
        rel = f"pkg{i % 4}/mod_{i:03d}.py"
        (top / rel).parent.mkdir(exist_ok=True)
        (top / rel).write_bytes(_module(i))
        files[rel] = _module(i)
    return files


def _read(top: Path, rels) -> dict[str, bytes]:
    return {r: (top / r).read_bytes() for r in rels}


@pytest.fixture(scope="module")
def new_content(tmp_path_factory) -> dict[str, bytes]:
    """What a complete, uninterrupted fix run writes (the reference), per file of :func:`_make`."""
    top = tmp_path_factory.mktemp("faults-ref")
    (top / "lf.py").write_bytes(_module(1))
    (top / "crlf.py").write_bytes(_module(0))
    proc = subprocess.run([str(BIN / "mcore-fix"), *ARGS, "."], cwd=top, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    lf, crlf = (top / "lf.py").read_bytes(), (top / "crlf.py").read_bytes()
    assert lf != _module(1) and crlf != _module(0) and crlf == lf.replace(b"\n", b"\r\n"), "both need a fix"
    return {f"pkg{i % 4}/mod_{i:03d}.py": crlf if i % 5 == 0 else lf for i in range(N_FILES)}


def _kill_when(top: Path, old: dict[str, bytes], at_least: int) -> tuple[int | None, int]:
    """Start mcore-fix on ``top`` in its own session; SIGKILL the session once ``at_least``
    files changed. (exit code, files changed when killed)."""
    proc = subprocess.Popen([str(BIN / "mcore-fix"), *ARGS, "."], cwd=top, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    changed = 0
    deadline = time.monotonic() + 600
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            changed = sum(1 for r, d in old.items() if (top / r).read_bytes() != d)
            if changed >= at_least:
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    _wait_session_dead(proc.pid)
    return proc.returncode, changed


def _wait_session_dead(sid: int, timeout: float = 60.0) -> None:
    """Wait until no process of session ``sid`` runs (zombies count as dead, as in
    ``lint.files._alive``): SIGKILL is delivered at once, but a loaded machine may take a while
    to tear the forked workers down, and until then their temp files are rightly kept."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == sid and fields[0] not in (b"Z", b"X"):
                running.append(int(entry))
        if not running:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of the killed session {sid} still run after {timeout} s")


def test_sigkill_mid_run_leaves_every_file_old_or_new(tmp_path, new_content):
    top = tmp_path / "tree"
    old = _make(top)
    killed_at = []
    for at_least in (1, N_FILES // 3):
        code, changed = _kill_when(top, old, at_least)
        killed_at.append((code, changed))
        now = _read(top, old)
        torn = [r for r in old if now[r] not in (old[r], new_content[r])]
        assert not torn, f"files neither old nor new after SIGKILL ({killed_at}): {torn[:5]}"
    assert any(code == -signal.SIGKILL and 0 < changed < N_FILES for code, changed in killed_at), \
        f"no kill landed mid-run: {killed_at}"
    proc = subprocess.run([str(BIN / "mcore-fix"), *ARGS, "."], cwd=top, capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    assert _read(top, old) == new_content
    leftovers = sorted(p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file() and
                       not p.name.endswith(".py"))
    assert leftovers == [], f"left in the tree after the next run: {leftovers}"


KILL_IN_WRITE = """
import os, signal, sys
from pathlib import Path
from mcore_lint import files

def killed(fd):
    os.kill(os.getpid(), signal.SIGKILL)

os.fsync = killed  # the data is in the temp file; the kill comes before os.replace
files.write_atomic(Path(sys.argv[1]), b"half-way new content\\n")
"""


def test_sigkill_inside_the_atomic_write_keeps_the_old_content_and_next_run_cleans_up(tmp_path, new_content):
    rel = "pkg1/mod_001.py"
    target = tmp_path / "mod.py"
    target.write_bytes(_module(1))
    proc = subprocess.run([sys.executable, "-c", KILL_IN_WRITE, str(target)], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    temps = list(tmp_path.glob(".mod.py.*" + ".mcore-fix.tmp"))
    assert len(temps) == 1 and temps[0].read_bytes() == b"half-way new content\n", os.listdir(tmp_path)
    assert target.read_bytes() == _module(1)

    # a temp file of a live process (a concurrent run) must survive the next run
    alive = tmp_path / f".other.py.{os.getpid()}.abcd1234.mcore-fix.tmp"
    alive.write_bytes(b"in flight")
    proc = subprocess.run([str(BIN / "mcore-fix"), *ARGS, "mod.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    assert target.read_bytes() == new_content[rel]  # the same module, fixed as in the reference run
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name, "mod.py"]
    alive.unlink()


def test_sigkill_during_lint_changes_nothing(tmp_path):
    """A killed check run writes nothing but its cache folder."""
    top = tmp_path / "tree"
    old = _make(top)
    proc = subprocess.Popen([str(BIN / "mcore-lint"), "--select", "ALL", "--target-version", "0.16.1", "."],
                            cwd=top, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(1.0)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert _read(top, old) == old
    stray = [p for p in top.rglob("*") if p.is_file() and not p.name.endswith(".py")
             and ".mcore_lint_cache" not in p.parts]
    assert stray == []
    shutil.rmtree(top)

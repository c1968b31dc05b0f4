"""Released packages from PyPI, downloaded once into one cache folder and unpacked there.

Tests, benchmarks and the API-index generator all read real megatron-core (and downstream)
code from here; nothing downloaded is ever committed. The folder is
``$MCORE_COMPAT_CACHE`` (default ``~/.cache/mcore-compat``) so a fresh clone on the same
machine reuses it. Concurrent callers (pytest workers, helper processes) are serialised per
artifact with ``flock``; an artifact appears under its final name only when complete
(temp dir, then rename), so a killed download never leaves a half-unpacked release behind.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CACHE = Path(os.environ.get("MCORE_COMPAT_CACHE", Path.home() / ".cache" / "mcore-compat"))
WHEELS = CACHE / "wheels"
UNPACKED = CACHE / "unpacked"

#: The megatron-core releases the shim's multi-process tests run against (issue: foundation).
SHIM_TEST_RELEASES = ("0.9.0", "0.12.3", "0.14.0", "0.15.3", "0.16.1", "0.17.1")


class DownloadError(RuntimeError):
    pass


@contextmanager
def _locked(name: str) -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    lock_dir = CACHE / "locks"
    lock_dir.mkdir(exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _norm(package: str) -> str:
    return package.replace("-", "_").lower()


def _find_wheel(package: str, version: str) -> Path | None:
    for p in sorted(WHEELS.glob(f"{_norm(package)}-{version}-*.whl")):
        return p
    return None


def wheel(package: str, version: str) -> Path:
    """Path of the wheel of ``package==version``, downloading it on first use.

    Tries a wheel for this interpreter first, then a Python 3.12 wheel (megatron-core 0.17+
    and megatron-bridge publish only those; we only read or import their pure-Python sources).
    """
    with _locked(f"wheel-{_norm(package)}-{version}"):
        found = _find_wheel(package, version)
        if found:
            return found
        WHEELS.mkdir(parents=True, exist_ok=True)
        attempts = [
            ["--only-binary=:all:"],
            ["--only-binary=:all:", "--python-version", "3.12"],
        ]
        errors = []
        for extra in attempts:
            with tempfile.TemporaryDirectory(dir=WHEELS) as tmp:
                cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                       "--disable-pip-version-check", *extra, "-d", tmp, f"{package}=={version}"]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                got = list(Path(tmp).glob("*.whl"))
                if proc.returncode == 0 and got:
                    dest = WHEELS / got[0].name
                    os.replace(got[0], dest)
                    return dest
                errors.append(proc.stderr.strip().splitlines()[-1:] or ["(no output)"])
        raise DownloadError(f"could not download a wheel of {package}=={version}: {errors}")


def unpacked(package: str, version: str) -> Path:
    """Folder holding the unpacked wheel of ``package==version`` (put it on PYTHONPATH or read it)."""
    dest = UNPACKED / f"{_norm(package)}-{version}"
    if (dest / ".complete").exists():
        return dest
    whl = wheel(package, version)
    with _locked(f"unpack-{_norm(package)}-{version}"):
        if (dest / ".complete").exists():
            return dest
        UNPACKED.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=UNPACKED, prefix=f".{dest.name}-"))
        try:
            with zipfile.ZipFile(whl) as zf:
                zf.extractall(tmp)
            (tmp / ".complete").write_text(whl.name + "\n")
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return dest


def megatron_core(version: str) -> Path:
    """Unpacked megatron-core release; ``<it>/megatron/core`` is the package."""
    return unpacked("megatron-core", version)


if __name__ == "__main__":  # pragma: no cover - convenience: python -m tools.downloads 0.16.1 ...
    for v in sys.argv[1:] or SHIM_TEST_RELEASES:
        print(megatron_core(v))

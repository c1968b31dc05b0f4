"""Result cache: ``.mcore_lint_cache/`` at the project root, safe to delete at any time.

One JSON file per (tool build, settings): ``.mcore_lint_cache/<version>/<settings-hash>.json``
mapping each file (path relative to the root) to the hash of its content (plus the rules run
on it and its module name) and the findings. A file whose content hash matches is not parsed
again. The tool build includes the size and mtime of every module of ``mcore_lint``, so editing
a rule during development invalidates the cache too, and the content of the shipped data the
rules read (:data:`SHIPPED_DATA`: the API index, ``facts.toml`` and the modules that load them),
so a regenerated index or a corrected fact re-checks every file. Writes are atomic; concurrent runs at
worst lose each other's new entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

from .findings import Applicability, Edit, Finding, Fix, ImportRequest, Location

CACHE_DIR = ".mcore_lint_cache"

#: Files of ``mcore_compat`` whose content decides findings (MC102-MC104 and MC2xx read the API
#: index through ``api_index.py``; MC103/MC104, MC203/MC204 and the drop-in read ``facts.py``,
#: ``facts.toml``); ``data/*`` covers every file shipped there, present or future.
SHIPPED_DATA: tuple[str, ...] = ("data/*", "api_index.py", "facts.py")


def _shipped_data_files() -> list[tuple[str, Path]]:
    """``(path below mcore_compat/, path)`` of the files of :data:`SHIPPED_DATA`, sorted."""
    try:
        import mcore_compat
    except ImportError:  # pragma: no cover - mcore_lint ships with mcore_compat
        return []
    pkg = Path(mcore_compat.__file__).resolve().parent
    found: set[Path] = set()
    for pattern in SHIPPED_DATA:
        found.update(p for p in pkg.glob(pattern) if p.is_file())
    return sorted((p.relative_to(pkg).as_posix(), p) for p in found)


@lru_cache(maxsize=1)
def tool_fingerprint() -> str:
    from . import __version__

    pkg = Path(__file__).resolve().parent
    h = hashlib.blake2b(__version__.encode(), digest_size=12)
    for p in sorted(pkg.rglob("*")):
        if p.suffix in (".py", ".json") and "__pycache__" not in p.parts:
            st = p.stat()
            h.update(f"{p.relative_to(pkg)}:{st.st_size}:{st.st_mtime_ns}".encode())
    for rel, p in _shipped_data_files():  # content, not mtime: a copy or checkout keeps the key
        h.update(f"mcore_compat/{rel}:".encode())
        try:
            h.update(hashlib.blake2b(p.read_bytes(), digest_size=16).digest())
        except OSError as e:
            h.update(f"unreadable:{e.errno}".encode())
    return h.hexdigest()


def prepare(root: Path) -> Path:
    """Create ``root/.mcore_lint_cache/<version>/`` with a ``.gitignore`` (so git ignores the
    cache without any user setup) and a CACHEDIR.TAG; returns the version folder."""
    from . import __version__

    top = root / CACHE_DIR
    folder = top / __version__
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not (top / ".gitignore").exists():
            (top / ".gitignore").write_text("# created by mcore-lint\n*\n")
            (top / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n"
                                              "# mcore-lint cache; see https://bford.info/cachedir/\n")
    except OSError:
        pass
    return folder


def content_key(data: bytes, rule_codes: tuple[str, ...], module: str | None) -> str:
    h = hashlib.blake2b(data, digest_size=16)
    h.update(repr((rule_codes, module)).encode())
    return h.hexdigest()


class Cache:
    def __init__(self, root: Path, settings_fingerprint: str):
        from . import __version__

        digest = hashlib.blake2b(f"{tool_fingerprint()}|{settings_fingerprint}".encode(), digest_size=12).hexdigest()
        self.folder = root / CACHE_DIR / __version__
        self.path = self.folder / f"{digest}.json"
        self.entries: dict[str, dict] = {}
        self.dirty = False
        try:
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
            if isinstance(data, dict):
                self.entries = data
        except (OSError, ValueError):
            self.entries = {}

    def get(self, rel: str, key: str) -> list[Finding] | None:
        e = self.entries.get(rel)
        if not e or e.get("key") != key:
            return None
        try:
            return [finding_from_dict(d) for d in e["findings"]]
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, rel: str, key: str, findings: list[Finding]) -> None:
        self.entries[rel] = {"key": key, "findings": [finding_to_dict(f) for f in findings]}
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            prepare(self.folder.parent.parent)
            # json.dumps, not json.dump: only the one-shot encoder is the C one (json.dump
            # streams through the pure-Python encoder: 45 ms vs 8 ms for the corpus's cache,
            # paid by every run that re-checks even one file)
            text = json.dumps(self.entries, separators=(",", ":"))
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only tree still lints; the cache is an optimisation


def finding_to_dict(f: Finding) -> dict:
    d = {
        "code": f.code, "name": f.name, "message": f.message, "filename": f.filename,
        "location": [f.location.row, f.location.column], "end_location": [f.end_location.row, f.end_location.column],
        "url": f.url, "fix": None,
    }
    if f.fix is not None:
        d["fix"] = {
            "applicability": f.fix.applicability.value, "message": f.fix.message,
            "edits": [[e.content, [e.location.row, e.location.column], [e.end_location.row, e.end_location.column]]
                      for e in f.fix.edits],
            "imports": [[r.module, r.name, r.asname, r.remove] for r in f.fix.imports],
        }
        if f.fix.deferred:
            d["fix"]["deferred"] = True
    return d


def finding_from_dict(d: dict) -> Finding:
    fix = None
    if d.get("fix"):
        fx = d["fix"]
        fix = Fix(Applicability(fx["applicability"]), fx["message"],
                  tuple(Edit(c, Location(*a), Location(*b)) for c, a, b in fx["edits"]),
                  tuple(ImportRequest(m, n, a, r) for m, n, a, r in fx["imports"]), bool(fx.get("deferred")))
    return Finding(d["code"], d["name"], d["message"], d["filename"], Location(*d["location"]),
                   Location(*d["end_location"]), fix, d.get("url"))

"""Generate ``mcore_compat/data/api_index.jsonl``: the API of every megatron-core release.

Why generated, never typed: the version-aware rules (MC102-MC104), ``mcore-lint api`` and the
shim's feature checks all ask "does name N exist in release R, with which parameters?". A
hand-kept table drifts; the wheels on PyPI are the truth. This script downloads each release
(``tools.downloads``), reads ``megatron/core`` **statically** with :mod:`ast` (nothing is
imported: 0.18+ need triton, old ones need pkg_resources) and writes one compact file.

Per release the scan records, keyed by dotted qualname:

* every module and package of ``megatron.core`` (compiled ``.so`` modules too, flagged);
* functions (parameters: name, kind, default and annotation as source text; decorators);
* classes (resolved bases, decorators, constructor parameters, methods, class attributes);
  dataclass constructors take their fields, inherited ones included, with bases resolved
  statically across modules (``TransformerConfig(ModelParallelConfig)``);
* re-exports and imports (``from .x import y`` resolved to ``megatron.core.x.y``; star
  imports expanded) and module attributes.

Storage (format 2, read by :mod:`mcore_compat.api_index`): one shared table of distinct
records (``payloads``) and, per qualname, pairs ``(release bitmask, payload index)``, so a
symbol that never changed costs one record whatever the number of releases. JSON Lines
(a header, one line per qualname, one per record: a query decodes only the lines it reaches),
written deterministically (sorted names and keys) so a rebuild of the same releases is
byte-identical.

Usage::

    python -m tools.build_api_index                 # every final release >= 0.5.0 on PyPI
    python -m tools.build_api_index 0.12.0 0.16.1   # only these (e.g. for a quick look)
    python -m tools.build_api_index --out other.jsonl.gz
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "mcore_compat" / "data" / "api_index.jsonl"
FORMAT = 2  # mcore_compat.api_index.SUPPORTED_FORMAT: JSON Lines, decoded per line on demand
FIRST_RELEASE = Version("0.5.0")
PACKAGE = "megatron.core"

# Parameter kinds, as short codes (inspect.Parameter kinds).
POSONLY, POS, VARARGS, KWONLY, VARKW = "po", "pk", "va", "ko", "vk"

Record = dict[str, Any]


# --------------------------------------------------------------------------------------------
# release discovery
# --------------------------------------------------------------------------------------------


def parse_versions(pip_index_output: str) -> set[Version]:
    """Final releases >= 0.5.0 in the output of ``pip index versions`` (pre/dev dropped)."""
    m = re.search(r"Available versions:\s*(.+)", pip_index_output)
    if not m:
        return set()
    out = set()
    for v in m.group(1).split(","):
        ver = Version(v.strip())
        if not ver.is_prerelease and not ver.is_devrelease and ver >= FIRST_RELEASE:
            out.add(ver)
    return out


def discover_releases() -> list[str]:
    """Final megatron-core releases >= 0.5.0 on PyPI (3.11 wheels and 3.12-only wheels)."""
    found: set[Version] = set()
    errors = []
    for extra in ([], ["--python-version", "3.12", "--only-binary=:all:"]):
        cmd = [sys.executable, "-m", "pip", "index", "versions", "megatron-core",
               "--disable-pip-version-check", *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        got = parse_versions(proc.stdout)
        if not got:
            errors.append(proc.stderr.strip()[-300:])
        found |= got
    if not found:
        raise SystemExit(f"build_api_index: could not list megatron-core releases: {errors}")
    return [str(v) for v in sorted(found)]


# --------------------------------------------------------------------------------------------
# per-module parse
# --------------------------------------------------------------------------------------------


def _src(node: ast.AST | None) -> str | None:
    return None if node is None else ast.unparse(node)


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _decorator_name(node: ast.expr) -> str:
    """Decorator without its call arguments: ``@dataclass(kw_only=True)`` -> ``dataclass``."""
    target = node.func if isinstance(node, ast.Call) else node
    return _dotted(target) or ast.unparse(target)


def params_of(args: ast.arguments) -> list[list]:
    """Parameters as ``[name, kind, default source | None, annotation source | None]``."""
    out: list[list] = []
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    for i, a in enumerate(positional):
        kind = POSONLY if i < len(args.posonlyargs) else POS
        out.append([a.arg, kind, _src(defaults[i]), _src(a.annotation)])
    if args.vararg:
        out.append([args.vararg.arg, VARARGS, None, _src(args.vararg.annotation)])
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        out.append([a.arg, KWONLY, _src(d), _src(a.annotation)])
    if args.kwarg:
        out.append([args.kwarg.arg, VARKW, None, _src(args.kwarg.annotation)])
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return _dotted(test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}


@dataclass
class RawClass:
    """A class as parsed, before its bases are resolved across modules."""

    qualname: str
    module: str
    bases: list[str]  # dotted source text of each base
    decorators: list[str]
    dataclass_kw_only: bool | None  # None: not a dataclass
    dataclass_init: bool
    own_fields: list[list]  # parameters contributed by this class's annotated fields
    init: list[list] | None  # explicit __init__ parameters (self dropped)
    ann_fields: list[list] = field(default_factory=list)  # every annotated field (NamedTuple)


@dataclass
class ModuleScan:
    """Everything one module binds at top level, in source order (first binding wins)."""

    name: str
    is_package: bool
    records: dict[str, Record] = field(default_factory=dict)  # qualname -> record
    names: dict[str, str] = field(default_factory=dict)  # top-level name -> qualname it means
    stars: list[str] = field(default_factory=list)  # modules star-imported, in order
    all_names: list[str] | None = None
    classes: list[RawClass] = field(default_factory=list)


class ModuleParser:
    """Parses one module's source into a :class:`ModuleScan` (no cross-module knowledge)."""

    def __init__(self, name: str, is_package: bool):
        self.scan = ModuleScan(name, is_package)

    # -- name binding helpers --
    def _bind(self, local: str, record: Record, qualname: str | None = None) -> None:
        q = f"{self.scan.name}.{local}"
        if q not in self.scan.records:
            self.scan.records[q] = record
        self.scan.names.setdefault(local, qualname or q)

    def _resolve_relative(self, module: str | None, level: int) -> str:
        if level == 0:
            return module or ""
        base = self.scan.name.split(".")
        if not self.scan.is_package:
            base = base[:-1]
        if level > 1:
            base = base[: len(base) - (level - 1)]
        return ".".join([*base, module] if module else base)

    # -- statements --
    def visit_body(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.visit_stmt(stmt)

    def visit_stmt(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            rec: Record = {"k": "function", "p": params_of(stmt.args)}
            decos = [_decorator_name(d) for d in stmt.decorator_list]
            if decos:
                rec["d"] = decos
            if isinstance(stmt, ast.AsyncFunctionDef):
                rec["async"] = 1
            if stmt.name == "__getattr__":
                self.scan.records.setdefault(self.scan.name, {"k": "module"})["ga"] = 1
            self._bind(stmt.name, rec)
        elif isinstance(stmt, ast.ClassDef):
            self.visit_class(stmt, f"{self.scan.name}.{stmt.name}")
            self.scan.names.setdefault(stmt.name, f"{self.scan.name}.{stmt.name}")
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    self._bind(alias.asname, {"k": "alias", "to": alias.name}, alias.name)
                else:
                    top = alias.name.split(".")[0]
                    self._bind(top, {"k": "alias", "to": top}, top)
        elif isinstance(stmt, ast.ImportFrom):
            src = self._resolve_relative(stmt.module, stmt.level)
            for alias in stmt.names:
                if alias.name == "*":
                    self.scan.stars.append(src)
                    continue
                target = f"{src}.{alias.name}"
                self._bind(alias.asname or alias.name, {"k": "alias", "to": target}, target)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            self.visit_assign(stmt)
        elif isinstance(stmt, ast.If):
            if _is_type_checking(stmt.test):
                self.visit_body(stmt.orelse)  # the TYPE_CHECKING branch never runs
            else:
                self.visit_body(stmt.body)
                self.visit_body(stmt.orelse)
        elif isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            self.visit_body(stmt.body)
            for h in stmt.handlers:
                self.visit_body(h.body)
            self.visit_body(stmt.orelse)
            self.visit_body(stmt.finalbody)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            self.visit_body(stmt.body)

    def visit_assign(self, stmt: ast.Assign | ast.AnnAssign | ast.AugAssign) -> None:
        if isinstance(stmt, ast.AnnAssign) and stmt.value is None:
            return  # a bare annotation binds nothing at module level
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        names: list[str] = []
        for t in targets:
            elts = t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]
            names += [e.id for e in elts if isinstance(e, ast.Name)]
        value = stmt.value
        if "__all__" in names and isinstance(value, (ast.List, ast.Tuple)):
            vals = [e.value for e in value.elts if isinstance(e, ast.Constant)]
            if isinstance(stmt, ast.AugAssign) and self.scan.all_names is not None:
                self.scan.all_names += vals
            else:
                self.scan.all_names = vals
        ref = _dotted(value) if value is not None and len(names) == 1 else None
        for n in names:
            if ref and ref.split(".")[0] in self.scan.names:
                head, _, rest = ref.partition(".")
                target = self.scan.names[head] + (f".{rest}" if rest else "")
                self._bind(n, {"k": "alias", "to": target, "set": 1}, target)
            else:
                self._bind(n, {"k": "attr"})

    def visit_class(self, node: ast.ClassDef, qualname: str) -> None:
        decos = [_decorator_name(d) for d in node.decorator_list]
        dc_kw_only: bool | None = None
        dc_init = True
        for d in node.decorator_list:
            if _decorator_name(d) in {"dataclass", "dataclasses.dataclass"}:
                dc_kw_only = False
                if isinstance(d, ast.Call):
                    for kw in d.keywords:
                        if kw.arg == "kw_only" and isinstance(kw.value, ast.Constant):
                            dc_kw_only = bool(kw.value.value)
                        if kw.arg == "init" and isinstance(kw.value, ast.Constant):
                            dc_init = bool(kw.value.value)
        raw = RawClass(qualname, self.scan.name, [], decos, dc_kw_only, dc_init, [], None)
        raw.bases = [_dotted(b) or ast.unparse(b) for b in node.bases]
        self.scan.records.setdefault(qualname, {"k": "class"})
        self.scan.classes.append(raw)
        kw_only = bool(dc_kw_only)
        for stmt in self._class_statements(node.body):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                decos = [_decorator_name(d) for d in stmt.decorator_list]
                rec: Record = {"k": "method", "p": params_of(stmt.args)}
                if decos:
                    rec["d"] = decos
                self.scan.records.setdefault(f"{qualname}.{stmt.name}", rec)
                if stmt.name == "__init__" and raw.init is None:
                    raw.init = params_of(stmt.args)[1:]
            elif isinstance(stmt, ast.ClassDef):
                self.visit_class(stmt, f"{qualname}.{stmt.name}")
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                name = stmt.target.id
                ann = _src(stmt.annotation) or ""
                if dc_kw_only is not None and ann in {"KW_ONLY", "dataclasses.KW_ONLY"}:
                    kw_only = True
                    continue
                self.scan.records.setdefault(f"{qualname}.{name}", {"k": "attr"})
                if re.match(r"(typing\.)?ClassVar\b", ann):
                    continue
                raw.ann_fields.append([name, POS, _src(stmt.value), ann])
                if dc_kw_only is None:
                    continue
                default, in_init = self._field_default(stmt.value)
                if in_init:
                    raw.own_fields.append([name, KWONLY if kw_only else POS, default, ann])
            elif isinstance(stmt, (ast.Assign, ast.AugAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for t in targets:
                    for e in t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]:
                        if isinstance(e, ast.Name):
                            self.scan.records.setdefault(f"{qualname}.{e.id}", {"k": "attr"})

    def _class_statements(self, body: list[ast.stmt]) -> Iterable[ast.stmt]:
        for stmt in body:
            if isinstance(stmt, ast.If) and not _is_type_checking(stmt.test):
                yield from self._class_statements(stmt.body)
                yield from self._class_statements(stmt.orelse)
            elif isinstance(stmt, ast.Try):
                yield from self._class_statements(stmt.body)
            else:
                yield stmt

    @staticmethod
    def _field_default(value: ast.expr | None) -> tuple[str | None, bool]:
        """(default source, is an __init__ parameter) of a dataclass field's right-hand side."""
        if value is None:
            return None, True
        if isinstance(value, ast.Call) and _dotted(value.func) in {"field", "dataclasses.field"}:
            kws = {kw.arg: kw.value for kw in value.keywords}
            init = kws.get("init")
            if isinstance(init, ast.Constant) and init.value is False:
                return None, False
            if "default" in kws:
                return _src(kws["default"]), True
            if "default_factory" in kws:
                return f"<factory {_src(kws['default_factory'])}>", True
            return None, True
        return _src(value), True


# --------------------------------------------------------------------------------------------
# whole-release scan
# --------------------------------------------------------------------------------------------


def _writes_globals(tree: ast.Module) -> bool:
    """Whether module-level code binds names dynamically (``globals()[name] = ...``,
    ``globals().update(...)``), as megatron's ``retro/external_libs.py`` does: any attribute
    may then exist. Function and class bodies are not module-level code."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Call) and _dotted(node.func) == "globals":
            return True
        stack.extend(ast.iter_child_nodes(node))
    return False


def _module_name(rel: Path) -> tuple[str, bool]:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    if rel.suffix == ".so":
        parts[-1] = parts[-1].split(".")[0]  # helpers.cpython-311-x86_64-linux-gnu -> helpers
    return ".".join(parts), False


class ReleaseScanner:
    """Scans one unpacked release folder (holding ``megatron/core``) into a per-release view."""

    def __init__(self, root: Path):
        self.root = root
        self.modules: dict[str, ModuleScan] = {}
        self.records: dict[str, Record] = {}
        self.problems: list[str] = []

    def scan(self) -> dict[str, Record]:
        pkg = self.root / "megatron" / "core"
        if not pkg.is_dir():
            raise FileNotFoundError(f"no megatron/core package under {self.root}")
        files = sorted(p for p in pkg.rglob("*") if p.suffix in {".py", ".so"})
        for path in files:
            rel = path.relative_to(self.root)
            name, is_pkg = _module_name(rel)
            if path.suffix == ".so":
                self.records[name] = {"k": "module", "so": 1}
                continue
            try:
                with warnings.catch_warnings():  # megatron's invalid escapes are not ours
                    warnings.simplefilter("ignore")
                    tree = ast.parse(path.read_bytes(), filename=str(path))
            except SyntaxError as exc:  # record it, keep the module (it exists on disk)
                self.problems.append(f"{rel}:{exc.lineno}: {exc.msg}")
                self.records[name] = {"k": "module", "syntax_error": 1}
                continue
            parser = ModuleParser(name, is_pkg)
            parser.scan.records[name] = {"k": "module", "pkg": 1} if is_pkg else {"k": "module"}
            parser.visit_body(tree.body)
            if _writes_globals(tree):
                parser.scan.records[name]["dyn"] = 1
            self.modules[name] = parser.scan
        # namespace packages (folders without __init__.py that hold modules)
        for name in list(self.modules):
            parts = name.split(".")
            for i in range(2, len(parts)):
                self.records.setdefault(".".join(parts[:i]), {"k": "module", "pkg": 1})
        for scan in self.modules.values():  # a module file wins over its package's
            self.records[scan.name] = scan.records[scan.name]  # `from . import x` binding
        for scan in self.modules.values():
            for q, rec in scan.records.items():
                self.records.setdefault(q, rec)
        self._expand_stars()
        self._resolve_classes()
        return dict(sorted(self.records.items()))

    # -- resolution across modules --
    def canonical(self, qualname: str, depth: int = 0) -> str:
        """Follow aliases (per dotted prefix) to where ``qualname`` is defined."""
        if depth > 20:
            return qualname
        parts = qualname.split(".")
        for i in range(len(parts), 0, -1):
            prefix = ".".join(parts[:i])
            rec = self.records.get(prefix)
            if rec is None:
                continue
            if rec["k"] == "alias" and rec["to"] != prefix:
                return self.canonical(".".join([rec["to"], *parts[i:]]), depth + 1)
            return qualname
        return qualname

    def _expand_stars(self) -> None:
        """``from .x import *`` binds x's public names (its ``__all__`` if any) here."""
        for _ in range(5):  # star chains are short; iterate to a fixed point
            changed = False
            for scan in self.modules.values():
                for src in scan.stars:
                    other = self.modules.get(self.canonical(src))
                    if other is None:  # `from <compiled or external module> import *`:
                        self.records[scan.name]["dyn"] = 1  # its names are unknown here
                        continue
                    names = other.all_names
                    if names is None:
                        names = [q.rsplit(".", 1)[1] for q in self.records
                                 if q.startswith(other.name + ".")
                                 and "." not in q[len(other.name) + 1:]
                                 and not q.rsplit(".", 1)[1].startswith("_")]
                    for n in names:
                        q = f"{scan.name}.{n}"
                        if q not in self.records:
                            self.records[q] = {"k": "alias", "to": f"{other.name}.{n}"}
                            scan.names.setdefault(n, f"{other.name}.{n}")
                            changed = True
            if not changed:
                break

    def _resolve_base(self, raw: RawClass, base: str) -> str:
        scan = self.modules[raw.module]
        head, _, rest = base.partition(".")
        # a base named like an enclosing-scope class of the same module
        target = scan.names.get(head)
        if target is None:
            return base
        return self.canonical(target + (f".{rest}" if rest else ""))

    def _resolve_classes(self) -> None:
        self.raw = {c.qualname: c for s in self.modules.values() for c in s.classes}
        self._bases = {q: [self._resolve_base(c, b) for b in c.bases] for q, c in self.raw.items()}
        self._fields_memo: dict[str, list[list]] = {}
        for q, c in self.raw.items():
            if self.records.get(q, {}).get("k") != "class":
                continue  # the name was first bound otherwise (e.g. a try-branch import)
            rec: Record = {"k": "class"}
            if self._bases[q]:
                rec["b"] = self._bases[q]
            if c.decorators:
                rec["d"] = c.decorators
            if c.dataclass_kw_only is not None:
                rec["dc"] = 1
            init, origin = self._constructor(q, set())
            if init is not None:
                rec["i"] = init
            elif origin:
                rec["i_from"] = origin  # constructor of an external base: not known here
            self.records[q] = rec

    def _fields(self, q: str, seen: set[str]) -> list[list]:
        """Dataclass fields of class ``q`` in constructor order, inherited ones first."""
        if q in self._fields_memo:
            return self._fields_memo[q]
        c = self.raw.get(q)
        if c is None or q in seen:
            return []
        seen = seen | {q}
        merged: dict[str, list] = {}
        for b in reversed(self._bases[q]):
            for f in self._fields(b, seen):
                merged[f[0]] = f
        if c.dataclass_kw_only is not None:
            for f in c.own_fields:
                merged[f[0]] = f
        out = list(merged.values())
        self._fields_memo[q] = out
        return out

    def _constructor(self, q: str, seen: set[str]) -> tuple[list[list] | None, str | None]:
        """(parameters of ``q(...)``, external class the constructor comes from)."""
        c = self.raw.get(q)
        if c is None:
            return None, q if not q.startswith(PACKAGE + ".") else None
        if q in seen:
            return None, None
        if c.init is not None:
            return c.init, None
        if c.dataclass_kw_only is not None and c.dataclass_init:
            fields = self._fields(q, set())
            # fields without defaults may not follow defaulted positional ones: keep order
            return fields, None
        for b in self._bases[q]:
            if b in {"typing.NamedTuple", "NamedTuple"}:
                return c.ann_fields, None  # class syntax NamedTuple: its fields, in order
            if b in {"object", "ABC", "abc.ABC", "Generic", "typing.Generic", "Protocol"}:
                continue
            return self._constructor(b, seen | {q})
        return [], None  # no __init__ anywhere: object()


def scan_release(root: Path) -> dict[str, Record]:
    """Per-release view ``{qualname: record}`` of the unpacked release under ``root``."""
    return ReleaseScanner(root).scan()


# --------------------------------------------------------------------------------------------
# encoding
# --------------------------------------------------------------------------------------------


def encode(views: dict[str, dict[str, Record]]) -> dict:
    """Shared table of distinct records plus per-qualname (release bitmask, record) pairs."""
    releases = sorted(views, key=Version)
    payload_ids: dict[str, int] = {}
    payloads: list[Record] = []
    table: dict[str, dict[int, int]] = {}
    for bit, rel in enumerate(releases):
        for q, rec in views[rel].items():
            key = json.dumps(rec, sort_keys=True, separators=(",", ":"))
            pid = payload_ids.get(key)
            if pid is None:
                pid = payload_ids[key] = len(payloads)
                payloads.append(rec)
            masks = table.setdefault(q, {})
            masks[pid] = masks.get(pid, 0) | (1 << bit)
    symbols = []
    for q in sorted(table):
        pairs: list[int] = []
        for pid, mask in sorted(table[q].items(), key=lambda kv: (kv[1] & -kv[1], kv[0])):
            pairs += [mask, pid]
        symbols.append([q, pairs])
    return {
        "format": FORMAT,
        "package": PACKAGE,
        "generator": "tools/build_api_index.py",
        "source": "megatron-core wheels from PyPI, read with ast (never imported)",
        "releases": releases,
        "payloads": payloads,
        "symbols": symbols,
    }


def write(index: dict, out: Path) -> int:
    """Write the index as JSON Lines (``api_index.encode_lines``), deterministically; return the
    size in bytes."""
    from mcore_compat.api_index import encode_lines

    raw = encode_lines(index).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(raw)
    tmp.replace(out)
    return len(raw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("releases", nargs="*", help="releases to index (default: all on PyPI >= 0.5.0)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from tools.downloads import megatron_core

    releases = args.releases or discover_releases()
    views: dict[str, dict[str, Record]] = {}
    for rel in releases:
        t0 = time.perf_counter()
        scanner = ReleaseScanner(megatron_core(rel))
        views[rel] = scanner.scan()
        note = f"; {len(scanner.problems)} unparsable: {scanner.problems[:3]}" if scanner.problems else ""
        print(f"{rel}: {len(views[rel])} symbols in {time.perf_counter() - t0:.1f}s{note}",
              file=sys.stderr)
    index = encode(views)
    size = write(index, args.out)
    print(f"wrote {args.out} ({size / 1e6:.2f} MB, {len(index['symbols'])} qualnames, "
          f"{len(index['payloads'])} distinct records, {len(releases)} releases)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

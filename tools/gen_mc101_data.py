"""Generate ``lint/data/mc101_namespaces.json``: facts MC101 needs, read from real releases.

For every megatron-core release on PyPI in ``mcore_lint.target.KNOWN_RELEASES`` (wheels
downloaded by ``tools/downloads.py``, read statically with ``ast``, nothing imported):

* ``parallel_state_functions``: public top-level functions of ``megatron/core/parallel_state.py``
  (union over releases);
* ``modules``: for ``megatron.core`` and each ``megatron.core.<name>`` module/package, the names
  bound at its top level (defs, classes, imports, assignments, also inside top-level
  ``if``/``try``) plus its submodules, as the union over releases where it exists.

Run: ``.venv/bin/python -m tools.gen_mc101_data`` (rewrites the JSON; commit the result).
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "lint" / "data" / "mc101_namespaces.json"


def bound_names(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return set()
    out: set[str] = set()
    stack = list(tree.body)
    while stack:
        s = stack.pop()
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(s.name)
        elif isinstance(s, ast.Import):
            out.update(a.asname or a.name.partition(".")[0] for a in s.names)
        elif isinstance(s, ast.ImportFrom):
            out.update(a.asname or a.name for a in s.names if a.name != "*")
        elif isinstance(s, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = s.targets if isinstance(s, ast.Assign) else [s.target]
            for t in targets:
                out.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(s, (ast.If, ast.Try, ast.With)):
            stack.extend(s.body)
            stack.extend(getattr(s, "orelse", []))
            for h in getattr(s, "handlers", []):
                stack.extend(h.body)
            stack.extend(getattr(s, "finalbody", []))
    return out


def namespace(core: Path, rel: str) -> tuple[bool, set[str]]:
    """(exists, names) of module ``megatron.core[.rel]`` in the release rooted at ``core``."""
    target = core / rel if rel else core
    if target.is_dir() and (target / "__init__.py").exists():
        names = bound_names(target / "__init__.py")
        for child in target.iterdir():
            if child.suffix == ".py" and child.stem != "__init__":
                names.add(child.stem)
            elif child.is_dir() and (child / "__init__.py").exists():
                names.add(child.name)
        return True, names
    f = target.with_suffix(".py")
    if f.exists():
        return True, bound_names(f)
    return False, set()


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from lint.target import KNOWN_RELEASES  # noqa: E402  (the source folder of mcore_lint)
    from tools.downloads import megatron_core

    ps_functions: set[str] = set()
    modules: dict[str, set[str]] = {}
    releases = []
    for v in KNOWN_RELEASES:
        core = megatron_core(str(v)) / "megatron" / "core"
        releases.append(str(v))
        tree = ast.parse((core / "parallel_state.py").read_text(encoding="utf-8"))
        ps_functions.update(s.name for s in tree.body if isinstance(s, ast.FunctionDef) and not s.name.startswith("_"))
        rels = [""] + sorted(
            p.stem if p.suffix == ".py" else p.name
            for p in core.iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())
        )
        for rel in rels:
            if rel == "parallel_state":
                continue
            exists, names = namespace(core, rel)
            if exists:
                modules.setdefault("megatron.core" + (f".{rel}" if rel else ""), set()).update(names)
    data = {
        "source": "tools/gen_mc101_data.py over the megatron-core wheels on PyPI (read with ast)",
        "releases": releases,
        "parallel_state_functions": sorted(ps_functions),
        "modules": {k: sorted(v) for k, v in sorted(modules.items())},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}: {len(ps_functions)} parallel_state functions, {len(modules)} modules, {len(releases)} releases")


if __name__ == "__main__":
    main()

"""The upgrade report: what changed in megatron-core's API between two releases.

Categories (one :class:`Change` each):

* ``removed`` -- a public name of the old release that no longer resolves in the new one
  (a re-export that still leads somewhere is not removed); a removed module or class is one
  entry, its contents are counted, not listed.
* ``renamed`` -- a removal (or a keyword removal) the reviewed facts table explains
  (:mod:`.renames`), with its replacement, release and source.
* ``moved`` -- a removed name whose definition exists under exactly one other qualname in
  the new release (the data can tell this one by itself).
* ``added`` -- the reverse of removed.
* ``changed`` -- a function, method or constructor whose parameters changed: added/removed
  parameters, changed defaults or kinds, and positional shifts (the 0.19 ``with_gtp_remat``
  insertion silently changes positional calls).

Public means: no ``_``-prefixed component; imports of other packages are not API, and an
alias counts only when a package re-exports it (``megatron.core.tensor_parallel.X``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from mcore_compat.api_index import ApiIndex, Record, signature

from .renames import renames_between

KIND_ORDER = ("removed", "renamed", "moved", "changed", "added")
_CALLABLE = {"function", "method", "class"}


@dataclass
class Change:
    kind: str  # one of KIND_ORDER
    qualname: str
    what: str  # "function", "class", "module", "keyword", ...
    old: str | None = None  # old signature / spelling
    new: str | None = None  # new signature / replacement
    details: list[str] = field(default_factory=list)
    source: str | None = None  # for renames: where the fact comes from
    contains: int = 0  # for removed/added modules and classes: names inside

    @property
    def module(self) -> str:
        return self.qualname.rsplit(".", 1)[0]


@dataclass
class ApiDiff:
    old: str
    new: str
    module: str | None
    changes: list[Change]

    def counts(self) -> dict[str, int]:
        return {k: sum(1 for c in self.changes if c.kind == k) for k in KIND_ORDER}

    def to_json(self) -> dict:
        return {
            "old": self.old,
            "new": self.new,
            "module": self.module,
            "counts": self.counts(),
            "changes": [asdict(c) for c in self.changes],
        }


def _is_public(q: str) -> bool:
    return not any(p.startswith("_") for p in q.split(".")[2:])


def _in_module(q: str, module: str | None) -> bool:
    return module is None or q == module or q.startswith(module + ".")


def public_names(idx: ApiIndex, release: str, module: str | None, private: bool = False) -> dict[str, Record]:
    """The names of ``release`` that count as its API (see the module docstring)."""
    view = idx.view(release)
    out: dict[str, Record] = {}
    for q, rec in view.items():
        if not _in_module(q, module) or not (private or _is_public(q)):
            continue
        k = rec["k"]
        parent = view.get(q.rsplit(".", 1)[0], {})
        if k == "alias":
            if not rec["to"].startswith("megatron.core") or not parent.get("pkg"):
                continue
        if k == "attr" and parent.get("k") == "class" and parent.get("dc"):
            continue  # dataclass fields: reported as constructor parameters
        out[q] = rec
    return out


def _kind_label(rec: Record | None) -> str:
    if rec is None:
        return "name"
    k = rec["k"]
    if k == "module":
        return "package" if rec.get("pkg") else ("compiled module" if rec.get("so") else "module")
    if k == "alias":
        return "re-export"
    if k == "attr":
        return "attribute"
    if k == "class" and rec.get("dc"):
        return "dataclass"
    return k


def _params_for_call(rec: Record) -> list[list] | None:
    if rec["k"] == "class":
        return rec.get("i")
    params = rec.get("p")
    if params is None:
        return None
    decos = set(rec.get("d", []))
    if rec["k"] == "method" and "staticmethod" not in decos and params:
        return params[1:]  # drop self / cls
    return params


def _collapse(names: list[str], records: dict[str, Record]) -> list[tuple[str, int]]:
    """Keep only outermost names: a removed module/class stands for its contents."""
    out: list[tuple[str, int]] = []
    names = sorted(names)
    i = 0
    while i < len(names):
        q = names[i]
        j = i + 1
        if records.get(q, {}).get("k") in {"module", "class"}:
            while j < len(names) and names[j].startswith(q + "."):
                j += 1
        out.append((q, j - i - 1))
        i = j
    return out


def param_changes(old: list[list] | None, new: list[list] | None) -> list[str]:
    """Human descriptions of how a parameter list changed (annotation-only edits ignored)."""
    if old is None or new is None or old == new:
        return []
    out: list[str] = []
    o = {p[0]: p for p in old}
    n = {p[0]: p for p in new}
    kind_names = {"po": "positional-only", "pk": "positional-or-keyword", "va": "*args",
                  "ko": "keyword-only", "vk": "**kwargs"}
    for name, p in n.items():
        if name not in o:
            req = "required" if p[2] is None and p[1] in {"po", "pk", "ko"} else f"default {p[2]}"
            pos = [q[0] for q in new if q[1] in {"po", "pk"}]
            where = ""
            if p[1] in {"po", "pk"} and pos.index(name) < len(pos) - 1:
                where = f", inserted at position {pos.index(name) + 1}: later positional arguments shift"
            label = {"va": "*", "vk": "**"}.get(p[1], "")
            out.append(f"+ {label}{name} ({kind_names[p[1]]}, {req}{where})")
    for name, p in o.items():
        if name not in n:
            label = {"va": "*", "vk": "**"}.get(p[1], "")
            out.append(f"- {label}{name}")
    for name in o.keys() & n.keys():
        a, b = o[name], n[name]
        if a[1] != b[1]:
            out.append(f"~ {name}: {kind_names[a[1]]} -> {kind_names[b[1]]}")
        if a[2] != b[2]:
            out.append(f"~ {name}: default {a[2] if a[2] is not None else '(required)'} -> "
                       f"{b[2] if b[2] is not None else '(required)'}")
    opos = [p[0] for p in old if p[1] in {"po", "pk"}]
    npos = [p[0] for p in new if p[1] in {"po", "pk"}]
    for i, name in enumerate(opos):
        if name in npos and npos.index(name) != i:
            out.append(f"~ {name}: positional index {i + 1} -> {npos.index(name) + 1}")
    return sorted(out, key=lambda s: (s[0] != "+", s[0] != "-", s))


def diff_releases(idx: ApiIndex, old: str, new: str, module: str | None = None,
                  private: bool = False) -> ApiDiff:
    """Compare two indexed releases (names like ``0.12.0``; prefixes such as ``0.16`` pick the
    newest patch release). ``module`` restricts to one module and its contents."""
    old, new = idx.release(old), idx.release(new)
    if module is not None and not any(_in_module(q, module) for r in (old, new) for q in idx.view(r)):
        from mcore_compat.api_index import ApiIndexError

        close = sorted({q for r in (old, new) for q, rec in idx.view(r).items() if rec["k"] == "module"})
        import difflib

        hint = difflib.get_close_matches(module, close, n=3)
        raise ApiIndexError(
            f"module {module!r} exists in neither megatron-core {old} nor {new}"
            + (f"; did you mean {', '.join(hint)}?" if hint else "")
        )
    a = public_names(idx, old, module, private)
    b = public_names(idx, new, module, private)
    changes: list[Change] = []

    removed = [q for q in a if not idx.exists(new, q)]
    added = [q for q in b if not idx.exists(old, q)]
    facts = {r.old: r for r in renames_between(old, new)}

    for q, inside in _collapse(removed, a):
        rec = a[q]
        fact = facts.get(q)
        if fact is not None and fact.kind == "symbol":
            new_sig = fact.new or (f"(no replacement; shim: {fact.shim})" if fact.shim else None)
            changes.append(Change("renamed", q, _kind_label(rec), old=q, new=new_sig,
                                  details=[fact.note] if fact.note else [],
                                  source=f"{fact.release}: {fact.source}", contains=inside))
            continue
        name = q.rsplit(".", 1)[1]
        elsewhere = [w for w in idx.where_defined(new, name) if w != q]
        if rec["k"] not in {"module", "attr"} and len(elsewhere) == 1:
            was = idx.resolve(old, q).record or {}
            now = idx.resolve(new, elsewhere[0]).record or {}
            details = []
            if any(was.get(k) != now.get(k) for k in ("k", "p", "i")):
                details = ["same name, other signature: maybe another object"]
                if was.get("k") in _CALLABLE and now.get("k") in _CALLABLE:
                    details += param_changes(_params_for_call(was), _params_for_call(now))
            changes.append(Change("moved", q, _kind_label(rec), old=q, new=elsewhere[0],
                                  details=details, contains=inside))
            continue
        changes.append(Change("removed", q, _kind_label(rec),
                              old=signature(idx.resolve(old, q).record, name), contains=inside))

    for q, inside in _collapse(added, b):
        changes.append(Change("added", q, _kind_label(b[q]),
                              new=signature(idx.resolve(new, q).record, q.rsplit(".", 1)[1]),
                              contains=inside))

    for q in sorted(a.keys() & b.keys()):
        ra, rb = a[q], b[q]
        if ra["k"] not in _CALLABLE or rb["k"] not in _CALLABLE:
            continue
        details = param_changes(_params_for_call(ra), _params_for_call(rb))
        if details:
            name = q.rsplit(".", 1)[1]
            changes.append(Change("changed", q, _kind_label(rb), old=signature(ra, name),
                                  new=signature(rb, name), details=details))

    # keyword renames from the facts (``callable(keyword=)`` entries)
    for fact in facts.values():
        if fact.kind != "keyword" or not _in_module(fact.old.split("(")[0], module):
            continue
        changes.append(Change("renamed", fact.old, "keyword", old=fact.old, new=fact.new,
                              details=[fact.note] if fact.note else [],
                              source=f"{fact.release}: {fact.source}"))

    order = {k: i for i, k in enumerate(KIND_ORDER)}
    changes.sort(key=lambda c: (order[c.kind], c.qualname))
    return ApiDiff(old, new, module, changes)

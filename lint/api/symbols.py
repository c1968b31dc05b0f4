"""Shared analysis of MC102/MC103/MC104: every ``megatron.core`` name a file uses, checked
against the API index for the target release(s), classified once per file.

Why one module for three rules: the three rules split ONE question -- "this name does not
exist in (some of) the releases the code targets" -- by its answer: it never existed before
the first failing release (MC102 ``unknown-megatron-symbol``: a typo, a wrong module, or a
name only newer releases have), the reviewed facts say it was renamed/moved (MC104
``renamed-megatron-api``), or it existed earlier and is gone (MC103 ``removed-megatron-api``).
Each name lands in exactly one rule.

What counts as a use: imports (every style: ``import megatron.core.x``, ``import ... as``,
``from megatron.core.x import y``, relative imports inside megatron) and attribute chains on
tracked names (``mpu.get_x()``, ``tp.layers.ColumnParallelLinear``). Not flagged: uses inside
compatibility guards (``try/except ImportError/AttributeError``, ``if hasattr(...)``, version
checks: :meth:`SemanticModel.is_guarded`), uses whose binding may be something else on another
branch (``ambiguous``), names behind a module ``__getattr__`` or a compiled module, imports
under ``if TYPE_CHECKING:`` (they never run), and names the caller's ``skip`` claims (the
rules pass MC101's test: parallel-state functions reached through the wrong module are
MC101's job). Imports point down: rules -> api -> index/facts.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from mcore_compat.api_index import ApiIndex, load

from .renames import Rename, removal_for, replacement_for
from .target import target_releases

ROOT = "megatron.core"


@dataclass
class SymbolProblem:
    """A megatron.core name a file uses that is missing in some target release."""

    category: str  # "unknown" | "removed" | "renamed"
    node: ast.AST  # what to report: the ast.alias of an import or the Attribute chain prefix
    qualname: str  # the missing name (prefix of ``full`` that does not resolve)
    full: str  # the whole dotted name used
    missing_in: list[str]  # target releases without it
    targets: list[str]  # all target releases
    is_import: bool
    binding: object  # mcore_lint.semantic.Binding
    ref: object | None = None  # mcore_lint.semantic.Reference for attribute uses
    present_in: list[str] = field(default_factory=list)  # indexed releases that have it
    fact: Rename | None = None  # the reviewed rename (MC104)
    moved_to: str | None = None  # the single other place the definition lives (MC102/MC103)
    same_definition: bool = True  # moved_to has the signature the old name had
    replacement: str | None = None  # what replaces ``full`` (the whole name used)
    fix_prefix: str | None = None  # the prefix of ``full`` a fix replaces ...
    fix_target: str | None = None  # ... by this name
    shim: str | None = None  # mcore_compat name that keeps working (MC103)
    meaning: str | None = None  # what a removal means now (facts)
    close: list[str] = field(default_factory=list)  # did-you-mean names


def _runs(releases: list[str], all_releases: tuple[str, ...]) -> str:
    """Compact description of a set of releases: ``0.5.0-0.9.0, 0.13.0``."""
    idx = {r: i for i, r in enumerate(all_releases)}
    out: list[list[str]] = []
    for r in sorted(releases, key=idx.__getitem__):
        if out and idx[r] == idx[out[-1][-1]] + 1:
            out[-1].append(r)
        else:
            out.append([r])
    return ", ".join(run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in out)


def describe_presence(idx: ApiIndex, releases: list[str]) -> str:
    if not releases:
        return "no release"
    return _runs(releases, idx.releases)


@lru_cache(maxsize=256)
def shim_for(qualname: str) -> str | None:
    """The ``mcore_compat.parallel_state`` name that keeps working for a removed
    parallel_state function on every release (the shim exports it), if any."""
    prefix = "megatron.core.parallel_state."
    if not qualname.startswith(prefix):
        return None
    name = qualname[len(prefix):]
    try:
        import importlib

        shim = importlib.import_module("mcore_compat.parallel_state")
    except Exception:  # the shim is optional for the linter; never fail a lint run on it
        return None
    provided = set(getattr(shim, "__all__", ())) | set(getattr(shim, "REMOVED", {}))
    return f"mcore_compat.parallel_state.{name}" if name in provided else None


class _IndexAnswers:
    """Answers that depend only on the index and the target releases, kept across the files of
    a run: every file of a project asks about the same names against the same releases (on
    the benchmark corpus the target's releases per file were 0.7 s, the per-release
    resolutions 1.8 s and the did-you-mean searches 2.9 s of a cold run's profile, target
    ``>=0.9``)."""

    def __init__(self, idx: ApiIndex):
        self.idx = idx
        self.targets: dict[str, tuple[str, ...]] = {}
        self.missing: dict[tuple[tuple[str, ...], str], tuple[tuple[str, ...], str | None]] = {}
        self.close: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
        self.classified: dict[tuple, tuple] = {}  # Analyzer._classify

    def target_releases(self, target) -> list[str]:
        key = target.fingerprint() if target is not None else ""
        got = self.targets.get(key)
        if got is None:
            got = self.targets[key] = tuple(target_releases(target, self.idx))
        return list(got)

    def missing_in(self, targets: tuple[str, ...], qualname: str) -> tuple[list[str], str | None]:
        """(target releases without ``qualname``, the shortest prefix missing there)."""
        key = (targets, qualname)
        got = self.missing.get(key)
        if got is None:
            if len(self.missing) > 200_000:  # stay bounded over endless distinct names
                self.missing.clear()
            missing: list[str] = []
            at: str | None = None
            for r in targets:
                res = self.idx.resolve(r, qualname)
                if res.missing:
                    missing.append(r)
                    if at is None or len(res.qualname) < len(at):
                        at = res.qualname
            got = self.missing[key] = (tuple(missing), at)
        return list(got[0]), got[1]

    def closest(self, release: str, qualname: str) -> list[str]:
        """``ApiIndex.closest``, asked once per name and pool of sibling names: consecutive
        releases mostly have the same names in a module, and each ``difflib`` search over a
        big module costs about a millisecond."""
        parent = qualname.rpartition(".")[0]
        pool = tuple(self.idx.children(release, parent)) if parent else ()
        key = (qualname, pool)
        got = self.close.get(key)
        if got is None:
            if len(self.close) > 20_000:
                self.close.clear()
            got = self.close[key] = tuple(self.idx.closest(release, qualname))
        return list(got)


#: the SymbolProblem fields ``Analyzer._classify`` fills in
_CLASSIFIED = ("present_in", "fact", "category", "fix_prefix", "fix_target", "replacement", "moved_to",
               "same_definition", "shim", "meaning", "close")


def _copy(value):
    """A list field's own copy (problems never share a mutable list with the memo)."""
    return list(value) if isinstance(value, list) else value


#: id(index) -> its answers (the entry holds the index, so the id stays its own)
_ANSWERS: dict[int, _IndexAnswers] = {}


def _answers(idx: ApiIndex) -> _IndexAnswers:
    got = _ANSWERS.get(id(idx))
    if got is None or got.idx is not idx:
        if len(_ANSWERS) > 8:  # tests build small indexes of their own
            _ANSWERS.clear()
        got = _ANSWERS[id(idx)] = _IndexAnswers(idx)
    return got


class Analyzer:
    """Checks one file's uses against the target releases (index answers are kept per index
    and target across files: :class:`_IndexAnswers`)."""

    def __init__(self, model, target, idx: ApiIndex | None = None):
        self.model = model
        self.idx = idx or load()
        self._answers = _answers(self.idx)
        self.targets = self._answers.target_releases(target)
        self._targets = tuple(self.targets)

    def _missing(self, qualname: str) -> tuple[list[str], str | None]:
        return self._answers.missing_in(self._targets, qualname)

    def _classify(self, problem: SymbolProblem) -> None:
        """Fill in what the problem is (category, where the name lives, fix, did-you-mean):
        the same answer for the same name, so it is worked out once per run."""
        key = (self._targets, problem.qualname, problem.full, tuple(problem.missing_in))
        known = self._answers.classified
        got = known.get(key)
        if got is None:
            self._classify_uncached(problem)
            if len(known) > 50_000:
                known.clear()
            known[key] = tuple(_copy(getattr(problem, f)) for f in _CLASSIFIED)
            return
        for f, value in zip(_CLASSIFIED, got):
            setattr(problem, f, _copy(value))

    def _classify_uncached(self, problem: SymbolProblem) -> None:
        idx, q, full = self.idx, problem.qualname, problem.full
        problem.present_in = idx.releases_with(q)
        first_missing = idx.releases.index(problem.missing_in[0])
        # a rename fact about the name or one of its parents (a renamed module)
        parts = q.split(".")
        for i in range(len(parts), 2, -1):
            prefix = ".".join(parts[:i])
            fact = replacement_for(prefix)
            if fact is not None and fact.new:
                problem.fact = fact
                problem.category = "renamed"
                problem.fix_prefix, problem.fix_target = prefix, fact.new
                problem.replacement = fact.new + full[len(prefix):]
                return
        existed_before = any(idx.releases.index(r) < first_missing for r in problem.present_in)
        problem.category = "removed" if existed_before else "unknown"
        last = self.targets[-1]
        # the same definition under exactly one other name: the used object first (a whole
        # module may be gone while its class lives on elsewhere), then the missing name
        for wanted in dict.fromkeys((full, q)):
            if not idx.releases_with(wanted) and wanted != q:
                continue
            name = wanted.rsplit(".", 1)[1]
            elsewhere = [w for w in idx.where_defined(last, name) if w != wanted]
            if len(elsewhere) == 1:
                problem.moved_to = elsewhere[0]
                problem.same_definition = self._same(wanted, elsewhere[0])
                problem.fix_prefix, problem.fix_target = wanted, elsewhere[0]
                problem.replacement = elsewhere[0] + full[len(wanted):]
                break
        if problem.category == "removed":
            problem.shim = shim_for(q)
            removal = removal_for(q)
            problem.meaning = removal.note if removal else None
        if not problem.replacement:
            for r in reversed(self.targets):
                problem.close = [f"{q.rsplit('.', 1)[0]}.{c}" for c in self._answers.closest(r, q)]
                if problem.close:
                    break

    def _same(self, old: str, new: str) -> bool:
        """Whether ``new`` (in the newest target release) has the signature ``old`` had in
        the last release that had it: a moved object, not a different one of the same name."""
        idx = self.idx
        before = [r for r in idx.releases_with(old) if idx.resolve(r, old).found]
        if not before:
            return True  # the name never existed there: the user meant the one that exists
        a = idx.resolve(before[-1], old).record or {}
        b = idx.resolve(self.targets[-1], new).record or {}
        keys = ("k", "p", "i")
        return all(a.get(k) == b.get(k) for k in keys)

    def problems(self, skip: Callable[[str], object] | None = None) -> list[SymbolProblem]:
        """Problems of the file; names for which ``skip(qualname)`` is truthy are another
        rule's (the rules pass MC101's ``wrong_module_split``)."""
        def wrong_module_split(q: str) -> object:
            return skip(q) if skip is not None else None

        model = self.model
        out: list[SymbolProblem] = []
        reported_imports: set[str] = set()
        seen_nodes: set[int] = set()
        for b in model.imports:
            if b.qualname is None:
                continue
            alias = b.node
            if isinstance(b.stmt, ast.Import) and not getattr(alias, "asname", None):
                full = getattr(alias, "name", "")  # `import megatron.core.x` binds `megatron`
            else:
                full = b.qualname
            if not (full == ROOT or full.startswith(ROOT + ".")):
                continue
            if model.is_guarded(b.stmt) or wrong_module_split(full) is not None:
                continue
            if _type_checking_only(model, b.stmt):
                continue
            missing, at = self._missing(full)
            if not missing or at is None:
                continue
            p = SymbolProblem("unknown", alias, at, full, missing, self.targets, True, b)
            self._classify(p)
            out.append(p)
            seen_nodes.add(id(alias))
            reported_imports.add(at)
        for ref in model.references:
            q = ref.qualname
            if ref.ctx != "load" or ref.ambiguous or not q.startswith(ROOT + "."):
                continue
            if wrong_module_split(q) is not None:
                continue
            missing, at = self._missing(q)
            if not missing or at is None or at in reported_imports:
                continue
            bound = ref.binding.qualname or ""
            if len(at.split(".")) <= len(bound.split(".")):
                continue  # the import itself is wrong: reported there
            node = attribute_inside(ref.node, len(q.split(".")) - len(at.split(".")))
            if node is None or id(node) in seen_nodes or model.is_guarded(node):
                continue
            seen_nodes.add(id(node))
            p = SymbolProblem("unknown", node, at, q, missing, self.targets, False, ref.binding, ref)
            self._classify(p)
            out.append(p)
        return out


def _type_checking_only(model, node: ast.AST) -> bool:
    """Under ``if TYPE_CHECKING:`` (body): never runs, so it cannot fail at run time."""
    for b in model.branch_of(node):
        test = getattr(b.node, "test", None)
        if isinstance(b.node, ast.If) and b.part == "body" and test is not None:
            text = ast.unparse(test)
            if text in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}:
                return True
    return False


def attribute_inside(node: ast.AST, strip: int) -> ast.Attribute | None:
    """The Attribute ``strip`` levels inside ``node`` (``a.b.c`` with strip 1 -> ``a.b``); None
    when the chain is shorter or ends in a plain name. Shared with MC101's attribute reports."""
    for _ in range(strip):
        if not isinstance(node, ast.Attribute):
            return None
        node = node.value
    return node if isinstance(node, ast.Attribute) else None


def problems_of(model, target, skip: Callable[[str], object] | None = None) -> list[SymbolProblem]:
    """The file's problems, computed once and shared by MC102, MC103 and MC104 (which pass
    the same ``skip``)."""
    key = ("symbol-problems", target.fingerprint() if target is not None else "")
    got = model.memo.get(key)
    if got is None:
        got = model.memo[key] = Analyzer(model, target).problems(skip)
    return got

"""MC501: megatron-core's version compared as a string (``megatron.core.__version__ >= "0.14"``).

Source of the pattern: ISEEKYAN/mbridge ``models/deepseek_v3.py`` (``megatron_version >=
"0.14"``), ``../shared/research/downstream-compat.md`` §1 #61/#62 and §5.10. Where the version
lives: ``megatron/core/package_info.py`` defines ``__version__`` and ``__shortversion__``,
re-exported by ``megatron/core/__init__.py`` in every release 0.5.0-0.19.2 (API index).
"""

from __future__ import annotations

import ast
import bisect
import re
from collections import deque

from .base import Applicability, Context, ImportRequest, Invalid, Rule, Valid

#: Attributes holding megatron-core's version string (every release, see the module docstring).
VERSION_ATTRS = frozenset({
    "megatron.core.__version__", "megatron.core.__shortversion__",
    "megatron.core.package_info.__version__", "megatron.core.package_info.__shortversion__",
})
#: ``version("megatron-core")`` style calls returning the version string.
VERSION_CALLS = frozenset({"importlib.metadata.version", "importlib_metadata.version"})
#: ``get_distribution("megatron-core").version`` style calls (the ``.version`` of the result).
DISTRIBUTION_CALLS = frozenset({
    "pkg_resources.get_distribution", "importlib.metadata.distribution", "importlib_metadata.distribution",
})
#: Calls that parse a version string into a ``packaging`` Version (which refuses to compare
#: with a ``str``: ``Version("0.9") >= "0.13"`` raises TypeError in every packaging release).
VERSION_PARSERS = frozenset({
    "packaging.version.Version", "packaging.version.parse", "pkg_resources.parse_version",
})
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def _names_megatron_core(call: ast.Call) -> bool:
    if not call.args or call.keywords:
        return False
    arg = call.args[0]
    return (isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            and re.sub(r"[-_.]+", "-", arg.value.strip().lower()) == "megatron-core")


def _is_str(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


class StringVersionCompare(Rule):
    """## What it does
    Flags an ordering comparison (`<`, `<=`, `>`, `>=`) between megatron-core's version and a
    string literal: `megatron.core.__version__ >= "0.14"`, `package_info.__version__`,
    `importlib.metadata.version("megatron-core")`,
    `pkg_resources.get_distribution("megatron-core").version`, or a variable assigned from one
    of them (`mcore_version = megatron.core.__version__` ... `mcore_version < "0.13"`). Also
    flags the half-done fix, a parsed version compared with a string
    (`version.parse(megatron.core.__version__) >= "0.13.0rc0"`).

    ## Why is this bad?
    Strings compare character by character: `"0.9.0" >= "0.14"` is `True` and
    `"0.10.0" >= "0.9"` is `False`, so the gate picks the wrong branch on exactly the releases
    it was written for; release candidates (`"0.14.0rc0"`) sort after the final release. A
    `packaging` `Version` compared with a `str` raises `TypeError` the first time it runs.

    ## Example
    ```python
    import megatron.core

    if megatron.core.__version__ >= "0.14":
        extra = {"vp_stage": vp_stage}
    ```
    Use instead:
    ```python
    import megatron.core
    from packaging.version import Version

    if Version(megatron.core.__version__) >= Version("0.14"):
        extra = {"vp_stage": vp_stage}
    ```
    At run time a feature probe (`mcore_compat.releases.accepts_keyword(fn, "vp_stage")`) or
    `mcore_compat.mcore_version()` is better still: main and dev builds share version numbers.

    ## Fix safety
    Safe: both sides are wrapped in `packaging.version.Version` (imported when needed, reusing
    an existing import of it), which orders releases as PEP 440 does; `packaging` is a
    dependency of pip and of megatron-core itself. Where the version is already parsed, only
    the string is, with the same parser. Equality comparisons are not flagged.
    """

    code = "MC501"
    name = "string-version-compare"
    message = "megatron-core version `{version}` compared with the string {literal}: {why}"
    fix = Applicability.SAFE
    releases = ""
    roots = ("megatron", "importlib", "importlib_metadata", "pkg_resources", "packaging")

    VALID = [
        Valid("""
            import megatron.core
            from packaging.version import Version
            if Version(megatron.core.__version__) >= Version("0.14"):
                pass
        """),
        Valid("""
            import megatron.core
            import torch
            if torch.__version__ >= "2.1" and megatron.core.__version__ == "0.14.0":
                pass
        """),
        Valid("""
            from importlib.metadata import version
            if version("transformer-engine") >= "1.13":
                pass
        """),
        Valid("""
            import megatron.core
            v = megatron.core.__version__
            v = v.split(".")
            if v >= ["0", "14"]:
                pass
        """),
    ]
    INVALID = [
        Invalid(
            """
            import megatron.core

            if megatron.core.__version__ >= "0.14":
                extra = {"vp_stage": 1}
            """,
            message='megatron-core version `megatron.core.__version__` compared with the string "0.14"',
            fixed="""
            import megatron.core
            from packaging.version import Version

            if Version(megatron.core.__version__) >= Version("0.14"):
                extra = {"vp_stage": 1}
            """,
        ),
        Invalid(
            """
            from importlib.metadata import version
            from packaging.version import Version as PkgVersion

            mcore_version = version("megatron-core")

            def use_new_api():
                return "0.12" <= mcore_version < "0.15.0rc0"
            """,
            message="`mcore_version` compared with the string \"0.12\"",
            fixed="""
            from importlib.metadata import version
            from packaging.version import Version as PkgVersion

            mcore_version = version("megatron-core")

            def use_new_api():
                return PkgVersion("0.12") <= PkgVersion(mcore_version) < PkgVersion("0.15.0rc0")
            """,
        ),
        Invalid(
            """
            from megatron.core.package_info import __version__ as mcore_version
            import pkg_resources

            OLD = mcore_version < "0.9"
            NEW = pkg_resources.get_distribution("megatron_core").version > '0.13'
            """,
            message="compared with the string",
            count=2,
            fixed="""
            from megatron.core.package_info import __version__ as mcore_version
            import pkg_resources
            from packaging.version import Version

            OLD = Version(mcore_version) < Version("0.9")
            NEW = Version(pkg_resources.get_distribution("megatron_core").version) > Version('0.13')
            """,
        ),
        Invalid(
            """
            import megatron.core
            from packaging import version

            NEW_ROPE = version.parse(megatron.core.__version__) >= "0.13.0rc0"
            """,
            message="a packaging `Version` compared with a `str` raises TypeError",
            fixed="""
            import megatron.core
            from packaging import version

            NEW_ROPE = version.parse(megatron.core.__version__) >= version.parse("0.13.0rc0")
            """,
        ),
        Invalid(
            """
            import megatron.core
            Version = "unrelated"

            def gate():
                ver = megatron.core.__version__
                return ver >= "0.16"
            """,
            message="`ver` compared with the string",
            fixed="""
            import megatron.core
            import packaging.version

            Version = "unrelated"

            def gate():
                ver = megatron.core.__version__
                return packaging.version.Version(ver) >= packaging.version.Version("0.16")
            """,
        ),
    ]

    def check(self, ctx: Context) -> None:
        model = ctx.model
        # the Compare, and its version operands: id -> the parser call's function text when parsed
        compares: dict[int, tuple[ast.Compare, dict[int, str | None]]] = {}
        variables: list[tuple[str, ast.AST, str | None]] = []  # (name, scope node, parser text)
        for raw in self._version_values(ctx):
            expr, parser = self._parsed(model, raw)
            parent = model.parent(expr)
            if isinstance(parent, ast.Compare):
                compares.setdefault(id(parent), (parent, {}))[1][id(expr)] = parser
            elif isinstance(parent, (ast.Assign, ast.AnnAssign)) and parent.value is expr:
                targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
                if len(targets) == 1 and isinstance(targets[0], ast.Name):
                    variables.append((targets[0].id, model.scope_of(parent).node, parser))
        for binding in model.imports:  # `from megatron.core.package_info import __version__ as v`
            if binding.qualname in VERSION_ATTRS and binding.imported:
                variables.append((binding.name, model.scope_of(binding.stmt).node, None))
        for name, scope, parser in variables:
            for cmp, operand in self._compares_of_variable(scope, name, model):
                compares.setdefault(id(cmp), (cmp, {}))[1][id(operand)] = parser
        for cmp, versions in sorted(compares.values(), key=lambda e: (e[0].lineno, e[0].col_offset)):
            self._report(ctx, cmp, versions)

    @staticmethod
    def _parsed(model, expr: ast.expr) -> tuple[ast.expr, str | None]:
        """``Version(expr)`` / ``version.parse(expr)`` around ``expr``: (the call, the text of
        its function); else (expr, None)."""
        call = model.parent(expr)
        if (isinstance(call, ast.Call) and len(call.args) == 1 and call.args[0] is expr and not call.keywords
                and model.qualname_of(call.func) in VERSION_PARSERS):
            return call, model.segment(call.func)
        return expr, None

    # -- where the version comes from ---------------------------------------------------
    def _version_values(self, ctx: Context):
        """Expressions whose value is megatron-core's version string."""
        model = ctx.model
        for ref in model.references:
            if ref.ctx != "load":
                continue
            q = ref.qualname
            if q in VERSION_ATTRS:
                yield ref.node
            elif q in VERSION_CALLS and ref.call is not None and _names_megatron_core(ref.call):
                yield ref.call
            elif q in DISTRIBUTION_CALLS and ref.call is not None and _names_megatron_core(ref.call):
                attr = model.parent(ref.call)
                if isinstance(attr, ast.Attribute) and attr.value is ref.call and attr.attr == "version":
                    yield attr

    @staticmethod
    def _compares_of_variable(scope: ast.AST, name: str, model=None):
        """Ordering comparisons that read ``name`` in ``scope`` (and scopes nested in it),
        when every assignment of ``name`` there is the version assignment itself (one)."""
        stores = 0
        found = []
        for node in _walk_mentioning(scope, name, model):
            if isinstance(node, ast.Name) and node.id == name and not isinstance(node.ctx, ast.Load):
                stores += 1
            elif isinstance(node, ast.arg) and node.arg == name:
                stores += 2  # a parameter of that name shadows it somewhere: give up
            elif isinstance(node, ast.Compare):
                for operand in [node.left, *node.comparators]:
                    if isinstance(operand, ast.Name) and operand.id == name:
                        found.append((node, operand))
        if stores > 1:
            return []
        return found

    # -- the finding and its fix ---------------------------------------------------------
    def _report(self, ctx: Context, cmp: ast.Compare, versions: dict[int, str | None]) -> None:
        model = ctx.model
        if not all(isinstance(op, _ORDERING) for op in cmp.ops):
            return
        operands = [cmp.left, *cmp.comparators]
        literals = [o for o in operands if _is_str(o)]
        found = [o for o in operands if id(o) in versions]
        if not literals or not found:
            return
        version_text = model.segment(found[0])
        literal = model.segment(literals[0])
        parsers = [versions[id(o)] for o in found if versions[id(o)]]
        if parsers:
            why = "a packaging `Version` compared with a `str` raises TypeError"
            wrap, imports = parsers[0], []
        else:
            why = _why(literals[0].value)
            wrap, imports = self._version_name(ctx)
        edits = [ctx.replace(o, f"{wrap}({model.segment(o)})") for o in operands
                 if (id(o) in versions and not versions[id(o)]) or _is_str(o)]
        fix = ctx.fix(f"Compare `{wrap}` objects", edits, imports)
        ctx.report(cmp, fix=fix, version=version_text, literal=literal, why=why)

    @staticmethod
    def _version_name(ctx: Context) -> tuple[str, list[ImportRequest]]:
        """How to spell ``packaging.version.Version`` here, and the import that needs."""
        model = ctx.model
        for b in model.imports:
            if b.module == "packaging.version" and b.imported == "Version":
                return b.name, []
        for b in model.imports:
            if b.module == "packaging.version" and b.imported is None and b.asname is None:
                return "packaging.version.Version", []
        if model.is_bound("Version"):
            return "packaging.version.Version", [ImportRequest("packaging.version")]
        return "Version", [ImportRequest("packaging.version", "Version")]


def _walk_mentioning(scope: ast.AST, name: str, model=None):
    """``ast.walk(scope)`` (same order) without the subtrees whose lines never spell ``name``:
    every node the caller looks for (a Name or parameter called ``name``, a comparison with
    one) has it on one of its lines. A whole-module walk per version variable was 0.3 s of a
    cold run on the benchmark corpus. Only on ASCII sources, where a name is spelt exactly as
    the tree holds it (Python normalises non-ASCII identifiers)."""
    source = getattr(model, "source", None)
    if source is None or not source.isascii():
        yield from ast.walk(scope)
        return
    starts = model.line_starts
    lines = sorted({bisect.bisect_right(starts, m.start()) for m in re.finditer(r"\b%s\b" % re.escape(name), source)})
    todo = deque([scope])
    while todo:
        node = todo.popleft()
        first = getattr(node, "lineno", None)
        if first is not None:
            i = bisect.bisect_left(lines, first)
            if i == len(lines) or lines[i] > (getattr(node, "end_lineno", None) or first):
                continue
        todo.extend(ast.iter_child_nodes(node))
        yield node


def _why(literal: str) -> str:
    """A concrete wrong answer of the string comparison against ``literal``."""
    from packaging.version import InvalidVersion, Version

    try:
        wanted = Version(literal)
    except InvalidVersion:
        return "strings compare character by character, not as releases"
    for probe in ("0.9.0", "0.10.0", "0.16.0", "0.8.0", "0.19.0", "1.0.0"):
        v = Version(probe)
        if (probe >= literal) != (v >= wanted):
            return (f"`\"{probe}\" >= \"{literal}\"` is {probe >= literal} as strings but "
                    f"{v >= wanted} as releases")
    return "strings compare character by character, not as releases"

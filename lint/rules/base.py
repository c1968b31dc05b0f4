"""How to write a rule. Read this first; then copy ``mc101_parallel_state_via_wrong_module.py``.

A rule is ONE module ``lint/rules/mcNNN_kebab_name.py`` holding one subclass of :class:`Rule`.
The registry (:mod:`mcore_lint.rules.registry`) imports every ``mc*.py`` module in this folder
and collects the ``Rule`` subclasses defined there: nothing to register by hand.

Class attributes (checked by the registry and ``tests/test_rule_examples.py``):

``code``            "MC101". Ranges: MC1xx API symbols (wrong module / moved / removed names),
                    MC2xx signatures (keywords, positional order), MC3xx/4xx explicit process
                    groups, MC5xx compat code (guards, shims, version checks).
``name``            kebab-case, "parallel-state-via-wrong-module".
``message``         a ``str.format`` template filled by ``ctx.report(..., **fields)``.
``fix``             :class:`~mcore_lint.findings.Applicability` of the rule's fixes
                    (SAFE: keeps meaning on every release in the target span; UNSAFE: needs
                    review or a newer release; DISPLAY_ONLY: shown, never applied) or None
                    when the rule never fixes.
``releases``        PEP 440 specifier string of the megatron-core releases it applies to
                    (``">=0.5"``; "" = all). The rule only runs when the target overlaps it.
``default_enabled`` False for noisy/opinionated rules (selected explicitly or by ``ALL``).
``roots``           packages whose names the rule needs resolved; default ("megatron",).
                    Add e.g. "mcore_compat" if the rule looks at shim uses. Prefer a dotted
                    root ("torch.distributed", not "torch"): then ``import torch`` is tracked
                    but only lines mentioning ``torch.distributed`` are visited, and only
                    ``torch.distributed...`` references are recorded (much cheaper on
                    megatron code, where ``torch`` is on most lines).
docstring           Markdown with the sections ``## What it does``, ``## Why is this bad?``,
                    ``## Example`` and ``## Fix safety`` (ruff's headings). ``mcore-lint explain``
                    and ``tools/gen_rule_docs.py`` (README) render it.
``VALID``           list of :class:`Valid` code snippets that must give no finding.
``INVALID``         list of :class:`Invalid`: code, a fragment the message must contain, and
                    ``fixed`` = the exact text after ``mcore-fix`` (None: no fix applies;
                    ``unsafe=True`` to apply unsafe fixes). One generic test runs them all.

``check(self, ctx)`` receives a :class:`Context`: ``ctx.model`` is the file's
:class:`~mcore_lint.semantic.SemanticModel`, built ONCE per file and shared by all rules:

* ``model.references``: every use of a tracked name with its resolved ``qualname``
  ("megatron.core.tensor_parallel.get_data_parallel_rank"), whatever the import style
  (``import a.b as x``, ``from a import b``, ``from a.b import c as d``, relative imports inside
  megatron, ``mpu`` -> ``megatron.core.parallel_state``), after scoping and shadowing.
  Each has ``node`` (the outermost Name/Attribute), ``call`` (the ast.Call when it is
  called), ``binding`` (the import it came from: ``binding.stmt`` is the ast.Import/ImportFrom,
  ``binding.node`` the ast.alias), ``scope`` (``scope.node`` = enclosing def/class/module),
  ``stmt``, ``ambiguous``.
* ``model.imports``: every import binding; ``b.qualname`` is set for tracked imports, e.g.
  ``from megatron.core.tensor_parallel import get_data_parallel_rank`` -> that dotted name.
* ``model.guards_of(node)`` / ``model.is_guarded(node)``: inside ``try ... except
  ImportError/ModuleNotFoundError/AttributeError``, under ``if hasattr(...)``, or under a
  version comparison. ``model.enclosing_function(node)``, ``model.enclosing_class(node)``,
  ``model.parent(node)``, ``model.statement(node)``, ``model.qualname_of(expr)``,
  ``model.local_name_for(qualname, node)`` (an existing import to reuse in a fix),
  ``model.segment(node)`` (source text), ``model.location(node)``.
* ``ctx.target``: :class:`~mcore_lint.target.Target` (``version``, ``span``, ``releases``).

A rule never reads files, prints, or formats output. It calls ``ctx.report(node, **fields)``
with an optional ``fix=ctx.fix(title, edits=[ctx.replace(node, "text"), ...],
imports=[ImportRequest(...)])``. Edits are text replacements at ast positions; import
requests (add ``from m import n`` / remove an import if it became unused) are scheduled by the
fixer for the whole file at once with libcst (comments and formatting survive). ``# noqa``
is honoured by the engine; rules do not look at comments. Cost: iterate ``model.references``
/ ``model.imports`` (already filtered to tracked names); never ``ast.walk`` the whole tree.

After adding or changing a rule: ``.venv/bin/pytest tests/test_rule_examples.py -k MCnnn`` and
``.venv/bin/python -m tools.gen_rule_docs`` (regenerates the README's rules section).
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Iterable

from ..findings import Applicability, Edit, Finding, Fix, ImportRequest, Location

if TYPE_CHECKING:
    from ..semantic import SemanticModel
    from ..target import Target

DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Fix safety")
_CODE_RE = re.compile(r"^MC\d{3}$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
DOCS_URL = "https://github.com/mcore-compat/mcore-compat#{code_lower}-{name}"


@dataclass(frozen=True)
class Valid:
    """Code that must produce no finding of the rule."""

    code: str
    target: str | None = None  # target-version to check with (default: none)


@dataclass(frozen=True)
class Invalid:
    """Code that must produce a finding whose message contains ``message``; ``fixed`` is the
    whole text after ``mcore-fix`` (None: no fix is applied). ``count`` findings expected."""

    code: str
    message: str
    fixed: str | None = None
    unsafe: bool = False
    count: int = 1
    target: str | None = None


class Context:
    """What a rule's ``check`` sees of one file (and the only way it reports)."""

    def __init__(self, rule: "Rule", model: "SemanticModel", target: "Target", want_edits: bool = True):
        self.rule = rule
        self.model = model
        self.target = target
        #: False when nobody will apply or print the fixes' edits (``mcore-lint`` with a text,
        #: GitHub or statistics report): a rule whose edits are expensive may then return a
        #: ``deferred`` fix (applicability and title only); see :class:`~mcore_lint.findings.Fix`
        self.want_edits = want_edits
        self.filename = model.filename
        self.findings: list[Finding] = []

    # -- reporting ------------------------------------------------------------------------
    def report(self, node: ast.AST, *, fix: Fix | None = None, message: str | None = None, **fields) -> Finding:
        """Report ``node`` with the rule's message template filled with ``fields``."""
        start, end = self.model.location(node)
        text = message if message is not None else self.rule.message.format(**fields)
        r = self.rule
        f = Finding(r.code, r.name, text, self.filename, start, end, fix, r.url(), extra=dict(fields))
        self.findings.append(f)
        return f

    # -- building fixes ---------------------------------------------------------------------
    def fix(self, message: str, edits: Iterable[Edit] = (), imports: Iterable[ImportRequest] = (),
            applicability: Applicability | None = None, deferred: bool = False) -> Fix:
        app = applicability or self.rule.fix or Applicability.DISPLAY_ONLY
        return Fix(app, message, tuple(edits), tuple(imports), deferred)

    def replace(self, node: ast.AST, text: str) -> Edit:
        start, end = self.model.location(node)
        return Edit(text, start, end)

    def replace_range(self, start: Location, end: Location, text: str) -> Edit:
        return Edit(text, start, end)

    def insert_before(self, node: ast.AST, text: str) -> Edit:
        start, _ = self.model.location(node)
        return Edit(text, start, start)


class Rule:
    """Base of every rule; see the module docstring for the attributes to set."""

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    message: ClassVar[str] = ""
    fix: ClassVar[Applicability | None] = None
    releases: ClassVar[str] = ""
    default_enabled: ClassVar[bool] = True
    roots: ClassVar[tuple[str, ...]] = ("megatron",)
    VALID: ClassVar[list[Valid]] = []
    INVALID: ClassVar[list[Invalid]] = []

    def check(self, ctx: Context) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- metadata helpers ---------------------------------------------------------------
    @classmethod
    def url(cls) -> str:
        return DOCS_URL.format(code_lower=cls.code.lower(), name=cls.name)

    @classmethod
    def docs(cls) -> dict[str, str]:
        """The docstring's sections by heading (``What it does`` ...), text dedented."""
        doc = inspect.cleandoc(cls.__doc__ or "")
        out: dict[str, str] = {}
        current = None
        lines: list[str] = []
        for line in doc.splitlines():
            m = re.match(r"^##\s+(.*?)\s*$", line)
            if m:
                if current:
                    out[current] = "\n".join(lines).strip()
                current, lines = m.group(1), []
            elif current:
                lines.append(line)
        if current:
            out[current] = "\n".join(lines).strip()
        return out

    @classmethod
    def summary(cls) -> str:
        """First sentence of ``What it does``."""
        what = cls.docs().get("What it does", "")
        return " ".join(what.split("\n\n")[0].split())

    @classmethod
    def problems(cls) -> list[str]:
        """What is wrong with this rule's metadata (empty when fine). Checked by the registry."""
        p = []
        where = f"{cls.__module__}.{cls.__qualname__}"
        if not _CODE_RE.match(cls.code or ""):
            p.append(f"{where}: code {cls.code!r} is not MCnnn")
        if not _NAME_RE.match(cls.name or ""):
            p.append(f"{where}: name {cls.name!r} is not kebab-case")
        if not cls.message:
            p.append(f"{where}: empty message")
        if cls.fix is not None and not isinstance(cls.fix, Applicability):
            p.append(f"{where}: fix must be an Applicability or None, not {cls.fix!r}")
        try:
            from packaging.specifiers import SpecifierSet

            SpecifierSet(cls.releases)
        except Exception:
            p.append(f"{where}: releases {cls.releases!r} is not a PEP 440 specifier")
        docs = cls.docs()
        for s in DOC_SECTIONS:
            if not docs.get(s):
                p.append(f"{where}: docstring lacks a '## {s}' section")
        if not cls.VALID or not cls.INVALID:
            p.append(f"{where}: needs at least one VALID and one INVALID example")
        return p


def example_code(code: str) -> str:
    """An example snippet as a file's text: dedented, one trailing newline."""
    return textwrap.dedent(code).strip("\n") + "\n"


__all__ = ["Applicability", "Context", "DOC_SECTIONS", "Edit", "Finding", "Fix", "ImportRequest", "Invalid",
           "Location", "Rule", "Valid", "example_code", "field"]

"""Fixes of MC102/MC103/MC104: point a use of a missing megatron.core name at its replacement.

Fix safety follows the releases the project supports (the target span): a replacement that
resolves in every target release is SAFE, one that resolves in only some (it needs a newer
release) is UNSAFE, none is DISPLAY_ONLY (a message, no edit). A same-name object found in
another module (not a reviewed rename) whose signature differs from the old one's is UNSAFE
at best: it may be a different object. Edits are the smallest text
replacements: a one-name ``from`` import is rewritten in place; a name among others is moved
to a new import (scheduled by the fixer); an attribute chain ``ps.old_name`` becomes
``ps.new_name`` through an existing import of the new module, else the bare new name with an
added import. A renamed import without ``as`` renames its uses too, unless the new name is
already used in the file (then ``import new as old`` keeps the uses valid).
"""

from __future__ import annotations

import ast
import re

from mcore_compat.api_index import load

from ..findings import Applicability, Fix, ImportRequest
from .symbols import SymbolProblem


def applicability_for(problem: SymbolProblem, replacement: str) -> Applicability:
    idx = load()
    ok = [r for r in problem.targets if idx.resolve(r, replacement).found]
    if len(ok) == len(problem.targets):
        return Applicability.SAFE
    return Applicability.UNSAFE if ok else Applicability.DISPLAY_ONLY


def build_fix(ctx, problem: SymbolProblem) -> Fix | None:
    """The fix for ``problem`` (None when it has no replacement at all)."""
    if not problem.replacement:
        if problem.shim:
            return ctx.fix(f"Use `{problem.shim}` (mcore_compat), which works on every release",
                           applicability=Applicability.DISPLAY_ONLY)
        return None
    full_new = problem.replacement
    app = applicability_for(problem, full_new)
    if app == Applicability.SAFE and not problem.same_definition:
        app = Applicability.UNSAFE  # same name, other signature: maybe another object
    title = f"Use `{full_new}`"
    if app == Applicability.DISPLAY_ONLY:
        return ctx.fix(title + " (it is in none of the target releases)", applicability=app)
    try:
        if problem.is_import:
            edits, imports = _import_edits(ctx, problem, full_new)
        else:
            edits, imports = _attribute_edits(ctx, problem)
    except _NoFix:
        return ctx.fix(title, applicability=Applicability.DISPLAY_ONLY)
    return ctx.fix(title, edits=edits, imports=imports, applicability=app)


class _NoFix(Exception):
    pass


def _is_module(qualname: str, problem: SymbolProblem) -> bool:
    rec = load().resolve(problem.targets[-1], qualname).record
    return bool(rec and rec.get("k") == "module")


def _import_edits(ctx, problem: SymbolProblem, full_new: str):
    model = ctx.model
    b = problem.binding
    stmt = b.stmt
    alias: ast.alias = problem.node  # type: ignore[assignment]
    if isinstance(stmt, ast.Import):
        if not alias.asname:
            raise _NoFix  # uses spell the dotted path out: leave them to the user
        if not _is_module(full_new, problem):
            raise _NoFix
        return [ctx.replace(alias, f"{full_new} as {alias.asname}")], []
    module, _, name = full_new.rpartition(".")
    old_name = alias.name
    edits = []
    asname = alias.asname
    if name != old_name and not alias.asname:
        if _name_used(model, name):
            asname = old_name  # keep the uses: `from m import new as old`
        else:
            for ref in b.references:  # rename the uses
                edits.append(ctx.replace(ref.root, name))
    spelled = f"{name} as {asname}" if asname and asname != name else name
    if len(stmt.names) == 1:
        edits.append(ctx.replace(stmt, f"from {module} import {spelled}"))
        return edits, []
    kept = [a for a in stmt.names if a is not alias]
    start, _ = model.location(stmt.names[0])
    _, end = model.location(stmt.names[-1])
    edits.append(ctx.replace_range(start, end, ", ".join(model.segment(a) for a in kept)))
    return edits, [ImportRequest(module, name, asname if asname and asname != name else None)]


def _attribute_edits(ctx, problem: SymbolProblem):
    from .symbols import attribute_inside

    model = ctx.model
    ref = problem.ref
    strip = len(problem.full.split(".")) - len(problem.fix_prefix.split("."))
    node = attribute_inside(ref.node, strip)  # type: ignore[union-attr]
    bound = (problem.binding.qualname or "").split(".")  # type: ignore[attr-defined]
    if node is None or len(problem.fix_prefix.split(".")) <= len(bound):
        raise _NoFix
    target = problem.fix_target
    old_parent, new_parent = problem.fix_prefix.rpartition(".")[0], target.rpartition(".")[0]
    if old_parent == new_parent and isinstance(node, ast.Attribute):
        # renamed inside its module: keep the spelling the code uses for the module
        return [ctx.replace(node, f"{model.segment(node.value)}.{target.rpartition('.')[2]}")], []
    local = model.local_name_for(target, node)
    if local:
        return [ctx.replace(node, local)], []
    module, _, name = target.rpartition(".")
    mod_local = model.local_name_for(module, node)
    if mod_local:
        return [ctx.replace(node, f"{mod_local}.{name}")], []
    if _name_used(model, name):
        raise _NoFix
    return [ctx.replace(node, name)], [ImportRequest(module, name)]


def _name_used(model, name: str) -> bool:
    """Whether ``name`` appears in the file other than as an attribute (``x.name``): adding
    ``from m import name`` could then shadow or be shadowed. Conservative (comments count)."""
    if any(b.name == name for b in model.imports):
        return True
    return re.search(r"(?<![.\w])%s\b" % re.escape(name), model.source) is not None

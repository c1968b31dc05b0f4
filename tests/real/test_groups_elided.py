"""The explicit-group rules' fast path gives exactly the whole-module transform's answer.

MC301/MC302 run the libcst transform on a copy of the module with the definitions it cannot
touch elided (``lint/groups/elide.py``) and compute positions per changed function
(``transform._positions``). Both are speed-ups only: on every real file that reaches the
transform, the result (rewritten text, function changes, ignored calls with their positions,
import requests) must equal that of ``thread_groups`` on the whole, untouched source. And the
plan-only result a text report uses (no rewrite, calls placed by anchor in the ``ast``) must
report the same functions and calls at the same positions.
The files come from the shared corpus (megatron-core 0.9.0/0.16.1/0.19.2, bridge, NeMo);
besides the rules' own settings, a select-everything MC302 run on a few files stresses the
elision (every function kept, many threaded calls) and the per-function positions.
"""

from __future__ import annotations

import ast
import warnings

import pytest

from mcore_lint.groups import rule_support
from mcore_lint.groups.presets import DEFAULT_PRESET
from mcore_lint.groups.transform import Options, thread_groups
from mcore_lint.semantic import build_model, module_name_for
from mcore_lint.target import Target

pytestmark = pytest.mark.real

#: part -> targets checked (0.19.2: metadata threading on, get_pg_* from megatron.core.utils;
#: 0.12.3: both off, helpers from mcore_compat); the old target on the parts written for it
PARTS = {"megatron-core-0.9.0": ("0.19.2", "0.12.3"), "megatron-core-0.16.1": ("0.19.2",),
         "megatron-core-0.19.2": ("0.19.2",), "megatron-bridge-0.6.2": ("0.19.2",),
         "nemo-2.2.1": ("0.19.2", "0.12.3")}


#: the whole-module reference transform takes seconds on the few biggest files (training.py
#: 211 kB, bridge checkpointing.py 165 kB); the files up to this size hold the same constructs
MAX_CHARS = 130_000


def _models():
    from tools.corpus import files

    for part, targets in PARTS.items():
        for path in files(part):
            text = path.read_text(encoding="utf-8", errors="replace")
            if "megatron" not in text:
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    tree = ast.parse(text)
            except SyntaxError:
                continue
            module, is_pkg = module_name_for(path)
            yield path, targets, build_model(tree, text, str(path), module, is_pkg)


def _reaches(model, target: Target) -> list[tuple[tuple[str, ...], bool]]:
    """The (select, rewrite_in_scope) runs the rules would make on this file."""
    runs = []
    if rule_support.ignored_candidates(model):
        runs.append(((), True))
    metadata = "metadata" in model.source and rule_support.min_version(target, "0.16.0")
    if rule_support.selected_uses(model, DEFAULT_PRESET, metadata) or (
            metadata and rule_support.metadata_dict_in_scope(model)):
        runs.append((DEFAULT_PRESET, False))
    return runs


def _same(model, target: Target, select: tuple[str, ...], in_scope: bool) -> str | None:
    """None when the fast path equals the whole-module transform, else what differs."""
    rule_support._cached.cache_clear()
    fast = rule_support.run(model, target, select=select, rewrite_in_scope=in_scope)
    full = thread_groups(model.source, Options(select=select, rewrite_in_scope=in_scope,
                                               target=rule_support.oldest_release(target),
                                               module_name=model.module, is_package=model.is_package))
    assert fast is not None
    for field in ("code", "changes", "ignored", "imports"):
        if getattr(fast, field) != getattr(full, field):
            return field
    if fast.edits() != full.edits():
        return "edits"
    return _same_plan(model, target, select, in_scope, full)


def _same_plan(model, target: Target, select: tuple[str, ...], in_scope: bool, full) -> str | None:
    """The plan-only result (what a text report runs) has the same findings as the full one:
    same function changes at the same ``def`` lines, same ignored calls, and each anchor finds
    the ast.Call at exactly the position libcst computed."""
    rule_support._cached.cache_clear()
    plan = rule_support.run(model, target, select=select, rewrite_in_scope=in_scope, plan_only=True)
    assert plan is not None
    if plan.changed != full.changed:
        return "plan: changed"
    if not full.changed:
        return None
    if not plan.deferred:
        return "plan: not deferred"

    def facts(c):
        return (c.qualname, c.line, c.added_params, c.fallbacks, c.replaced, c.threaded_calls, c.metadata,
                c.selected, c.cleaned)

    if [facts(c) for c in plan.changes] != [facts(c) for c in full.changes]:
        return "plan: changes"
    if [(i.qualname, i.call, i.group, i.source, i.replacement) for i in plan.ignored] != [
            (i.qualname, i.call, i.group, i.source, i.replacement) for i in full.ignored]:
        return "plan: ignored"
    for mine, ref in zip(plan.ignored, full.ignored):
        node = rule_support.locate_ignored(model, mine)
        if node is None:
            return f"plan: anchor {mine.anchor} not found"
        start, end = model.location(node)
        if (start.row, start.column, end.row, end.column) != (ref.line, ref.column, ref.end_line, ref.end_column):
            return f"plan: anchor {mine.anchor} at {start}-{end}, libcst says {ref.line}:{ref.column}"
    return None


def test_fast_path_equals_whole_module_transform_on_real_files():
    checked = changed = stressed = 0
    problems: list[str] = []
    for path, targets, model in _models():
        if len(model.source) > MAX_CHARS:
            continue
        for spec in targets:
            target = Target.parse(spec)
            for select, in_scope in _reaches(model, target):
                checked += 1
                diff = _same(model, target, select, in_scope)
                if diff:
                    problems.append(f"{path} target {spec} select={select[:1]}.. in_scope={in_scope}: {diff}")
                changed += rule_support.run(model, target, select=select, rewrite_in_scope=in_scope).changed
            # every function selected: little is elided, many calls are threaded
            if spec == "0.19.2" and stressed < 4 and len(model.source) < 60_000 and rule_support.uses_global_getters(model):
                stressed += 1
                diff = _same(model, target, ("*",), False)
                if diff:
                    problems.append(f"{path} select=* : {diff}")
    assert not problems, "\n".join(problems)
    # the comparison covered real rewrites, not only files where nothing changes
    assert checked >= 20 and changed >= 10 and stressed == 4, (checked, changed, stressed)

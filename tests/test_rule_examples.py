"""Every rule's VALID / INVALID examples are its unit tests (Fixit's idea): one generic module.

For each INVALID example: the expected number of findings of that rule, the message fragment,
and - when ``fixed`` is given - the exact text after the fix loop, which must parse, be free of
that rule's findings, and stay unchanged by a second run (idempotence). ``fixed=None`` asserts
no fix changes the text.
"""

from __future__ import annotations

import ast

import pytest

from mcore_lint.engine import check_source
from mcore_lint.fix import fix_source
from mcore_lint.rules import all_rules
from mcore_lint.rules.base import example_code
from mcore_lint.target import Target

CASES_VALID = [pytest.param(r, i, id=f"{r.code}-valid-{i}") for r in all_rules() for i in range(len(r.VALID))]
CASES_INVALID = [pytest.param(r, i, id=f"{r.code}-invalid-{i}") for r in all_rules() for i in range(len(r.INVALID))]


def _target(spec: str | None) -> Target:
    """An example's target: a release ("0.16.1") or a supported span (">=0.14,<0.16")."""
    if not spec:
        return Target()
    return Target.parse(None, spec) if spec.lstrip()[:1] in "<>=!~" else Target.parse(spec)


def test_every_rule_has_complete_metadata():
    rules = all_rules()
    assert rules, "no rules discovered"
    for r in rules:
        assert r.problems() == [], r.problems()


@pytest.mark.parametrize("rule,index", CASES_VALID)
def test_valid(rule, index):
    ex = rule.VALID[index]
    code = example_code(ex.code)
    ast.parse(code)
    found = check_source(code, "example.py", [rule], _target(ex.target))
    assert [f for f in found if f.code == rule.code] == [], f"{rule.code} flagged valid code:\n{code}"


@pytest.mark.parametrize("rule,index", CASES_INVALID)
def test_invalid(rule, index):
    ex = rule.INVALID[index]
    code = example_code(ex.code)
    target = _target(ex.target)
    found = [f for f in check_source(code, "example.py", [rule], target) if f.code == rule.code]
    assert len(found) == ex.count, [f.message for f in found]
    assert any(ex.message in f.message for f in found), [f.message for f in found]
    for f in found:
        assert f.name == rule.name
        assert (f.location.row, f.location.column) <= (f.end_location.row, f.end_location.column)
    result = fix_source(code, "example.py", [rule], target, unsafe=ex.unsafe)
    assert result.error is None, result.error
    if ex.fixed is None:
        assert result.text == code
        return
    expected = example_code(ex.fixed)
    assert result.text == expected, f"fixed text differs:\n--- got ---\n{result.text}--- expected ---\n{expected}"
    ast.parse(result.text)
    assert [f for f in check_source(result.text, "example.py", [rule], target) if f.code == rule.code] == []
    again = fix_source(result.text, "example.py", [rule], target, unsafe=ex.unsafe)
    assert again.text == result.text and not again.fixed

"""The engine on real released code (downloaded from PyPI at test time by tools/corpus.py):
every file parses and is analysed, MC101 has no false positive, and the semantic model's
resolution agrees with the source text of every reference it records."""

from __future__ import annotations

import ast
import re

import pytest

from mcore_lint.engine import check_source
from mcore_lint.rules import rule_by_code
from mcore_lint.semantic import build_model, module_name_for

pytestmark = pytest.mark.real

STRIDE = 6  # every 6th file of each part: ~360 files, a few seconds


@pytest.fixture(scope="module")
def sample():
    from tools.corpus import BENCH_PARTS, files

    return [p for part in BENCH_PARTS for p in files(part, stride=STRIDE)]


def test_mc101_has_no_false_positive_on_released_code(sample):
    rules = [rule_by_code("MC101")]
    assert len(sample) > 300
    found = []
    for path in sample:
        module, is_pkg = module_name_for(path)
        found += check_source(path.read_text(encoding="utf-8"), str(path), rules, module=module, is_package=is_pkg)
    assert found == [], [f"{f.filename}:{f.location.row} {f.message}" for f in found[:5]]


def test_references_agree_with_the_source_text(sample):
    """For each recorded reference, the source of its node with the root name replaced by the
    binding's qualified name is the reference's qualname (whitespace aside)."""
    checked = relative = 0
    for path in sample:
        src = path.read_text(encoding="utf-8")
        module, is_pkg = module_name_for(path)
        model = build_model(ast.parse(src), src, str(path), module, is_pkg)
        for ref in model.references:
            text = re.sub(r"\s+|\\\n", "", model.segment(ref.node))
            assert text.startswith(ref.root.id), (path, ref.node.lineno, text)
            expanded = ref.binding.qualname + text[len(ref.root.id):]
            expanded = expanded.replace("megatron.core.mpu", "megatron.core.parallel_state")
            assert expanded == ref.qualname, (path, ref.node.lineno, text, ref.qualname)
            checked += 1
            relative += ref.binding.level > 0
    assert checked > 2000 and relative > 200  # megatron's own relative imports are resolved

"""The cold-lint fast path (issue 11): MC301/MC302 detect on ``ast`` and reach libcst only for
files with a candidate; importing the rules does not import libcst.

The candidate finder must never miss a call the libcst transform reports (else MC301 would
silently lose findings), so each case compares it with the transform itself.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest

from mcore_lint.engine import check_source, roots_of
from mcore_lint.groups import rule_support as rs
from mcore_lint.groups.presets import DEFAULT_PRESET
from mcore_lint.groups.transform import Options, thread_groups
from mcore_lint.rules.registry import all_rules, rule_by_code
from mcore_lint.semantic import build_model


def _model(code: str):
    src = textwrap.dedent(code).lstrip("\n")
    return build_model(ast.parse(src), src, "m.py", None, False, roots_of(all_rules())), src


def _candidate_lines(code: str) -> tuple[list[int], list[int]]:
    """(lines of ast candidates, lines of calls the libcst transform reports as ignored)."""
    model, src = _model(code)
    cands = sorted(c.lineno for c in rs.ignored_candidates(model))
    ignored = sorted(i.line for i in thread_groups(src, Options(select=(), rewrite_in_scope=True)).ignored)
    return cands, ignored


CASES = {
    "parameter": ("""
        from megatron.core import mpu
        def f(x, tp_group=None):
            return mpu.get_tensor_model_parallel_rank()
        """, [3]),
    "pg_collection": ("""
        from megatron.core import parallel_state as ps
        def f(x, pg_collection=None):
            return ps.get_data_parallel_world_size(with_context_parallel=True)
        """, [3]),
    "other group": ("""
        from megatron.core import mpu
        def f(x, tp_group=None):
            return mpu.get_pipeline_model_parallel_rank()
        """, []),
    "own fallback": ("""
        from megatron.core import mpu
        def f(tp_group=None):
            if tp_group is None:
                tp_group = mpu.get_tensor_model_parallel_group()
            return tp_group
        """, []),
    "early return": ("""
        from megatron.core.parallel_state import get_tensor_model_parallel_rank
        def f(param, tp_group=None):
            if tp_group is not None:
                return tp_group.rank() == 0
            return get_tensor_model_parallel_rank() == 0
        """, []),
    "attribute set in the same method": ("""
        from megatron.core import parallel_state
        class M:
            def sharded(self):
                if not hasattr(self, "tp_group"):
                    self.tp_group = parallel_state.get_tensor_model_parallel_group()
                return self.tp_group
        """, []),
    "attribute carried by the class": ("""
        from megatron.core import parallel_state
        class M:
            def __init__(self, tp_group):
                self.tp_group = tp_group
            def size(self):
                return parallel_state.get_tensor_model_parallel_world_size()
        """, [6]),
    "import inside the function": ("""
        def f(cp_group=None):
            from megatron.core.parallel_state import get_context_parallel_group
            return get_context_parallel_group()
        """, []),
    "nested function": ("""
        from megatron.core import mpu
        def f(tp_group=None):
            def g():
                return mpu.get_tensor_model_parallel_rank()
            return g
        """, []),
    "unconvertible argument": ("""
        from megatron.core import mpu
        def f(dp_group=None, flag=False):
            return mpu.get_data_parallel_rank(with_context_parallel=flag)
        """, []),
    "read through a parameter": ("""
        from megatron.core import mpu
        def f(model):
            print(model.dp_group)
            return mpu.get_data_parallel_world_size()
        """, [4]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_candidates_equal_the_transform(name):
    code, expected = CASES[name]
    cands, ignored = _candidate_lines(code)
    assert ignored == expected, "the transform changed: update the case"
    assert cands == expected


def test_candidates_never_miss_the_transform_on_rule_examples():
    rule = rule_by_code("MC301")
    for ex in [*rule.VALID, *rule.INVALID]:
        cands, ignored = _candidate_lines(ex.code)
        assert set(ignored) <= set(cands), ex.code


def test_mc302_goes_to_libcst_only_for_selected_functions_that_use_groups():
    model, _ = _model("""
        from megatron.core import mpu
        def helper():
            return mpu.get_data_parallel_world_size()
        class Trainer:
            def loss_func(self, loss):
                return loss
            def save_checkpoint(self):
                return mpu.get_tensor_model_parallel_rank()
        def _build_sharded_state_dict_metadata(args):
            metadata = {}
            return metadata
        """)
    # a selected function that calls a getter
    assert rs.selected_uses(model, DEFAULT_PRESET, metadata=False)  # Trainer.save_checkpoint
    assert rs.selected_uses(model, ("Trainer.*",), metadata=False)
    # selected, but no getter call in it (the getter is in `helper`, which is not selected)
    assert not rs.selected_uses(model, ("loss_func",), metadata=False)
    assert not rs.selected_uses(model, ("other_*",), metadata=False)
    assert not rs.selected_uses(model, (), metadata=False)
    assert rs.selected_uses(model, ("helper",), metadata=False)
    # on metadata targets (0.16.0+), a selected function naming `metadata` may gain dp_cp_group
    only_metadata = ("*_build_sharded_state_dict_metadata",)
    assert rs.selected_uses(model, only_metadata, metadata=True)
    assert not rs.selected_uses(model, only_metadata, metadata=False)
    assert not rs.selected_uses(model, ("loss_func",), metadata=True)


def test_no_candidate_no_finding_and_no_libcst():
    """A file with getters but no group: no MC301 finding, and libcst never imported."""
    code = textwrap.dedent("""
        import sys
        from mcore_lint.rules.registry import rule_by_code
        from mcore_lint.engine import check_source
        src = "from megatron.core import mpu\\ndef f(x):\\n    return mpu.get_data_parallel_rank()\\n"
        rules = [rule_by_code(c) for c in ("MC101", "MC201", "MC301", "MC401")]
        assert check_source(src, "m.py", rules) == []
        assert "libcst" not in sys.modules, sorted(m for m in sys.modules if "libcst" in m)
        print("ok")
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_finding_still_reported_with_its_fix():
    src = textwrap.dedent("""
        from megatron.core import mpu


        def rank_name(path, tp_group=None):
            return f"{path}/mp_rank_{mpu.get_tensor_model_parallel_rank():02d}"
        """).lstrip("\n")
    found = check_source(src, "m.py", [rule_by_code("MC301")])
    assert [f.location.row for f in found] == [5]
    assert found[0].fix is not None and found[0].fix.edits

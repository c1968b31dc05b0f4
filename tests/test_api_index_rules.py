"""MC102-MC104 beyond their VALID/INVALID examples: supported spans (a name must exist in every
release of the span), fix safety by span, the target fallback chain's tail, and target
detection from a project's megatron-core requirement."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from mcore_compat.api_index import load
from mcore_lint.api.target import detect, detect_requirement, target_releases
from mcore_lint.engine import check_source
from mcore_lint.findings import Applicability
from mcore_lint.fix import fix_source
from mcore_lint.rules import all_rules
from mcore_lint.target import Target

RULES = [r for r in all_rules() if r.code in ("MC102", "MC103", "MC104")]


def findings(code: str, target: Target):
    return check_source(textwrap.dedent(code).lstrip(), "x.py", RULES, target)


MCPG = """
from megatron.core.process_groups_config import ModelCommProcessGroups
pgs = ModelCommProcessGroups()
"""


def test_span_needs_every_release_and_fix_is_unsafe_when_replacement_is_newer():
    span = Target.parse(span=">=0.12,<0.17")
    (f,) = findings(MCPG, span)
    assert f.code == "MC104"
    assert "missing in 0.15.0-0.16.1 (6 releases)" in f.message
    # ProcessGroupCollection exists only from 0.15.0: the fix would break 0.12-0.14
    assert f.fix.applicability == Applicability.UNSAFE
    assert fix_source(textwrap.dedent(MCPG).lstrip(), "x.py", RULES, span).text == textwrap.dedent(MCPG).lstrip()
    fixed = fix_source(textwrap.dedent(MCPG).lstrip(), "x.py", RULES, span, unsafe=True).text
    assert "ProcessGroupCollection()" in fixed and "ModelCommProcessGroups" not in fixed


def test_span_where_replacement_exists_everywhere_is_safe():
    (f,) = findings(MCPG, Target.parse(span=">=0.15"))
    assert f.fix.applicability == Applicability.SAFE


def test_span_name_only_in_newer_part_is_unknown():
    code = """
    from megatron.core.hyper_comm_grid import HyperCommGrid
    """
    (f,) = findings(code, Target.parse(span=">=0.12,<0.17"))
    assert f.code == "MC102"
    assert "does not exist in megatron-core 0.12.0-0.13.1 (6 releases); it exists in 0.14.0-0.19.2" in f.message
    assert findings(code, Target.parse(span=">=0.14")) == []


def test_removed_name_points_to_the_shim_and_meaning():
    code = """
    from megatron.core import parallel_state
    split = parallel_state.get_pipeline_model_parallel_split_rank()
    """
    (f,) = findings(code, Target.parse("0.16.1"))
    assert f.code == "MC103"
    assert "use `mcore_compat.parallel_state.get_pipeline_model_parallel_split_rank`" in f.message
    assert "(now: None: encoder pipeline split removed in 0.14.0)" in f.message
    assert f.fix.applicability == Applicability.DISPLAY_ONLY and f.fix.edits == ()


def test_no_target_means_newest_indexed_release():
    idx = load()
    assert target_releases(Target(), idx) == [idx.newest]
    assert target_releases(None, idx) == [idx.newest]
    # a patch release we have not indexed: the nearest older indexed release
    assert target_releases(Target.parse("0.16.5"), idx) == ["0.16.1"]
    code = "from megatron.core import parallel_state\nparallel_state.get_data_modulo_expert_parallel_group()\n"
    (f,) = findings(code, Target())
    assert f.code == "MC104" and f"missing in {idx.newest}" in f.message


def test_guards_cover_attribute_chains_and_imports():
    code = """
    import megatron.core.parallel_state as ps
    try:
        g = ps.get_data_modulo_expert_parallel_group()
    except AttributeError:
        g = ps.get_expert_data_parallel_group()
    if hasattr(ps, "is_inside_encoder"):
        ps.is_inside_encoder()
    """
    assert findings(code, Target.parse("0.19.2")) == []


def test_one_finding_per_name_across_the_three_rules():
    code = """
    from megatron.core.parallel_state import get_data_modulo_expert_parallel_group as g, is_inside_encoder
    from megatron.core.transformer.moe.router import TopKRoutr
    """
    got = sorted((f.code, f.location.column) for f in findings(code, Target.parse("0.17.1")))
    assert [c for c, _ in got] == ["MC102", "MC103", "MC104"]
    assert len({col for _, col in got}) == 3


@pytest.mark.parametrize("files, version, span", [
    ({"pyproject.toml": '[project]\nname="x"\ndependencies=["torch", "megatron-core==0.16.1"]\n'}, "0.16.1", None),
    ({"pyproject.toml": '[project]\nname="x"\n[project.optional-dependencies]\nmcore=["megatron_core>=0.12,<0.17"]\n'},
     None, ">=0.12,<0.17"),
    ({"requirements.txt": "numpy\nmegatron-core[mlm] >= 0.13 ; python_version>='3.10'\n"}, None, ">=0.13"),
])
def test_detect_requirement(tmp_path, files, version, span):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    got = detect_requirement(tmp_path)
    assert (got.version, got.span) == (version, span)
    assert str(tmp_path) in got.source


def test_detect_errors_and_fallback(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project\n")
    with pytest.raises(ValueError, match="pyproject.toml: cannot read megatron-core requirement"):
        detect_requirement(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert detect_requirement(empty) is None
    d = detect(empty)
    assert d.version is not None and d.source in {"installed megatron-core", "newest release in the API index"}


def test_rules_run_without_torch():
    code = (
        "import sys\nsys.modules['torch'] = None\n"
        "from mcore_lint.engine import check_source\nfrom mcore_lint.rules import all_rules\n"
        "from mcore_lint.target import Target\n"
        "rules = [r for r in all_rules() if r.code in ('MC102', 'MC103', 'MC104')]\n"
        "src = 'from megatron.core import parallel_state\\nparallel_state.is_inside_encoder()\\n'\n"
        "print(len(check_source(src, 'x.py', rules, Target.parse('0.16.1'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def test_project_target_for_the_settings_layer(tmp_path):
    from mcore_lint.api.target import project_target

    (tmp_path / "requirements.txt").write_text("megatron-core>=0.12,<0.17\n")
    target, said = project_target(tmp_path)
    assert str(target.span) == "<0.17,>=0.12" and target.version is None
    assert said == f"megatron-core>=0.12,<0.17 from {tmp_path / 'requirements.txt'}:1"
    assert target_releases(target, load())[0] == "0.12.0"
    assert target_releases(target, load())[-1] == "0.16.1"


def test_same_name_with_another_signature_is_only_an_unsafe_fix():
    code = """
    from megatron.core.datasets.megatron_tokenizer import MegatronTokenizer
    from megatron.core.datasets.utils_s3 import parse_s3_path
    """
    got = {f.message.split("`")[1]: f for f in findings(code, Target.parse("0.16.1"))}
    tok = got["megatron.core.datasets.megatron_tokenizer.MegatronTokenizer"]
    assert "use `megatron.core.tokenizers.MegatronTokenizer`" in tok.message
    assert tok.fix.applicability == Applicability.UNSAFE  # the new class has another constructor
    s3 = got["megatron.core.datasets.utils_s3.parse_s3_path"]
    assert s3.fix.applicability == Applicability.SAFE  # same signature: the function moved

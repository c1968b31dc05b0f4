"""`mcore-lint api diff` / `mcore-lint api show`: the upgrade report and a symbol's history, in
every format, with errors that name the bad value (checked against the research notes)."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcore_lint.api.command import api
from mcore_lint.api.diff import param_changes

MCORE_LINT = Path(sys.executable).parent / "mcore-lint"


def run(*args: str):
    return CliRunner().invoke(api, list(args), catch_exceptions=False)


def test_diff_text_parallel_state_0_12_to_0_16():
    r = run("diff", "0.12.0", "0.16.1", "--module", "megatron.core.parallel_state")
    assert r.exit_code == 0, r.output
    out = r.output
    assert out.startswith("megatron-core 0.12.0 -> 0.16.1 in megatron.core.parallel_state:")
    removed = out.split("Removed (")[1].split("\n\n")[0]
    # encoder-pipeline removal in 0.14.0 (research §1.2)
    for name in ("get_pipeline_model_parallel_split_rank", "is_inside_encoder", "is_pipeline_stage_at_split"):
        assert f"- megatron.core.parallel_state.{name} [function]" in removed
    assert "get_data_parallel_group " not in removed
    # reviewed renames (facts): 0.13.0
    assert ("megatron.core.parallel_state.get_inter_partial_data_parallel_group -> "
            "megatron.core.parallel_state.get_inter_distributed_optimizer_instance_group") in out
    # 0.15.0 put check_initialized first: positional calls shift (research §1.3)
    block = out.split("  megatron.core.parallel_state.get_tensor_and_data_parallel_group\n")[1].split("\n  megatron")[0]
    assert "+ check_initialized (positional-or-keyword, default True, inserted at position 1" in block
    assert "~ with_context_parallel: positional index 1 -> 2" in block
    # the ignore_virtual default flipped in 0.13.0 (research §2.1)
    assert "~ ignore_virtual: default False -> True" in out
    assert "+ megatron.core.parallel_state.update_pg_timeout [function]" in out


def test_diff_json_counts_match_changes():
    r = run("diff", "0.14.0", "0.15.0", "--format", "json")
    data = json.loads(r.output)
    assert (data["old"], data["new"], data["module"]) == ("0.14.0", "0.15.0", None)
    kinds = [c["kind"] for c in data["changes"]]
    assert data["counts"] == {k: kinds.count(k) for k in data["counts"]}
    renamed = {c["qualname"]: c for c in data["changes"] if c["kind"] == "renamed"}
    mcpg = renamed["megatron.core.process_groups_config.ModelCommProcessGroups"]
    assert mcpg["new"] == "megatron.core.process_groups_config.ProcessGroupCollection"
    assert "0.15.0" in mcpg["source"]
    # a renamed name is not also listed as removed
    assert all(c["qualname"] not in renamed for c in data["changes"] if c["kind"] == "removed")
    keyword = [c for c in data["changes"] if c["what"] == "keyword"]
    assert any("model_comm_pgs=" in c["qualname"] and c["new"] == "pg_collection=" for c in keyword)


def test_diff_collapses_removed_modules():
    data = json.loads(run("diff", "0.15.3", "0.16.1", "--format", "json").output)
    retro = [c for c in data["changes"] if c["qualname"].startswith("megatron.core.models.retro")]
    assert [c["qualname"] for c in retro] == ["megatron.core.models.retro"]
    assert retro[0]["kind"] == "removed" and retro[0]["contains"] > 10


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.rows = 0
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.rows += tag == "tr"
        for k, v in attrs:
            if k in {"src", "href"} and v and "://" in v:
                self.external.append(v)


def test_diff_html_is_one_self_contained_page_with_search(tmp_path):
    out = tmp_path / "report" / "upgrade.html"
    r = run("diff", "0.12.0", "0.16.1", "--format", "html", "--output", str(out))
    assert r.exit_code == 0
    page = out.read_text()
    p = _Page()
    p.feed(page)
    assert "input" in p.tags and "script" in p.tags and "style" in p.tags
    assert p.external == []  # nothing fetched: readable offline
    changes = json.loads(run("diff", "0.12.0", "0.16.1", "--format", "json").output)["changes"]
    assert p.rows == len(changes) + 1  # header row
    # content is escaped: initialize_model_parallel's order='tp-cp-ep-dp-pp' default shows quoted
    assert "order: str = &#x27;tp-cp-ep-dp-pp&#x27;" in page


def test_show_runs_of_identical_releases():
    r = run("show", "megatron.core.parallel_state.get_data_parallel_group")
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0] == "megatron.core.parallel_state.get_data_parallel_group"
    runs = [ln.split(None, 3) for ln in lines[1:]]
    spans = [(x[0], x[2]) if x[1] == ".." else (x[0], x[0]) for x in runs]
    assert spans[0] == ("0.5.0", "0.9.0")
    assert spans[1] == ("0.10.0", "0.15.3")  # + partial_data_parallel (0.10.0)
    assert "independent_all_gather" in lines[3]  # 0.16.0-0.17.1
    assert "with_gtp_remat=True" in lines[-1]  # 0.19: inserted as 2nd parameter


def test_show_json_and_re_exports():
    r = run("show", "megatron.core.tensor_parallel.ColumnParallelLinear", "--format", "json")
    data = json.loads(r.output)
    assert data["runs"][0]["first"] == "0.5.0"
    assert all(run_["defined_at"] == "megatron.core.tensor_parallel.layers.ColumnParallelLinear"
               for run_ in data["runs"])
    assert any("tp_group" in run_["signature"] for run_ in data["runs"])  # 0.13.0+ (research §6)
    from packaging.version import Version

    for run_ in data["runs"]:
        assert ("tp_group" in run_["signature"]) == (Version(run_["first"]) >= Version("0.13.0")), run_


def test_show_reports_the_reviewed_fact():
    r = run("show", "megatron.core.parallel_state.get_data_modulo_expert_parallel_group")
    assert "0.17.0 .. 0.19.2   (absent)" in r.output
    assert "reviewed fact: -> megatron.core.parallel_state.get_expert_data_parallel_group in 0.17.0" in r.output


@pytest.mark.parametrize("args, fragment", [
    (("diff", "0.12.0", "0.99"), "'0.99' is not in the API index"),
    (("diff", "0.12.0", "0.16.1", "--module", "megatron.core.parallel_stat"),
     "did you mean megatron.core.parallel_state"),
    (("show", "megatron.core.parallel_state.get_data_parallel_grup"),
     "did you mean megatron.core.parallel_state.get_data_parallel_group"),
])
def test_errors_exit_2_and_name_the_value(args, fragment):
    r = CliRunner().invoke(api, list(args))
    assert r.exit_code == 2
    assert fragment in r.output
    assert "Traceback" not in r.output


def test_prefix_release_names_the_newest_patch():
    data = json.loads(run("diff", "0.12", "0.16", "--format", "json").output)
    assert (data["old"], data["new"]) == ("0.12.3", "0.16.1")


def test_param_changes_unit():
    old = [["a", "pk", None, None], ["b", "pk", "1", None]]
    new = [["a", "pk", None, None], ["x", "pk", "True", None], ["b", "ko", "2", None]]
    got = param_changes(old, new)
    assert got[0].startswith("+ x (positional-or-keyword, default True")
    assert "~ b: positional-or-keyword -> keyword-only" in got
    assert "~ b: default 1 -> 2" in got
    assert param_changes(old, old) == []


@pytest.mark.skipif(not MCORE_LINT.exists(), reason="console script not installed")
def test_real_entry_point_runs_the_subcommand():
    proc = subprocess.run([str(MCORE_LINT), "api", "show", "megatron.core.mpu.get_data_parallel_rank"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "[defined at megatron.core.parallel_state.get_data_parallel_rank]" in proc.stdout

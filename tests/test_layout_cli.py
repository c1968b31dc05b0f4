"""`mcore-compat layout`: table (plain when piped, rich in a terminal), JSON, SVG, errors."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcore_compat.cli import main
from mcore_compat.layout import RankLayout
from mcore_compat.layout.describe import shown_axes

SEED = ["-n", "8", "--tp", "2", "--pp", "2", "--order", "tp-cp-ep-pp-dp"]
SVG_NS = "{http://www.w3.org/2000/svg}"


def run(*args: str) -> CliRunner.invoke:
    return CliRunner().invoke(main, ["layout", *args], catch_exceptions=False)


def _table_rows(text: str) -> dict[int, dict[str, str]]:
    lines = text.splitlines()
    head_i = next(i for i, line in enumerate(lines) if line.lstrip().startswith("rank"))
    cols = re.split(r"\s{2,}", lines[head_i].strip())
    out = {}
    for line in lines[head_i + 2:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        assert len(cells) == len(cols), line
        out[int(cells[0])] = dict(zip(cols, cells))
    return out


def test_plain_table_is_the_seed_example() -> None:
    res = run(*SEED)
    assert res.exit_code == 0
    rows = _table_rows(res.output)
    assert sorted(rows) == list(range(8))
    assert [rows[r]["dp group"] for r in range(8)] == ["A", "B", "-", "-", "A", "B", "-", "-"]
    assert [r for r in range(8) if rows[r]["saves"] == "yes"] == [0, 4]
    assert [r for r in range(8) if rows[r]["restores"] == "yes"] == [0, 1, 4, 5]
    assert [rows[r]["pp"] for r in range(8)] == ["0", "0", "1", "1"] * 2
    assert "\x1b[" not in res.output and "┃" not in res.output  # no rich markup when piped
    assert "dp (4 x 2)     [0 4]  [1 5]  [2 6]  [3 7]" in res.output


def test_table_at_128_ranks_is_readable() -> None:
    res = run("-n", "128", "--tp", "4", "--pp", "4", "--cp", "2", "--ep", "4", "--nproc-per-node", "8")
    assert res.exit_code == 0
    rows = _table_rows(res.output)
    lay = RankLayout(128, tp=4, pp=4, cp=2, ep=4, nproc_per_node=8)
    for r in (0, 77, 127):
        assert {k: int(rows[r][k]) for k in shown_axes(lay)} == {k: lay.coords(r)[k] for k in shown_axes(lay)}
        assert (int(rows[r]["node"]), int(rows[r]["local"])) == lay.node_of(r)
    assert max(len(line) for line in res.output.splitlines()) <= 110


def test_rank_option_shows_one_rank_and_its_groups() -> None:
    res = run(*SEED, "--rank", "5")
    assert res.exit_code == 0
    assert list(_table_rows(res.output)) == [5]
    assert "groups of rank 5:" in res.output
    assert re.search(r"^\s+dp \(1 x 2\)\s+\[1 5\]$", res.output, re.MULTILINE)


def test_json_has_every_rank_and_group() -> None:
    args = ["-n", "32", "--tp", "2", "--pp", "2", "--ep", "4", "--etp", "1", "--vpp", "2"]
    res = run(*args, "--format", "json")
    data = json.loads(res.output)
    lay = RankLayout(32, tp=2, pp=2, ep=4, etp=1, vpp=2)
    assert data["sizes"]["dp"] == 8 and data["sizes"]["edp"] == 4
    assert [r["rank"] for r in data["ranks"]] == list(range(32))
    for row in data["ranks"]:
        assert {k: row[k] for k in lay.coords(0)} == lay.coords(row["rank"])
        assert row["virtual_stages"] == lay.virtual_stages(row["rank"])
    assert data["groups"]["dp-cp"] == lay.groups("dp-cp")
    assert data["expert_groups"]["tp-ep-pp"] == lay.groups("tp-ep-pp", expert=True)
    one = json.loads(run(*args, "--format", "json", "--rank", "7").output)
    assert [r["rank"] for r in one["ranks"]] == [7]
    assert one["groups"]["tp"] == [lay.group_of("tp", 7)]


def test_last_stage_option() -> None:
    data = json.loads(run(*SEED, "--format", "json", "--last-stage").output)
    assert [r["loads_data"] for r in data["ranks"]] == [True] * 8
    assert data["ranks"][2]["worker_config"] == {"rank": 0, "world_size": 2, "data_parallel_group_ranks": [2, 6]}


@pytest.mark.parametrize("nproc", [None, 4])
def test_svg_parses_and_holds_every_rank(tmp_path: Path, nproc: int | None) -> None:
    args = ["-n", "16", "--tp", "2", "--pp", "2", "--cp", "2"] + (["--nproc-per-node", str(nproc)] if nproc else [])
    out = tmp_path / "layout.svg"
    res = run(*args, "--format", "svg", "-o", str(out))
    assert res.exit_code == 0
    root = ET.parse(out).getroot()
    assert root.tag == f"{SVG_NS}svg"
    lay = RankLayout(16, tp=2, pp=2, cp=2)
    boxes = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "rank"]
    assert sorted(int(g.get("data-rank")) for g in boxes) == list(range(16))
    for g in boxes:
        r = int(g.get("data-rank"))
        for axis in ("tp", "cp", "pp", "dp"):
            assert int(g.get(f"data-{axis}")) == lay.coords(r)[axis]
        texts = [t.text for t in g.iter(f"{SVG_NS}text")]
        assert texts[0] == str(r)
        assert g.get("data-loads") == str(lay.loads_data(r)).lower()
        assert g.get("data-saves") == str(lay.saves_dataloader_state(r)).lower()
        # one red square per saving rank, one blue dot per loading rank
        assert len(list(g.iter(f"{SVG_NS}circle"))) == int(lay.loads_data(r))
    outlines = [e for e in root.iter(f"{SVG_NS}rect") if (e.get("class") or "").startswith("group")]
    tp_outlines = [e for e in outlines if e.get("class") == "group tp"]
    assert len(tp_outlines) == 8  # eight TP pairs, each on one row
    assert any(e.get("class") == "group tp-cp" for e in outlines)
    legend = " ".join(t.text or "" for t in root.iter(f"{SVG_NS}text"))
    assert "stage 0" in legend and "stage 1" in legend and "saves dataloader state" in legend


@pytest.mark.parametrize(
    "args,message",
    [
        (["-n", "12", "--tp", "5"], "world_size 12 is not divisible by tp*pp*cp = 5*1*1 = 5"),
        (["-n", "8", "--tp", "2", "--ep", "3"], "etp*ep = 2*3 = 6 does not divide tp*cp*dp = 2*1*4 = 8"),
        (["-n", "8", "--order", "tp-xx-dp"], "unknown order token(s) ['xx'] in order 'tp-xx-dp'"),
        (["-n", "8", "--rank", "8"], "rank 8 is outside the world: ranks run from 0 to 7"),
        (["-n", "8", "--vpp", "2"], "vpp=2 needs pp > 1"),
        (["-n", "8", "--nproc-per-node", "3"], "world_size 8 is not divisible by nproc_per_node 3"),
        (["-n", "8", "--tp", "-2"], "tp must be a positive integer, got -2"),
        (["-n", "8", "--tp", "two"], "'two' is not a valid integer"),
    ],
)
def test_errors_exit_2_with_numbers(args: list[str], message: str) -> None:
    res = CliRunner().invoke(main, ["layout", *args])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())


def test_output_into_missing_folder_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "x.svg"
    res = CliRunner().invoke(main, ["layout", "-n", "4", "--format", "svg", "-o", str(target)])
    assert res.exit_code == 2 and "folder" in res.output and str(target.parent) in res.output
    assert not (tmp_path / "no").exists()


def _console_script() -> list[str]:
    exe = Path(sys.executable).with_name("mcore-compat")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "mcore_compat.cli"]


def test_real_pipe_gives_plain_and_terminal_gives_rich() -> None:
    cmd = _console_script() + ["layout", *SEED]
    piped = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "┃" not in piped and _table_rows(piped)[4]["dp group"] == "A"
    master, slave = pty.openpty()
    env = dict(os.environ, COLUMNS="120", TERM="xterm-256color")
    proc = subprocess.Popen(cmd, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:  # the command hangs: stop it rather than the test run
            proc.kill()
            pytest.fail("mcore-compat layout wrote nothing for 60 s on a terminal")
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    shown = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0
    assert "┃" in shown and "\x1b[" in shown  # rich box drawing and colours
    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown)
    assert re.search(r"│\s+4 │\s+0 │\s+0 │\s+1 │", plain)  # rank 4: tp 0, pp 0, dp 1

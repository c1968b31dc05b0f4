"""Bad input never crashes the linter and never loses a file (issue 12).

Each kind of bad file is named on stderr with its path and reason, the run exits 2, and every
other file is still checked (and fixed). Valid but unusual files (a latin-1 coding cookie, a
UTF-8 BOM, CRLF, tabs and trailing whitespace, an empty file, a 5 MB generated module) are
processed normally and written back in their own encoding and line endings. A read-only file
is reported, not written; a file edited between check and write is not overwritten.

One lint run and one fix run over one tree (module-scoped fixtures) serve all assertions.
"""

from __future__ import annotations

import codecs
import json
import os
import socket
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
TIMEOUT_S = 600  # a FIFO that blocks the run would hit this instead of hanging the suite

#: A use MC101 fixes (safe): the seed's trainer called parallel_state getters via tensor_parallel.
USE = ("from megatron.core import tensor_parallel\n\n\n"
       "def world():\n    return tensor_parallel.get_data_parallel_world_size()\n")
FIXED_CALL = "parallel_state.get_data_parallel_world_size()"
#: A use MC104 fixes in place (renamed class, no import scheduling): the 5 MB file's, since
#: libcst-based import scheduling costs minutes on a file that size (see the report of issue 12).
BIG_USE = ("from megatron.core.process_groups_config import ModelCommProcessGroups\n\n\n"
           "def pgs():\n    return ModelCommProcessGroups()\n")

#: file name -> (bytes, fragment of the reason on stderr)
BAD: dict[str, tuple[bytes, str]] = {
    "syntax_error.py": (b"def f(:\n    pass\n", "syntax error at line 1"),
    "python2.py": (b"import os\nprint 'hello', os.sep\n", "Python 2"),
    "python2_except.py": (b"try:\n    pass\nexcept ValueError, e:\n    pass\n", "Python 2"),
    "undecodable.py": (b"x = 1\ny = '\xff\xfe'\n", "cannot decode as utf-8: byte 0xff at offset 11"),
    "bad_cookie.py": (b"# -*- coding: uft-8 -*-\nx = 1\n", "unknown encoding: uft-8"),
    "bom_and_latin1_cookie.py": (codecs.BOM_UTF8 + b"# coding: latin-1\nx = 1\n", "encoding problem"),
    "cookie_lies.py": (b"# coding: ascii\nx = '\xc3\xa9'\n", "cannot decode as ascii"),
    "nul_byte.py": (b"x = 1\ny = 2\x00\n", "NUL byte at line 2, column 6"),
}


def _run(tool: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), "--select", "ALL", "--target-version", "0.16.1", "--no-cache", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)


def _big_module() -> bytes:
    """A 5 MB generated module, shaped like generated code: a large data table plus many small
    functions with nested scopes, and the fixable use at the very end."""
    table = "".join(f"ROW_{i} = ({i}, '{'%05d' % i * 36}', {{'k': {i}}})  # generated\t \n" for i in range(21000))
    funcs = "".join(f"def gen_{i}(x, *, scale={i}):\n    def inner(y):\n        return y * scale + {i}\n"
                    f"    return [inner(v) for v in range(x)]\n\n\n" for i in range(2000))
    data = (table + funcs + BIG_USE).encode()
    assert len(data) >= 5_000_000, len(data)
    return data


def _good_files() -> dict[str, bytes]:
    """Valid Python in unusual shapes, each with the fixable use."""
    latin = ("# -*- coding: latin-1 -*-\nNAME = 'caf\u00e9'\n" + USE).encode("latin-1")
    return {
        "cookie_latin1.py": latin,
        "bom.py": codecs.BOM_UTF8 + USE.encode(),
        "crlf.py": USE.replace("\n", "\r\n").encode(),
        "tabs_and_trailing.py": ("import os\t\t\nX = 1   \nif X:\n\tY = 2  \n\n" + USE).encode(),
        "big_generated.py": _big_module(),
        "unicode_columns.py": ("\u00e9\u00e8 = '\U0001F600'; from megatron.core import tensor_parallel\n"
                               "z = ('\U0001F600', tensor_parallel.get_data_parallel_world_size())\n").encode(),
    }


def _make_tree(top: Path) -> dict[str, bytes]:
    top.mkdir()
    written = {}
    for name, (data, _) in BAD.items():
        (top / name).write_bytes(data)
        written[name] = data
    for name, data in _good_files().items():
        (top / name).write_bytes(data)
        written[name] = data
    (top / "empty.py").write_bytes(b"")
    (top / "clean.py").write_bytes(b"import os\n\nprint(os.sep)\n")
    written["empty.py"] = b""
    written["clean.py"] = b"import os\n\nprint(os.sep)\n"
    (top / "package_dir.py").mkdir()  # a folder with a module's name
    (top / "dangling.py").symlink_to(top / "no_such_target.py")
    (top / "loop.py").symlink_to(top / "loop.py")
    os.mkfifo(top / "named_pipe.py")  # opening it for reading would block forever
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(top / "socket.py"))  # open() fails (ENXIO), also for root
    sock.close()
    return written


#: names that are not files: path -> reason fragment
NOT_FILES = {
    "package_dir.py": "is a directory",
    "dangling.py": "cannot open: No such file or directory",
    "loop.py": "cannot open: Too many levels of symbolic links",
    "named_pipe.py": "not a regular file (named pipe)",
    "socket.py": "cannot open: No such device or address",
}


def _lines(data: bytes) -> list[bytes]:
    return data.removeprefix(codecs.BOM_UTF8).splitlines(keepends=True)


def _errors(stderr: str) -> dict[str, str]:
    out = {}
    for line in stderr.splitlines():
        if line.startswith("mcore-lint: error: "):
            path, _, reason = line[len("mcore-lint: error: "):].partition(": ")
            out[path] = reason
    return out


@pytest.fixture(scope="module")
def lint_run(tmp_path_factory):
    top = tmp_path_factory.mktemp("bad") / "tree"
    written = _make_tree(top)
    proc = _run("mcore-lint", ["--output-format", "json", "."], top)
    return top, written, proc


@pytest.fixture(scope="module")
def fix_run(tmp_path_factory):
    top = tmp_path_factory.mktemp("badfix") / "tree"
    written = _make_tree(top)
    ro = top / "read_only.py"
    ro.write_bytes(USE.encode())
    ro.chmod(0o444)
    written["read_only.py"] = USE.encode()
    proc = _run("mcore-fix", ["."], top)
    return top, written, proc


def test_lint_names_every_bad_file_with_its_reason_and_exits_2(lint_run):
    _, _, proc = lint_run
    errors = _errors(proc.stderr)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    want = {name: frag for name, (_, frag) in BAD.items()} | NOT_FILES
    for name, fragment in want.items():
        assert name in errors, f"{name} not named on stderr:\n{proc.stderr}"
        assert fragment in errors[name], f"{name}: {errors[name]!r} lacks {fragment!r}"
    assert set(errors) == set(want), f"valid files reported as errors: {set(errors) - set(want)}"


def test_lint_still_checks_every_valid_file(lint_run):
    _, _, proc = lint_run
    findings = json.loads(proc.stdout)
    by_file: dict[str, list[dict]] = {}
    for f in findings:
        by_file.setdefault(f["filename"], []).append(f)
    for name in _good_files():
        codes = [f["code"] for f in by_file.get(name, [])]
        want = "MC104" if name == "big_generated.py" else "MC101"
        assert want in codes, f"{name}: no {want} finding ({codes})"
    assert "empty.py" not in by_file and "clean.py" not in by_file


def test_lint_locations_are_characters_in_the_decoded_text(lint_run):
    """Columns count characters (not bytes) of the decoded line, rows count CRLF as one break."""
    _, written, proc = lint_run
    findings = {(f["filename"], f["code"]): f for f in json.loads(proc.stdout)}
    big_rows = written["big_generated.py"].count(b"\n")
    expected = {  # file -> (row, column) of `tensor_parallel.get_data_parallel_world_size`
        "cookie_latin1.py": (7, 12), "bom.py": (5, 12), "crlf.py": (5, 12), "unicode_columns.py": (2, 11),
    }
    for name, (row, col) in expected.items():
        f = findings[(name, "MC101")]
        assert (f["location"]["row"], f["location"]["column"]) == (row, col), (name, f["location"])
    for name, (row, col) in {"big_generated.py": (big_rows - 4, 49)}.items():  # the imported name
        f = findings[(name, "MC104")]
        assert (f["location"]["row"], f["location"]["column"]) == (row, col), (name, f["location"])


def test_fix_writes_valid_files_in_their_own_encoding_and_line_endings(fix_run):
    top, written, proc = fix_run
    assert proc.returncode == 2, proc.stderr  # the bad files and the read-only one
    for name in _good_files():
        data = (top / name).read_bytes()
        assert data != written[name], f"{name} was not fixed"
        if name == "unicode_columns.py":
            text = data.decode()
            assert FIXED_CALL in text and "\U0001F600" in text
            continue
        before = written[name]
        assert before.startswith(codecs.BOM_UTF8) == data.startswith(codecs.BOM_UTF8), name
        if b"\r\n" in before:
            assert data.count(b"\n") == data.count(b"\r\n"), f"{name}: bare LF after the fix"
        else:
            assert b"\r" not in data, name
        enc = "latin-1" if name == "cookie_latin1.py" else "utf-8-sig"
        text = data.decode(enc)
        if name == "big_generated.py":
            assert text.endswith("return ProcessGroupCollection()\n") and "ModelCommProcessGroups" not in text
        else:
            assert FIXED_CALL in text and "tensor_parallel" not in text, f"{name}:\n{text[-300:]}"
        # every other line survives byte for byte (tabs, trailing blanks, cookie, line ending)
        kept = Counter(line for line in _lines(before) if b"megatron" not in line and b"tensor_parallel" not in line
                       and b"ModelCommProcessGroups" not in line and line.strip())
        assert not kept - Counter(_lines(data)), f"{name}: lines lost: {list(kept - Counter(_lines(data)))[:3]}"
    assert "caf\u00e9" in (top / "cookie_latin1.py").read_bytes().decode("latin-1")
    assert b"caf\xe9" in (top / "cookie_latin1.py").read_bytes()


def test_fix_leaves_bad_empty_and_clean_files_byte_identical(fix_run):
    top, written, _ = fix_run
    for name in [*BAD, "empty.py", "clean.py"]:
        assert (top / name).read_bytes() == written[name], name
    assert (top / "package_dir.py").is_dir() and os.listdir(top / "package_dir.py") == []
    assert stat.S_ISFIFO(os.lstat(top / "named_pipe.py").st_mode)
    assert not [p for p in top.iterdir() if p.name.endswith(".tmp")]


def test_fix_reports_a_read_only_file_and_does_not_write_it(fix_run):
    top, written, proc = fix_run
    errors = _errors(proc.stderr)
    assert "read_only.py" in errors and "read-only (mode 444)" in errors["read_only.py"], proc.stderr
    ro = top / "read_only.py"
    assert ro.read_bytes() == written["read_only.py"]
    assert stat.S_IMODE(ro.stat().st_mode) == 0o444
    assert "read_only.py" in proc.stdout  # its finding is still reported as remaining


def test_a_file_edited_between_check_and_write_is_not_overwritten(tmp_path, monkeypatch):
    """The user saves the file while the fix is being computed: the fix is dropped, reported."""
    from mcore_lint import runner
    from mcore_lint.settings import resolve_settings

    path = tmp_path / "train.py"
    path.write_text(USE)
    users_text = USE + "\n# saved by the user during the run\n"
    real_fix_source = runner.fix_source

    def fix_then_user_saves(*args, **kwargs):
        result = real_fix_source(*args, **kwargs)
        path.write_text(users_text)  # after the check, before the write
        return result

    monkeypatch.setattr(runner, "fix_source", fix_then_user_saves)
    settings = resolve_settings([tmp_path], target_version="0.16.1", select=["ALL"])
    result = runner.run([path], settings, runner.Options(fix=True, use_cache=False, jobs=1))
    assert path.read_text() == users_text
    [problem] = result.problems
    assert "changed on disk since it was read" in problem.reason
    assert not result.fixed and any(f.code == "MC101" for f in result.findings)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]

    monkeypatch.setattr(runner, "fix_source", real_fix_source)  # the next run fixes it
    result = runner.run([path], settings, runner.Options(fix=True, use_cache=False, jobs=1))
    assert not result.problems and FIXED_CALL in path.read_text() and "saved by the user" in path.read_text()


def test_a_missing_path_is_a_usage_error_naming_it(tmp_path):
    proc = _run("mcore-lint", ["nowhere.py"], tmp_path)
    assert proc.returncode == 2 and "nowhere.py" in proc.stderr and "no such file" in proc.stderr

"""Discovery and decoding details: gitignore syntax, encodings, atomic writes."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import pytest

from mcore_lint.files import FileError, Matcher, decode, discover, parse_ignore_lines, write_atomic


def ignored(patterns: list[str], rel: str, is_dir: bool = False) -> bool:
    result = False
    for r in parse_ignore_lines(patterns):
        if r.dir_only and not is_dir:
            continue
        if r.regex.match(rel):
            result = not r.negate
    return result


@pytest.mark.parametrize("patterns,rel,is_dir,expected", [
    (["*.py"], "a/b/c.py", False, True),
    (["/c.py"], "a/c.py", False, False),
    (["/c.py"], "c.py", False, True),
    (["a/c.py"], "a/c.py", False, True),
    (["a/c.py"], "x/a/c.py", False, False),
    (["build/"], "build", True, True),
    (["build/"], "build", False, False),
    (["**/gen/*.py"], "x/y/gen/z.py", False, True),
    (["a/**/z.py"], "a/z.py", False, True),
    (["a/**/z.py"], "a/b/c/z.py", False, True),
    (["docs/**"], "docs/x/y.py", False, True),
    (["*.py", "!keep.py"], "src/keep.py", False, False),
    (["# comment", "", "x?.py"], "x1.py", False, True),
    (["[ab].py"], "b.py", False, True),
    (["[!ab].py"], "b.py", False, False),
    (["\\#hash.py"], "#hash.py", False, True),
    (["trailing.py   "], "trailing.py", False, True),
])
def test_gitignore_patterns(patterns, rel, is_dir, expected):
    assert ignored(patterns, rel, is_dir) is expected


def test_nested_gitignore_negation_overrides_parent(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("*.py\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / ".gitignore").write_text("!wanted.py\n")
    for p in (tmp_path / "a.py", sub / "wanted.py", sub / "other.py"):
        p.write_text("x = 1\n")
    m = Matcher(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p, _ in discover([tmp_path], m)) == ["sub/wanted.py"]
    m = Matcher(tmp_path, respect_gitignore=False)
    assert len(list(discover([tmp_path], m))) == 3


def test_decode_variants():
    assert decode(b"x = 1\r\n").text == "x = 1\r\n"
    s = decode(codecs.BOM_UTF8 + "é = 1\n".encode())
    assert s.bom and s.text == "é = 1\n" and s.encode() == codecs.BOM_UTF8 + "é = 1\n".encode()
    s = decode(b"# coding: latin-1\nx = '\xe9'\n")
    assert s.encoding in ("iso-8859-1", "latin-1") and s.text.endswith("'é'\n")
    assert s.encode() == b"# coding: latin-1\nx = '\xe9'\n"
    with pytest.raises(FileError, match="cannot decode as utf-8: byte 0xff at offset 1"):
        decode(b"#\xff\n")
    with pytest.raises(FileError, match="cannot determine encoding"):
        decode(b"# coding: klingon\n")


def test_write_atomic_keeps_mode_and_replaces(tmp_path):
    p = tmp_path / "f.py"
    p.write_text("old\n")
    os.chmod(p, 0o640)
    write_atomic(p, b"new\r\n")
    assert p.read_bytes() == b"new\r\n" and (os.stat(p).st_mode & 0o777) == 0o640
    assert [x.name for x in tmp_path.iterdir()] == ["f.py"]
    with pytest.raises(FileError, match="cannot write"):
        write_atomic(tmp_path / "missing-dir" / "g.py", b"x")

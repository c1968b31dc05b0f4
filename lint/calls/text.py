"""Cheap textual pre-checks on one file's source for the call-site search (:mod:`.sites`).

Why a helper of its own: the search only walks a function's syntax tree when the text shows
the walk can find something (``super`` in a method, ``x.m(`` after ``x = Cls(...)``). Those
checks need line offsets; :meth:`SemanticModel.line_starts` builds them with a regex over
every line break (0.3 s on the benchmark corpus, issue 11), and slicing the lines out copies
text per check. Here the offsets come from one ``str.split`` (3x cheaper, the model's table is
reused when another rule already built it), the source is searched between offsets without
slicing or compiling a regex per name, and a word's lines are found once per file.

Line numbers follow the model's (``\\r\\n``, ``\\r`` and ``\\n`` end a line, as in
:meth:`SemanticModel.lines_text`): a source with ``\\r`` uses the model's own table.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from itertools import accumulate
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..semantic import SemanticModel


#: What follows ``name`` in a method call: ``.attr(``, whitespace and line breaks allowed.
_TAIL = re.compile(r"\s*\.\s*[^\W\d]\w*\s*\(")


class SourceText:
    """Line offsets and word positions of ``model.source``, computed on first use."""

    def __init__(self, model: "SemanticModel"):
        self.model = model
        self.source: str = model.source
        self._starts: list[int] | None = None
        self._words: dict[str, list[int]] = {}
        self._ascii: bool | None = None

    @property
    def ascii(self) -> bool:
        """Plain ASCII source: every identifier in the tree is spelled as in the text (no
        NFKC-normalised ``ｓｕｐｅｒ``), so a name's absence from some lines proves no node there
        uses it."""
        if self._ascii is None:
            self._ascii = self.source.isascii()
        return self._ascii

    @property
    def starts(self) -> list[int]:
        """0-based offset of each line start (line 1 at index 0), as ``model.line_starts``."""
        starts = self._starts
        if starts is None:
            built = getattr(self.model, "_line_starts", None)  # another rule already paid for it
            if built is not None or "\r" in self.source:
                starts = self.model.line_starts
            else:
                starts = [0, *accumulate(len(line) + 1 for line in self.source.split("\n"))]
                starts.pop()  # the offset one past the end
            self._starts = starts
        return starts

    def offset(self, lineno: int) -> int:
        """Offset where line ``lineno`` (1-based) starts; the source length past the last line."""
        starts = self.starts
        return starts[lineno - 1] if lineno - 1 < len(starts) else len(self.source)

    def is_ascii(self, first: int, last: int) -> bool:
        """Lines ``first``..``last`` are plain ASCII (see :attr:`ascii`)."""
        return self.ascii or self.source[self.offset(first):self.offset(last + 1)].isascii()

    def method_call(self, name: str, first: int, last: int) -> bool:
        r"""``name.attr(`` in lines ``first``..``last``: exactly what
        ``re.search(r"(?<![\w.])" + re.escape(name) + r"\s*\.\s*[^\W\d]\w*\s*\(", lines_text(first, last))``
        answers, without compiling a regex per name (584 names cost 0.2 s, profiled, on the
        benchmark corpus): each occurrence of ``name`` is tested in place."""
        src = self.source
        start, end = self.offset(first), self.offset(last + 1)
        size = len(name)
        i = src.find(name, start, end)
        while i >= 0:
            # the look-behind ``(?<![\w.])``; at the slice start it sees nothing
            before = src[i - 1] if i > start else " "
            if not (before.isalnum() or before == "_" or before == ".") and _TAIL.match(src, i + size, end):
                return True
            i = src.find(name, i + 1, end)
        return False

    def name_lines(self, name: str, first: int, last: int) -> list[int]:
        r"""Sorted line numbers in ``first``..``last`` where ``name`` occurs as a whole word (no
        ``\w`` character either side): every line where a node can spell the identifier."""
        src, starts = self.source, self.starts
        start, end = self.offset(first), self.offset(last + 1)
        size = len(name)
        lines: list[int] = []
        i = src.find(name, start, end)
        while i >= 0:
            before = src[i - 1] if i > 0 else ""
            after = src[i + size] if i + size < len(src) else ""
            if not (before.isalnum() or before == "_" or after.isalnum() or after == "_"):
                line = bisect_right(starts, i)
                if not lines or lines[-1] != line:
                    lines.append(line)
            i = src.find(name, i + 1, end)
        return lines

    def word_lines(self, word: str) -> list[int]:
        """Sorted line numbers where ``word`` occurs as a substring (once per line)."""
        got = self._words.get(word)
        if got is None:
            src, starts = self.source, None
            lines: list[int] = []
            i = src.find(word)
            while i >= 0:
                if starts is None:
                    starts = self.starts
                line = bisect_right(starts, i)
                if not lines or lines[-1] != line:
                    lines.append(line)
                i = src.find(word, i + 1)
            got = self._words[word] = lines
        return got

    def has_word(self, word: str, first: int, last: int) -> bool:
        """``word in model.lines_text(first, last)`` (``word`` holds no line break)."""
        lines = self.word_lines(word)
        if not lines:
            return False
        i = bisect_left(lines, first)
        return i < len(lines) and lines[i] <= last

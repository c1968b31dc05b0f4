"""Pieces several test modules share: the torch-hiding prelude for subprocess checks, and
the lint run over one part of the real corpus (tools/corpus.py) used by the ``-m real`` tests.

Kept here so the tests that promise "works without torch" hide exactly the same modules,
and the real-corpus tests skip exactly the same unreadable or unparsable files.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

# Prepended to a ``python -c`` program: any import of torch or megatron fails, as on a
# machine without the ``[runtime]`` extra.
HIDE_TORCH = textwrap.dedent(
    """
    import sys
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch.") or name.startswith("megatron"):
                raise ImportError(f"{name} is hidden for this test")
            return None
    sys.meta_path.insert(0, _Block())
    """
)


def target_of(spec: str):
    """A ``Target`` from a test's spec: a version span (``>=0.16.1``) or one release."""
    from mcore_lint.target import Target

    return Target.parse(None, spec) if spec[:1] in "<>=!~" else Target.parse(spec)


def lint_corpus_part(
    part: str,
    rules: Sequence,
    target: str,
    module_of: Callable[[Path, Path], tuple[str, bool]],
) -> list:
    """Findings of ``rules`` on every file of corpus ``part`` against ``target``.

    ``module_of(path, site)`` names each file's module (callers differ: megatron's
    namespace package needs its own rule). Files that do not decode or do not parse on
    this Python are skipped: they are the wheel's, not ours to judge.
    """
    from mcore_lint.engine import ParseError, check_source
    from mcore_lint.files import FileError, decode

    from tools import corpus

    site = corpus.site_root(part)
    t = target_of(target)
    found = []
    for path in corpus.files(part):
        try:
            text = decode(path.read_bytes()).text
        except FileError:
            continue
        module, is_pkg = module_of(path, site)
        try:
            found += check_source(text, path.relative_to(site).as_posix(), rules, t, module=module, is_package=is_pkg)
        except ParseError:
            continue
    return found

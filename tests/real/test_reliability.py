"""mcore-lint / mcore-fix on real code nobody here wrote: never crash, never corrupt (issue 12).

Each corpus part (megatron-core 0.9.0 / 0.16.1 / 0.19.2, megatron-bridge 0.6.2, nemo-toolkit
2.2.1 nlp + lightning; downloaded from PyPI by ``tools.corpus``) and the CPython standard
library go once through ``tools.reliability`` (lint, fix with ``--unsafe-fixes``, fix again,
all rules, real command lines on a copy with CRLF and BOM variants mixed in); the assertions
below read the recorded figures. ``python -m tools.reliability`` prints the same figures.
"""

from __future__ import annotations

import pytest

from tools import corpus, reliability

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, reliability.RunFigures]:
    work = tmp_path_factory.mktemp("reliability")
    return {part: reliability.run_part(part, work) for part in corpus.ALL_PARTS}


@pytest.fixture(scope="module")
def stdlib(tmp_path_factory) -> reliability.RunFigures:
    return reliability.run_stdlib(tmp_path_factory.mktemp("reliability-stdlib"))


@pytest.mark.parametrize("part", corpus.ALL_PARTS)
def test_part_lints_and_fixes_without_crash_or_damage(runs, part):
    fig = runs[part]
    assert fig.files == corpus.stats(part).files and fig.lines == corpus.stats(part).lines
    assert fig.failures() == [], "\n".join(fig.failures())
    assert fig.exit_codes[0] in (0, 1) and fig.exit_codes[1] in (0, 1) and fig.exit_codes[2] in (0, 1), fig.exit_codes


def test_the_corpus_exercises_findings_fixes_and_unusual_files(runs):
    """The invariants above are only worth something if the run found, fixed and rewrote files,
    including CRLF ones (whose line endings must survive) and files with a BOM."""
    figs = list(runs.values())
    assert sum(f.total_findings for f in figs) > 100
    assert len({code for f in figs for code in f.findings}) >= 5
    assert sum(f.fixed for f in figs) > 0 and sum(f.files_changed for f in figs) > 0
    assert sum(f.crlf_files for f in figs) > 100 and sum(f.bom_files for f in figs) > 100
    assert sum(f.crlf_changed for f in figs) > 0, "no CRLF file was rewritten: line-ending check saw nothing"


def test_stdlib_has_no_findings_no_changes_and_names_its_invalid_files(stdlib):
    assert reliability.stdlib_failures(stdlib) == [], "\n".join(reliability.stdlib_failures(stdlib))
    assert stdlib.total_findings == 0 and stdlib.files_changed == 0 and stdlib.fixed == 0
    assert stdlib.files > 1000
    named = {p.split(": ", 1)[0].split("/", 1)[1] for p in stdlib.problems}
    # test data that is not valid Python 3 on purpose (present in CPython 3.11's Lib/)
    for known in ("lib2to3/tests/data/py2_test_grammar.py", "test/tokenizedata/bad_coding.py",
                  "test/tokenizedata/badsyntax_pep3120.py"):
        if (reliability.stdlib_dir() / known).exists():
            assert known in named, f"{known} not named on stderr: {sorted(named)}"
    assert stdlib.exit_codes == (2, 2, 2)

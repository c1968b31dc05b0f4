"""The real `pre-commit` tool runs both hooks of `.pre-commit-hooks.yaml` from this checkout
(as the hook repository, at its HEAD commit) on a bad file staged in a temporary git repo.

pre-commit builds the hook environment with pip (this project + its light dependencies from
PyPI), hence the `real` marker. Environments are kept in the shared download cache, keyed by
commit, so reruns of one commit reuse theirs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
BAD = (ROOT / "fixtures" / "mc101" / "sft_trainer_before.py").read_text(encoding="utf-8")
GOOD = (ROOT / "fixtures" / "mc101" / "sft_trainer_after.py").read_text(encoding="utf-8")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.mark.real
def test_pre_commit_runs_both_hooks_on_a_staged_bad_file(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists() or not PRE_COMMIT.exists():
        pytest.skip("needs git, a git checkout of this project and pre-commit")
    rev = _git(ROOT, "rev-parse", "HEAD").strip()
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "dev")
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {ROOT}\n    rev: {rev}\n    hooks:\n      - id: mcore-lint\n      - id: mcore-fix\n")
    (repo / "trainer.py").write_text(BAD)
    (repo / "README.md").write_text("not python\n")
    _git(repo, "add", ".")
    from tools.downloads import CACHE

    env = dict(os.environ, PRE_COMMIT_HOME=str(CACHE / "pre-commit"), PRE_COMMIT_COLOR="never")
    run = subprocess.run([str(PRE_COMMIT), "run"], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    lint_part, _, fix_part = out.partition("mcore-fix")
    assert "mcore-lint" in lint_part and "Failed" in lint_part
    assert "trainer.py:42:12: MC101 [*] `get_data_parallel_world_size` is not defined" in lint_part
    assert "Failed" in fix_part and "files were modified by this hook" in fix_part
    assert "Found 3 errors (3 fixed, 0 remaining)." in fix_part
    assert (repo / "trainer.py").read_text() == GOOD
    assert "trainer.py" in _git(repo, "diff", "--name-only")  # fixed in the work tree, not staged
    # after staging the fix both hooks pass and the commit goes through with hooks installed
    _git(repo, "add", "trainer.py")
    subprocess.run([str(PRE_COMMIT), "install"], cwd=repo, env=env, check=True, capture_output=True)
    commit = subprocess.run(["git", "commit", "-q", "-m", "fixed"], cwd=repo, env=env, capture_output=True, text=True)
    assert commit.returncode == 0, commit.stdout + commit.stderr
    assert "Passed" in commit.stdout + commit.stderr

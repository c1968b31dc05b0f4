"""The distribution's promises that hold before any feature: light imports, entry points."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import mcore_compat
from tests.helpers import HIDE_TORCH


def test_import_without_torch_or_megatron():
    code = HIDE_TORCH + textwrap.dedent(
        """
        import mcore_compat, mcore_lint
        assert "torch" not in sys.modules, sorted(m for m in sys.modules if m.startswith("torch"))
        assert not any(m.startswith("megatron") for m in sys.modules)
        print("ok", mcore_compat.__version__)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok ")


def test_console_script_version():
    proc = subprocess.run(
        [sys.executable, "-c", "from mcore_compat.cli import main; main()", "--version"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert mcore_compat.__version__ in proc.stdout

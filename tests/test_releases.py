"""mcore_version() and the feature probes, without torch or megatron.

The version tests lay out real ``megatron/core`` package folders (package_info.py as the
releases ship it, dist-info metadata) on ``sys.path``: exactly what the function reads.
"""

from __future__ import annotations

import dataclasses
import functools
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from mcore_compat import releases

PACKAGE_INFO = """\
MAJOR = {major}
MINOR = {minor}
PATCH = {patch}
PRE_RELEASE = {pre!r}

# Use the following formatting: (major, minor, patch, pre-release)
VERSION = (MAJOR, MINOR, PATCH, PRE_RELEASE)
__version__ = '.'.join(map(str, VERSION[:3])) + ''.join(VERSION[3:])
"""


def _release_dir(root: Path, major=0, minor=16, patch=1, pre="", package_info=True) -> Path:
    core = root / "megatron" / "core"
    core.mkdir(parents=True)
    (core / "__init__.py").write_text("raise RuntimeError('mcore_version must not import megatron')\n")
    if package_info:
        (core / "package_info.py").write_text(PACKAGE_INFO.format(major=major, minor=minor, patch=patch, pre=pre))
    return root


@pytest.fixture
def on_path(monkeypatch):
    def put(path: Path) -> None:
        monkeypatch.setattr(sys, "path", [str(path), *[p for p in sys.path if "megatron" not in p]])
    for name in [m for m in sys.modules if m == "megatron" or m.startswith("megatron.")]:
        monkeypatch.delitem(sys.modules, name)
    return put


@pytest.mark.parametrize("pre, want", [("", "0.16.1"), ("rc0", "0.16.1rc0"), ("rc2", "0.16.1rc2"),
                                       ("dev0", "0.16.1.dev0"), (".dev0+abc1234", "0.16.1.dev0+abc1234")])
def test_version_from_package_info(tmp_path, on_path, pre, want):
    on_path(_release_dir(tmp_path, pre=pre))
    got = releases.mcore_version()
    assert got == Version(want) and str(got) == want
    assert "megatron.core" not in sys.modules  # read, never imported
    assert got.is_prerelease == bool(pre)


def test_version_from_dist_info_when_package_info_is_missing(tmp_path, on_path):
    root = _release_dir(tmp_path, package_info=False)
    info = root / "megatron_core-0.13.0rc1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: megatron-core\nVersion: 0.13.0rc1\n")
    on_path(root)
    assert releases.mcore_version() == Version("0.13.0rc1")


def test_first_copy_on_sys_path_wins_and_cache_follows_sys_path(tmp_path, on_path):
    a = _release_dir(tmp_path / "a", minor=9, patch=0)
    b = _release_dir(tmp_path / "b", minor=12, patch=3)
    on_path(a)
    sys.path.insert(1, str(b))
    assert releases.mcore_version() == Version("0.9.0")
    sys.path.remove(str(a))
    assert releases.mcore_version() == Version("0.12.3")  # sys.path changed: re-read
    assert releases.installed_release() == "0.12.3"


def test_not_installed(tmp_path, on_path):
    on_path(tmp_path)  # megatron-energon may provide a `megatron` namespace, but no core
    assert releases.mcore_version() is None
    assert releases.installed_release() == "(not installed)"


def test_import_does_not_pull_torch_or_megatron():
    code = ("import sys, mcore_compat; from mcore_compat import releases, facts, calls; "
            "mcore_compat.mcore_version(); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'megatron')]; "
            "print(bad); assert not bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_parse_release():
    assert releases.parse_release(" 0.13.0rc0 ") == Version("0.13.0rc0")
    with pytest.raises(ValueError, match="not a megatron-core version: 'zero'"):
        releases.parse_release("zero")


# -- probes -------------------------------------------------------------------------------------

def f(a, b=1, *, c=None, **extra):  # noqa: ANN001 - probe target
    return a, b, c, extra


def g(a, /, b):  # noqa: ANN001
    return a, b


@dataclasses.dataclass
class Cfg:
    x: int = 1
    y: str = "a"
    z: list = dataclasses.field(default_factory=list)
    derived: int = dataclasses.field(init=False, default=0)


def test_signature_probes():
    assert releases.accepts_keyword(f, "b") and releases.accepts_keyword(f, "c")
    assert not releases.accepts_keyword(f, "extra")  # the **kwargs name is not a keyword
    assert not releases.accepts_keyword(f, "d")
    assert releases.accepts_any_keyword(f) and not releases.accepts_any_keyword(g)
    assert not releases.accepts_keyword(g, "a")  # positional-only
    assert releases.accepts_keyword(functools.partial(g, 1), "b")
    assert list(releases.parameters(Cfg)) == ["x", "y", "z"]  # a class: its constructor


def test_field_probes():
    assert list(releases.config_fields(Cfg)) == ["x", "y", "z"]  # init=False left out
    assert releases.has_field(Cfg, "z") and not releases.has_field(Cfg, "derived")
    with pytest.raises(TypeError, match="is not a dataclass"):
        releases.config_fields(int)


def test_has_symbol_on_real_modules(tmp_path, monkeypatch):
    pkg = tmp_path / "probe_pkg_h2"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "here.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert releases.has_symbol("probe_pkg_h2.here")
    assert releases.has_symbol("probe_pkg_h2.here.VALUE")
    assert not releases.has_symbol("probe_pkg_h2.here.OTHER")
    assert not releases.has_symbol("probe_pkg_h2.gone.VALUE")
    assert releases.has_symbol("json.dumps")


def test_probes_are_cached():
    releases.parameters(f)
    hits = releases._parameters_cached.cache_info().hits
    releases.parameters(f)
    assert releases._parameters_cached.cache_info().hits == hits + 1


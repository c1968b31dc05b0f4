"""call / make_config / config_to_dict / import_symbol on plain Python objects (no megatron).

What megatron-specific renames and defaults do is tested on the real releases in
tests/test_calls_real.py; here: the generic contract - what passes unchanged, what is refused
and how the errors read, and that a real import failure is never taken for "moved".
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import sys
import warnings

import pytest

import mcore_compat as mc
from mcore_compat import calls


def build(a, b=2, *, c=None):  # noqa: ANN001 - call target
    return (a, b, c)


def loose(a, **extra):  # noqa: ANN001
    return (a, extra)


@dataclasses.dataclass
class Cfg:
    x: int = 1
    name: str = "n"
    hook: object = None
    derived: int = dataclasses.field(init=False, default=0)
    _state: object = None

    def __post_init__(self):
        self.derived = self.x * 2


# -- call -------------------------------------------------------------------------------------

def test_call_passes_what_the_callable_takes():
    assert mc.call(build, 1, 3, c=4) == (1, 3, 4)
    assert mc.call(build, a=1) == (1, 2, None)
    assert mc.call(functools.partial(build, 1), c=5) == (1, 2, 5)
    assert mc.call(loose, 1, anything=2) == (1, {"anything": 2})  # **kwargs takes it all
    assert mc.call(len, [1, 2]) == 2  # no signature: called as is


def test_call_unknown_keyword_raises_naming_it_and_the_release():
    with pytest.raises(TypeError) as err:
        mc.call(build, 1, d=1)
    msg = str(err.value)
    assert "'d'" in msg and "test_calls.build" in msg
    assert "megatron-core" in msg and "API index does not know" in msg


def test_call_positional_arguments_pass_through_unchanged():
    # a positional meant for another release's parameter order is not reinterpreted
    assert mc.call(build, 1, 5) == (1, 5, None)
    with pytest.raises(TypeError):
        mc.call(build, 1, 2, 3)  # Python's own error: too many positionals


def test_is_default_is_strict_about_types():
    assert calls._is_default(None, None) and not calls._is_default(0, None)
    assert calls._is_default(False, False) and not calls._is_default(0, False)
    assert calls._is_default(1, 1.0) and not calls._is_default(1.5, 1.0)
    assert calls._is_default("sdpa", "sdpa") and not calls._is_default(["sdpa"], "sdpa")
    assert not calls._is_default(True, 1)


# -- make_config --------------------------------------------------------------------------------

def test_make_config_known_fields():
    cfg = mc.make_config(Cfg, x=3, name="m")
    assert (cfg.x, cfg.name, cfg.derived) == (3, "m", 6)


def test_make_config_unknown_field_raises_naming_it():
    with pytest.raises(TypeError) as err:
        mc.make_config(Cfg, x=3, colour="red", size=2)
    msg = str(err.value)
    assert "make_config(Cfg)" in msg and "colour='red'" in msg and "size=2" in msg
    assert "megatron-core" in msg


def test_make_config_lenient_drops_with_one_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = mc.make_config(Cfg, strict=False, x=3, colour="red", size=2)
    assert cfg.x == 3
    compat = [w for w in caught if issubclass(w.category, calls.CompatWarning)]
    assert len(compat) == 1
    assert "colour='red'" in str(compat[0].message) and "size=2" in str(compat[0].message)
    assert compat[0].filename == __file__  # points at the caller


def test_make_config_init_false_field_is_not_settable():
    with pytest.raises(TypeError, match="derived=5"):
        mc.make_config(Cfg, derived=5)


def test_make_config_needs_a_dataclass_type():
    with pytest.raises(TypeError, match="needs a dataclass type"):
        mc.make_config(Cfg(), x=1)
    with pytest.raises(TypeError, match="needs a dataclass type"):
        mc.make_config(dict, x=1)


# -- config_to_dict ------------------------------------------------------------------------------

def test_config_to_dict_leaves_out_callables_init_false_and_private():
    cfg = Cfg(x=2, hook=print, _state=object())
    assert mc.config_to_dict(cfg) == {"x": 2, "name": "n"}
    again = mc.make_config(Cfg, **mc.config_to_dict(cfg))
    assert (again.x, again.derived) == (2, 4)
    with pytest.raises(TypeError, match="dataclass instance, got type"):
        mc.config_to_dict(Cfg)


# -- import_symbol -------------------------------------------------------------------------------

def test_import_symbol_modules_and_names():
    import json.decoder

    assert mc.import_symbol("json.decoder") is json.decoder
    assert mc.import_symbol("json.decoder.JSONDecoder") is json.decoder.JSONDecoder
    assert mc.import_symbol("json.decoder.JSONDecoder.decode") is json.decoder.JSONDecoder.decode


def test_import_symbol_nowhere_raises_import_error_saying_so():
    with pytest.raises(ImportError) as err:
        mc.import_symbol("json.decoder.NoSuchThing")
    msg = str(err.value)
    assert "json.decoder.NoSuchThing" in msg and "no megatron-core release on record" in msg
    assert err.value.name == "json.decoder.NoSuchThing"
    with pytest.raises(ImportError, match="no_such_top_level_pkg_h2"):
        mc.import_symbol("no_such_top_level_pkg_h2.x")


@pytest.mark.parametrize("bad", ["", ".x", "x.", None])
def test_import_symbol_rejects_bad_names(bad):
    with pytest.raises(ValueError, match="absolute dotted name"):
        mc.import_symbol(bad)


def test_import_symbol_propagates_a_real_import_failure(tmp_path, monkeypatch):
    """A module that is there but needs a missing dependency is an error about that
    dependency - never "not in this release" (the silent HAVE_TE = False bug)."""
    pkg = tmp_path / "h2_probe_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "needs_dep.py").write_text("import h2_missing_dependency_xyz\nVALUE = 1\n")
    (pkg / "broken.py").write_text("from json import NoSuchName\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as err:
        mc.import_symbol("h2_probe_pkg.needs_dep.VALUE")
    assert err.value.name == "h2_missing_dependency_xyz"
    assert "module h2_probe_pkg.needs_dep is there" in str(err.value)
    assert "cannot be imported here" in str(err.value)
    with pytest.raises(ImportError, match="cannot import name 'NoSuchName'"):
        mc.import_symbol("h2_probe_pkg.broken.X")
    for name in [m for m in sys.modules if m.startswith("h2_probe_pkg")]:
        monkeypatch.delitem(sys.modules, name)


def test_log_once(caplog):
    calls._LOGGED.discard(("test", 1))
    with caplog.at_level(logging.INFO, logger="mcore_compat"):
        calls._log_once(("test", 1), logging.INFO, "first")
        calls._log_once(("test", 1), logging.INFO, "second")
    assert [r.message for r in caplog.records] == ["first"]

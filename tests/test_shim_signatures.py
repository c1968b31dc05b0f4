"""The shim's calls bind on the releases that cannot be imported here (0.18+ need triton).

Each getter of megatron-core 0.18.2 / 0.19.2 ``parallel_state.py`` is rebuilt from the real
source's signature (``ast``: same parameters, order and defaults) as a function that returns
its bound arguments; the shim's own keyword logic (``keywords_for``, ``first_callable``, the
DP keyword builder) is then run against those signatures. This catches 0.19's inserted
``with_gtp_remat`` positional parameter and 0.18's removed ``independent_all_gather``.
"""

from __future__ import annotations

import ast
import inspect
import warnings
from types import SimpleNamespace

import pytest

from mcore_compat._dist import keywords_for
from mcore_compat.groups import GLOBAL_GETTERS, MPU_GETTERS, first_callable

STATIC_RELEASES = ("0.18.2", "0.19.2")


def _recorders(release: str) -> SimpleNamespace:
    """Module-like namespace: every top-level function of the release's parallel_state with
    its real signature, body replaced by ``return dict(locals())``."""
    from tools.downloads import megatron_core

    src = (megatron_core(release) / "megatron/core/parallel_state.py").read_text()
    ns: dict[str, object] = {}
    for node in ast.parse(src).body:
        if isinstance(node, ast.FunctionDef):
            fn = ast.FunctionDef(name=node.name, args=node.args,
                                 body=ast.parse("return dict(locals())").body,
                                 decorator_list=[], returns=None, type_params=[])
            mod = ast.fix_missing_locations(ast.Module(body=[fn], type_ignores=[]))
            try:
                exec(compile(mod, f"<{release}:{node.name}>", "exec"), {"Optional": None}, ns)
            except NameError:
                continue  # a default that is a module constant: not one of the getters here
    return SimpleNamespace(**ns)


@pytest.fixture(scope="module", params=STATIC_RELEASES)
def ps_static(request):
    return request.param, _recorders(request.param)


@pytest.mark.real
def test_signatures_are_the_real_ones(ps_static):
    release, ps = ps_static
    params = list(inspect.signature(ps.get_data_parallel_group).parameters)
    if release.startswith("0.19"):
        assert params[:2] == ["with_context_parallel", "with_gtp_remat"]
    else:
        assert "with_gtp_remat" not in params and "independent_all_gather" not in params


@pytest.mark.real
@pytest.mark.parametrize("table", ["GLOBAL_GETTERS", "MPU_GETTERS"])
def test_group_fallback_calls_bind(ps_static, table):
    """Every group getter the fallback chain would call exists and binds, and what binds is
    what the field means (dp_cp -> with_context_parallel=True; gtp remat left at default)."""
    release, ps = ps_static
    getters = {"GLOBAL_GETTERS": GLOBAL_GETTERS, "MPU_GETTERS": MPU_GETTERS}[table]
    for field, candidates in getters.items():
        found = first_callable(ps, candidates)
        assert found is not None, f"{release}: no getter for {field} among {candidates}"
        name, fn, kwargs = found
        assert name == candidates[0][0], f"{release}: {field} fell back to {name}"
        bound = fn(**kwargs)
        for k, v in kwargs.items():
            assert bound[k] == v, (field, k)
        if "with_gtp_remat" in bound:
            assert bound["with_gtp_remat"] is True, field
    assert first_callable(ps, GLOBAL_GETTERS["dp_cp"])[1](
        **first_callable(ps, GLOBAL_GETTERS["dp_cp"])[2])["with_context_parallel"] is True


@pytest.mark.real
@pytest.mark.parametrize("name", ["get_data_parallel_group", "get_data_parallel_rank",
                                  "get_data_parallel_world_size", "get_data_parallel_src_rank"])
@pytest.mark.parametrize("wcp", [False, True])
def test_dp_getter_keywords_bind(ps_static, name, wcp):
    from mcore_compat.parallel_state import dp_upstream_kwargs

    release, ps = ps_static
    fn = getattr(ps, name)
    sig = inspect.signature(fn)
    qual = f"megatron.core.parallel_state.{name}"
    kw = keywords_for(sig, qual, dp_upstream_kwargs(wcp, {}), release=release)
    bound = fn(**kw)
    assert bound["with_context_parallel"] is wcp
    if "with_gtp_remat" in sig.parameters:
        assert bound["with_gtp_remat"] is True  # not swallowed by a positional
    if "partial_data_parallel" in sig.parameters:
        kw = keywords_for(sig, qual, dp_upstream_kwargs(wcp, {"partial_data_parallel": True}),
                          release=release)
        assert fn(**kw)["partial_data_parallel"] is True
    # 0.19's keyword on 0.18: default dropped, non-default refused with names
    kw = keywords_for(sig, qual, dp_upstream_kwargs(wcp, {"with_gtp_remat": True}),
                      release=release)
    assert fn(**kw)["with_context_parallel"] is wcp
    if "with_gtp_remat" in sig.parameters:
        assert fn(**keywords_for(sig, qual, {"with_gtp_remat": False}))["with_gtp_remat"] is False
    else:
        with pytest.raises(TypeError, match=rf"with_gtp_remat.*{release}"):
            keywords_for(sig, qual, {"with_gtp_remat": False}, release=release)
    # 0.16–0.17's independent_all_gather is gone in 0.18+
    assert keywords_for(sig, qual, {"independent_all_gather": False}, release=release) == {}
    with pytest.raises(TypeError, match="independent_all_gather"):
        keywords_for(sig, qual, {"independent_all_gather": True}, release=release)


@pytest.mark.real
def test_positional_call_hazard_is_real_on_019():
    """Why the shim never forwards positionally: on 0.19 a 0.18-style positional call binds
    the second value to with_gtp_remat; the drop-in refuses a second positional."""
    ps = _recorders("0.19.2")
    assert ps.get_data_parallel_group(True, True) == {
        "with_context_parallel": True, "with_gtp_remat": True, "partial_data_parallel": False}
    from mcore_compat import parallel_state as shim

    with pytest.raises(TypeError):
        shim.get_data_parallel_group(True, True)


@pytest.mark.real
@pytest.mark.parametrize("fn_name", ["is_pipeline_first_stage", "is_pipeline_last_stage"])
def test_stage_predicates_take_ignore_virtual_and_vp_stage(ps_static, fn_name):
    release, ps = ps_static
    bound = getattr(ps, fn_name)(ignore_virtual=False, vp_stage=1)
    assert bound == {"ignore_virtual": False, "vp_stage": 1}


def _names(release: str) -> set[str]:
    from tools.downloads import megatron_core

    src = (megatron_core(release) / "megatron/core/parallel_state.py").read_text()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # megatron's own invalid escapes
        warnings.simplefilter("ignore", DeprecationWarning)
        tree = ast.parse(src)
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


@pytest.mark.real
def test_wrapped_removed_and_added_names_are_real_megatron_names():
    """A typo in a wrapped name would silently answer from a group forever: every name the
    drop-in defines exists in a real release, removed ones are gone from the newest, and the
    0.9.0 names the added aliases fall back to exist in 0.9.0."""
    from mcore_compat import parallel_state as shim

    new, old = _names("0.19.2"), _names("0.9.0") | _names("0.13.1") | _names("0.16.1")
    missing = sorted(n for n in shim.WRAPPED if n not in new | old)
    assert missing == [], missing
    assert sorted(n for n in shim.REMOVED if n in new) == []
    assert sorted(n for n in shim.REMOVED if n not in old) == []
    assert all(old_name in _names("0.9.0") for old_name, _ in shim.ADDED_ALIASES.values())
    added = {n for n, _f, _o, _d in shim._SIMPLE} - _names("0.9.0")
    assert added >= {"get_expert_data_parallel_group", "get_expert_tensor_parallel_rank",
                     "get_model_parallel_src_rank"}, added

"""The shim in one process: without torch, and with torch but without torch.distributed.

Single-process answers (size 1, rank 0, first and last stage, no groups), the keyword rules
(drop a default the release lacks, refuse anything else with names), the compatible
ProcessGroupCollection, and the removed names' warnings.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import pytest

from tests.helpers import HIDE_TORCH


def test_single_process_answers_without_torch():
    code = HIDE_TORCH + textwrap.dedent(
        """
        import mcore_compat as mc
        from mcore_compat import parallel_state as ps
        g = mc.resolve_groups()
        assert all(getattr(g, f) is None for f in ("tp", "pp", "dp", "dp_cp", "embd")), g
        assert (g.size("tp"), g.rank("dp"), g.ranks("pp")) == (1, 0, [0])
        assert (mc.get_pg_size(), mc.get_pg_rank(), mc.get_pg_src_rank()) == (1, 0, 0)
        assert ps.get_data_parallel_world_size() == 1   # upstream says 0 here
        assert ps.get_data_parallel_world_size(with_context_parallel=True) == 1
        assert ps.get_tensor_model_parallel_rank() == 0
        assert ps.get_expert_data_parallel_world_size() == 1
        assert ps.get_pipeline_model_parallel_next_rank() == 0
        assert ps.get_context_parallel_global_ranks() == [0]
        assert ps.get_data_parallel_group() is None
        assert ps.is_pipeline_first_stage() and ps.is_pipeline_last_stage()
        assert ps.is_pipeline_first_stage(ignore_virtual=False, vp_stage=1)
        assert ps.get_data_parallel_rank(with_gtp_remat=True) == 0
        assert ps.get_data_parallel_rank(with_gtp_remat=False) == 0  # no release to ask
        try:
            ps.get_data_parallel_rank(no_such_keyword=1)
            raise SystemExit("no TypeError")
        except TypeError as e:
            assert "no_such_keyword" in str(e) and "not installed" in str(e), e
        try:
            ps.initialize_model_parallel
            raise SystemExit("no AttributeError")
        except AttributeError as e:
            assert "megatron-core is not installed" in str(e), e
        assert mc.ProcessGroupCollection.__name__ == "CompatProcessGroupCollection"
        assert not hasattr(mc.pg_collection_from_mpu(), "tp")
        assert "torch" not in sys.modules
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert proc.stdout.strip() == "ok"


def test_loss_average_single_process_returns_the_losses():
    import torch

    from mcore_compat import average_losses_across_data_parallel_group as avg

    loss = torch.tensor(2.5, requires_grad=True)
    out = avg([loss, torch.tensor(3)])
    assert out.tolist() == [2.5, 3.0] and not out.requires_grad
    assert avg(torch.tensor([1.0, 2.0])).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match=r"losses\[1\] has 2 elements"):
        avg([loss, torch.ones(2)])
    with pytest.raises(TypeError, match="non-empty sequence"):
        avg([])


def test_explicit_group_without_dist_is_an_error():
    import mcore_compat as mc
    from mcore_compat import parallel_state as ps

    with pytest.raises(ValueError, match="tp_group passed but torch.distributed is not"):
        mc.resolve_groups(tp_group=object())
    with pytest.raises(ValueError, match="dp_group passed"):
        ps.get_data_parallel_rank(dp_group=object())


def test_keyword_rules_and_facts_span(monkeypatch):
    import inspect

    from mcore_compat import _dist, facts

    def getter(with_context_parallel=False, partial_data_parallel=False):
        return None

    sig = inspect.signature(getter)
    q = "megatron.core.parallel_state.get_data_parallel_rank"
    assert _dist.keywords_for(sig, q, {"with_context_parallel": True,
                                       "with_gtp_remat": True}) == {"with_context_parallel": True}
    monkeypatch.setattr(facts, "releases_accepting", lambda qn, kw: None)
    with pytest.raises(TypeError) as exc:
        _dist.keywords_for(sig, q, {"with_gtp_remat": False}, release="0.16.1")
    assert "'with_gtp_remat'" in str(exc.value) and "0.16.1" in str(exc.value)
    assert "no known release data" in str(exc.value)  # facts answered None
    monkeypatch.setattr(facts, "releases_accepting", lambda qn, kw: "0.19.0 and later")
    with pytest.raises(TypeError, match="releases accepting it: 0.19.0 and later"):
        _dist.keywords_for(sig, q, {"with_gtp_remat": False}, release="0.16.1")
    with pytest.raises(TypeError, match="unknown_kw"):  # no known default: never dropped
        _dist.keywords_for(sig, q, {"unknown_kw": None}, release="0.16.1")


def test_compat_process_group_collection_contract():
    from mcore_compat.groups import CompatProcessGroupCollection as PGC

    c = PGC(tp=None, dp=None)
    assert hasattr(c, "tp") and not hasattr(c, "pp")  # unset fields are absent, as upstream
    with pytest.raises(ValueError, match="Unknown attribute: tpp"):
        PGC(tpp=None)


def test_removed_names_answer_and_warn_once():
    from mcore_compat import parallel_state as ps

    ps._warned.clear()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert ps.REMOVED["is_inside_encoder"]() is True  # one stage
        assert ps.REMOVED["is_inside_encoder"]() is True
        assert ps.REMOVED["get_pipeline_model_parallel_split_rank"]() is None
        assert ps.REMOVED["is_pipeline_stage_at_split"]() is True
        with pytest.raises(ValueError, match="split rank to 2.*0.14.0"):
            ps.REMOVED["set_pipeline_model_parallel_split_rank"](2)
    msgs = [str(w.message) for w in seen if w.category is DeprecationWarning]
    assert sum("is_inside_encoder" in m for m in msgs) == 1
    assert any("removed in megatron-core 0.14.0" in m for m in msgs)
    with pytest.warns(DeprecationWarning, match="0.17.0"):
        assert ps.REMOVED["is_unitialized"]() is True


def test_keyword_filter_property():
    """For any signature and keywords: accepted ones pass unchanged, unaccepted ones at their
    default are dropped, and anything else raises naming that keyword."""
    import inspect

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from mcore_compat._dist import KEYWORD_DEFAULTS, accepts, keywords_for

    names = sorted(KEYWORD_DEFAULTS)
    P = inspect.Parameter

    @settings(max_examples=200, deadline=None)
    @given(params=st.sets(st.sampled_from(names)),
           kwargs=st.dictionaries(st.sampled_from(names), st.sampled_from([True, False, None, 0])))
    def run(params, kwargs):
        sig = inspect.Signature([P(n, P.POSITIONAL_OR_KEYWORD, default=None) for n in params])
        bad = [k for k, v in kwargs.items() if k not in params and v != KEYWORD_DEFAULTS[k]]
        try:
            out = keywords_for(sig, "q.f", kwargs, release="0.0.0")
        except TypeError as exc:
            assert bad and any(repr(k) in str(exc) for k in bad)
            return
        assert not bad
        assert out == {k: v for k, v in kwargs.items() if k in params}
        assert all(accepts(sig, k) for k in out)

    run()

"""The shim's fast paths (issue 11) on real megatron-core in a real 1-process gloo group.

A getter called bare answers from the installed release's own getter without the full path
once torch.distributed and megatron are both initialised; ``resolve_groups`` remembers groups
it accepted. Both must never answer from stale state, so the worker walks a process through
the states a trainer (or its tests) can reach and records what the shim and upstream answer
in each: before ``init_process_group``; up but megatron not initialised; initialised;
``destroy_model_parallel`` (upstream keeps some rank lists and answers stale values there);
re-initialised (new group objects); a ``set_*`` override without megatron; torch.distributed
destroyed while megatron still holds its groups; re-created. One subprocess per release
(``PYTHONPATH=<unpacked wheel>``): 0.16.1, and 0.9.0 where several wrapped names do not exist
upstream (the fast path must hand those to the full path).
"""

from __future__ import annotations

import gc
import json
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RELEASES = ("0.16.1", "0.9.0")
#: Getters compared bare (no arguments) with upstream in every state.
BARE = ("get_tensor_model_parallel_rank", "get_tensor_model_parallel_world_size",
        "get_pipeline_model_parallel_first_rank", "get_data_parallel_src_rank",
        "get_tensor_model_parallel_group", "get_expert_tensor_parallel_rank")


# ============================================================================ worker side

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``["value", v]`` (groups as ``["group", id]``) or ``["raised", type, message]``."""
    try:
        v = fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        return ["raised", type(exc).__name__, str(exc)[:300]]
    if v is not None and type(v).__name__ == "ProcessGroup":
        return ["group", id(v)]
    return ["value", v]


def worker(release: str) -> dict[str, Any]:
    import torch.distributed as dist
    from megatron.core import parallel_state as up

    import mcore_compat as mc
    from mcore_compat import _dist
    from mcore_compat import parallel_state as ps

    full_calls: list[str] = []
    answer = ps.answer

    def counting_answer(name: str, *args: Any, **kwargs: Any) -> Any:
        full_calls.append(name)
        return answer(name, *args, **kwargs)

    ps.answer = counting_answer  # the full path of every getter goes through answer()

    def state(label: str) -> dict[str, Any]:
        """Shim and upstream outcome of every BARE getter and the DP size, and how many of
        the shim's calls took the full path."""
        del full_calls[:]
        out: dict[str, Any] = {}
        for name in BARE:
            out[name] = {"shim": _outcome(getattr(ps, name)),
                         "upstream": _outcome(getattr(up, name)) if hasattr(up, name) else None}
        for wcp in (False, True):
            out[f"dp_size_wcp{wcp}"] = {"shim": _outcome(ps.get_data_parallel_world_size, wcp),
                                        "upstream": _outcome(up.get_data_parallel_world_size,
                                                             with_context_parallel=wcp)}
        out["full_path_calls"] = list(full_calls)
        report[label] = out
        return out

    def init_dist() -> None:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_free_port()}",
                                rank=0, world_size=1)

    report: dict[str, Any] = {"release": release}
    state("1_no_dist")
    init_dist()
    state("2_dist_no_megatron")
    up.initialize_model_parallel()
    first_tp = up.get_tensor_model_parallel_group()
    report["first_tp_id"] = id(first_tp)
    state("3_initialised")
    report["fast_path_bound"] = ps._MPS is up and ps._WORLD is not _dist.UNBOUND
    # parameterless getters: the group by position or keyword; nothing else
    mine_tp = dist.new_group([0])
    del full_calls[:]
    report["positional_group"] = [_outcome(ps.get_tensor_model_parallel_rank, mine_tp),
                                  _outcome(ps.get_tensor_model_parallel_world_size, mine_tp),
                                  _outcome(ps.get_tensor_model_parallel_rank, tp_group=mine_tp)]
    report["positional_group_full_calls"] = list(full_calls)  # a group given: answered from it
    report["extra_keyword"] = _outcome(ps.get_tensor_model_parallel_rank, check_initialized=True)
    report["extra_positional"] = _outcome(ps.get_tensor_model_parallel_rank, None, None, None)
    dist.destroy_process_group(mine_tp)
    up.destroy_model_parallel()
    state("4_megatron_destroyed")
    up.initialize_model_parallel()
    report["second_tp_id"] = id(up.get_tensor_model_parallel_group())
    state("5_reinitialised")
    up.destroy_model_parallel()
    up.set_tensor_model_parallel_rank(3)  # an override upstream answers without init
    state("6_override_without_megatron")
    up.set_tensor_model_parallel_rank(None)

    # resolve_groups' membership cache
    up.initialize_model_parallel()
    tp = up.get_tensor_model_parallel_group()
    mine = dist.new_group([0])
    report["resolve_all_is_upstream"] = (mc.resolve_groups(tp_group=tp, dp_group=mine).tp is tp)
    report["accepted_after_resolve"] = _dist.known_member(mine)
    report["non_member_after_cache"] = _outcome(mc.resolve_groups, tp_group=tp,
                                                dp_group=dist.GroupMember.NON_GROUP_MEMBER)
    report["not_a_group_after_cache"] = _outcome(mc.resolve_groups, dp_group=object())
    key = id(mine)
    dist.destroy_process_group(mine)
    del mine
    gc.collect()
    report["entry_dropped_with_group"] = key not in _dist._ACCEPTED

    # a new torch.distributed world: groups accepted in the old one are checked again
    kept = tp
    up.destroy_model_parallel()
    dist.destroy_process_group()
    init_dist()
    report["old_group_accepted_in_new_world"] = _dist.known_member(kept)
    up.initialize_model_parallel()
    state("8_recreated")
    new_tp = up.get_tensor_model_parallel_group()
    report["resolve_after_recreate_is_new"] = mc.resolve_groups().tp is new_tp

    # last (0.9.0's destroy_model_parallel cannot run after it): torch.distributed destroyed
    # while megatron still holds its groups
    dist.destroy_process_group()
    state("7_dist_destroyed_megatron_kept")
    report["resolve_after_dist_destroyed"] = _outcome(lambda: mc.resolve_groups().tp)
    return report


# ============================================================================ pytest side

def _run(release: str) -> dict[str, Any]:
    from tools.downloads import megatron_core

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(megatron_core(release)), str(ROOT)]),
               PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), release], env=env,
                          capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        pytest.fail(f"fast-path worker for megatron-core {release} failed "
                    f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


@pytest.fixture(scope="module", params=RELEASES)
def report(request) -> dict[str, Any]:
    return _run(request.param)


def _shim(report: dict, label: str, name: str) -> list:
    return report[label][name]["shim"]



@pytest.mark.real
def test_initialised_bare_getters_are_upstream_without_the_full_path(report):
    s = report["3_initialised"]
    assert report["fast_path_bound"], report["release"]
    for name in BARE + ("dp_size_wcpFalse", "dp_size_wcpTrue"):
        if s[name]["upstream"] is not None:
            assert s[name]["shim"] == s[name]["upstream"], (report["release"], name, s[name])
    assert s["get_tensor_model_parallel_group"]["shim"] == ["group", report["first_tp_id"]]
    # names the release has: no full path at all; names it lacks (0.9.0) only those
    missing = sorted(n for n in BARE if s[n]["upstream"] is None)
    assert sorted(set(s["full_path_calls"])) == missing, (report["release"], s["full_path_calls"])
    if report["release"] == "0.9.0":
        assert missing == ["get_expert_tensor_parallel_rank"]
        assert s["get_expert_tensor_parallel_rank"]["shim"] == ["value", 0]


@pytest.mark.real
def test_parameterless_getters_take_the_group_positionally_and_nothing_else(report):
    assert report["positional_group"] == [["value", 0], ["value", 1], ["value", 0]]
    assert report["positional_group_full_calls"] == [  # not the bare fast path
        "get_tensor_model_parallel_rank", "get_tensor_model_parallel_world_size",
        "get_tensor_model_parallel_rank"]
    kind, exc, message = report["extra_keyword"]
    assert (kind, exc) == ("raised", "TypeError") and "check_initialized" in message
    assert report["extra_positional"][:2] == ["raised", "TypeError"]


def test_parameterless_getters_match_the_index():
    """PARAMETERLESS is exactly the wrapped getters without a parameter in every indexed
    release where upstream has them (a new release adding one fails here: regenerate, move the
    name out, and it gets ``**kwargs`` forwarding again)."""
    import inspect

    from mcore_compat import api_index
    from mcore_compat import parallel_state as ps

    idx = api_index.load()
    expected = set()
    for name, *_ in ps._SIMPLE:
        recs = [idx.resolve(r, f"megatron.core.parallel_state.{name}") for r in idx.releases]
        params = [p for res in recs if res.found for p in (res.record.get("p") or [])]
        if any(res.found for res in recs) and not params:
            expected.add(name)
    assert ps.PARAMETERLESS == expected
    for name in expected:
        sig = inspect.signature(getattr(ps, name))
        assert [p.kind for p in sig.parameters.values()] == [inspect.Parameter.POSITIONAL_OR_KEYWORD] * 2
        assert list(sig.parameters)[1] == "pg_collection"


@pytest.mark.real
def test_single_process_answers_before_and_after_dist(report):
    for label in ("1_no_dist", "7_dist_destroyed_megatron_kept"):
        s = report[label]
        assert _shim(report, label, "get_tensor_model_parallel_rank") == ["value", 0], label
        assert _shim(report, label, "get_tensor_model_parallel_group") == ["value", None], label
        assert s["dp_size_wcpFalse"]["shim"] == ["value", 1], (label, s["dp_size_wcpFalse"])
        assert _shim(report, label, "get_pipeline_model_parallel_first_rank") == ["value", 0]
        assert s["full_path_calls"], label  # answered by the full path
    # the state is one upstream answers differently in: the fast path must not pass it on
    assert report["1_no_dist"]["dp_size_wcpFalse"]["upstream"] == ["value", 0]
    assert report["7_dist_destroyed_megatron_kept"]["dp_size_wcpFalse"]["upstream"] == ["value", 0]
    assert report["resolve_after_dist_destroyed"] == ["value", None]


@pytest.mark.real
@pytest.mark.parametrize("label", ["2_dist_no_megatron", "4_megatron_destroyed",
                                   "6_override_without_megatron"])
def test_not_initialised_raises_the_named_error_even_after_fast_calls(report, label):
    for name in BARE + ("dp_size_wcpFalse",):
        got = report[label][name]["shim"]
        assert got[:2] == ["raised", "ModelParallelNotInitializedError"], (label, name, got)
        assert "initialize_model_parallel" in got[2], got
    # and upstream answers there (stale or overridden), so a fast path that skipped the
    # megatron check would have passed that answer on
    if label == "4_megatron_destroyed":
        stale = report[label]["get_pipeline_model_parallel_first_rank"]["upstream"]
        assert stale == ["value", 0], stale
    if label == "6_override_without_megatron":
        assert report[label]["get_tensor_model_parallel_rank"]["upstream"] == ["value", 3]


@pytest.mark.real
def test_reinitialised_answers_come_from_the_new_groups(report):
    assert report["second_tp_id"] != report["first_tp_id"]
    got = _shim(report, "5_reinitialised", "get_tensor_model_parallel_group")
    assert got == ["group", report["second_tp_id"]], got
    s = report["8_recreated"]
    assert s["get_tensor_model_parallel_group"]["shim"] == s["get_tensor_model_parallel_group"]["upstream"]
    assert s["dp_size_wcpFalse"]["shim"] == ["value", 1]
    assert report["resolve_after_recreate_is_new"]


@pytest.mark.real
def test_membership_cache_never_hides_an_error(report):
    assert report["resolve_all_is_upstream"] and report["accepted_after_resolve"]
    kind, err, msg = report["non_member_after_cache"]
    assert (kind, err) == ("raised", "ValueError"), report["non_member_after_cache"]
    assert "calling rank 0" in msg and "NON_GROUP_MEMBER" in msg and "data-parallel" in msg, msg
    assert report["not_a_group_after_cache"][:2] == ["raised", "TypeError"]
    assert report["entry_dropped_with_group"]  # a destroyed group leaves no entry to reuse
    assert report["old_group_accepted_in_new_world"] is False  # re-checked under a new world


@pytest.mark.real
@pytest.mark.parametrize("release", ["0.9.0", "0.12.3", "0.14.0", "0.15.3", "0.16.1", "0.17.1",
                                     "0.18.2", "0.19.2"])
def test_megatron_initialised_test_reads_the_globals_the_fast_path_reads(release):
    """The hand-written fact behind the fast path's megatron test, on every release's source
    (0.18+ cannot be imported here): model_parallel_is_initialized() tests exactly these."""
    import ast

    import types

    from mcore_compat._dist import MP_INITIALIZED_GLOBALS, assignment_order_holds
    from tools.downloads import megatron_core

    src = (megatron_core(release) / "megatron/core/parallel_state.py").read_text()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # megatron's own invalid escapes
        warnings.simplefilter("ignore", DeprecationWarning)  # (their 3.11 category)
        tree = ast.parse(src)
    fn = next(n for n in tree.body
              if isinstance(n, ast.FunctionDef) and n.name == "model_parallel_is_initialized")
    read = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
    assert read == set(MP_INITIALIZED_GLOBALS), (release, read)
    # and the fast path may test only MP_ASSIGNED_LAST: the runtime check, on this release's
    # compiled (not imported) functions, agrees that it is assigned after the other two
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        module = compile(src, f"parallel_state-{release}.py", "exec")
    functions = {c.co_name: c for c in module.co_consts if isinstance(c, types.CodeType)}
    init = functions.pop("initialize_model_parallel")
    functions.pop("destroy_model_parallel")
    assert assignment_order_holds(init, functions.values()), release


def test_fast_path_binds_only_what_reads_the_same_state():
    """fast_megatron refuses a module whose model_parallel_is_initialized tests other
    globals (the fast path then stays off: its placeholders read None); fast_world is
    torch's own world object, whose _default_pg is what is_initialized() reports."""
    import types

    import torch.distributed as dist
    from torch.distributed import distributed_c10d as c10d

    from mcore_compat import _dist

    other = ("_TENSOR_MODEL_PARALLEL_GROUP = _PIPELINE_MODEL_PARALLEL_GROUP = None\n"
             "_DATA_PARALLEL_GROUP = _EXPERT_MODEL_PARALLEL_GROUP = None\n"
             "def model_parallel_is_initialized():\n"
             "    return _TENSOR_MODEL_PARALLEL_GROUP is not None and "
             "_EXPERT_MODEL_PARALLEL_GROUP is not None\n")
    same = ("def model_parallel_is_initialized():\n"
            "    return not (_TENSOR_MODEL_PARALLEL_GROUP is None or "
            "_PIPELINE_MODEL_PARALLEL_GROUP is None or _DATA_PARALLEL_GROUP is None)\n")
    fake = types.ModuleType("fake_parallel_state")
    exec(other, fake.__dict__)  # noqa: S102 - a module built from the text above
    assert _dist.fast_megatron(fake) is _dist.UNBOUND
    exec(same, fake.__dict__)  # noqa: S102
    assert _dist.fast_megatron(fake) is _dist.UNBOUND  # no initialize/destroy to read
    init = ("def initialize_model_parallel():\n"
            "    global _TENSOR_MODEL_PARALLEL_GROUP, _PIPELINE_MODEL_PARALLEL_GROUP, _DATA_PARALLEL_GROUP\n"
            "    _DATA_PARALLEL_GROUP = 1\n"
            "    for g in (2, 3):\n"
            "        _TENSOR_MODEL_PARALLEL_GROUP = g\n"
            "    _PIPELINE_MODEL_PARALLEL_GROUP = 4\n"
            "def destroy_model_parallel():\n"
            "    global _TENSOR_MODEL_PARALLEL_GROUP, _PIPELINE_MODEL_PARALLEL_GROUP, _DATA_PARALLEL_GROUP\n"
            "    _PIPELINE_MODEL_PARALLEL_GROUP = _TENSOR_MODEL_PARALLEL_GROUP = _DATA_PARALLEL_GROUP = None\n")
    exec(init, fake.__dict__)  # noqa: S102
    assert _dist.fast_megatron(fake) is fake
    late_tp = init.replace("    _PIPELINE_MODEL_PARALLEL_GROUP = 4\n",
                           "    _PIPELINE_MODEL_PARALLEL_GROUP = 4\n    _TENSOR_MODEL_PARALLEL_GROUP = 5\n")
    exec(late_tp, fake.__dict__)  # noqa: S102 - the pipeline group no longer comes last
    assert _dist.fast_megatron(fake) is _dist.UNBOUND
    exec(init, fake.__dict__)  # noqa: S102
    exec("def set_pp(g):\n    global _PIPELINE_MODEL_PARALLEL_GROUP\n"
         "    _PIPELINE_MODEL_PARALLEL_GROUP = g\n", fake.__dict__)  # noqa: S102
    fake.set_pp.__module__ = fake.__name__
    assert _dist.fast_megatron(fake) is _dist.UNBOUND  # another function assigns it
    del fake.set_pp
    assert _dist.fast_megatron(fake) is fake
    assert _dist.fast_megatron(None) is _dist.UNBOUND
    assert _dist.UNBOUND._default_pg is None and _dist.UNBOUND._DATA_PARALLEL_GROUP is None
    assert _dist.fast_world() is c10d._world
    assert _dist.default_pg() is dist.GroupMember.WORLD  # None unless a test left dist up
    assert _dist.dist_ready() is dist.is_initialized()


if __name__ == "__main__":
    print(json.dumps(worker(sys.argv[1]), default=repr))

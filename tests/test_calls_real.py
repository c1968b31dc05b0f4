"""call / make_config / import_symbol / mcore_version on real megatron-core, every shim release.

One subprocess per release (``PYTHONPATH=<unpacked wheel>``) runs every single-process check in
one go (the megatron import costs ~4 s) and prints a JSON report; the tests below judge it.
What each release *should* do is derived from the generated API index and the reviewed facts
(which releases have a field, accept a keyword, keep a symbol) - not typed here.

The worker builds real objects: a ``TransformerConfig`` from one fixed set of fields written
for different releases, a ``GPTModel`` and a ``TransformerLayer`` (tiny, CPU initialisation,
local layer spec) in a 1-process gloo group, passing ``pg_collection=`` where the release takes
``model_comm_pgs=`` and the reverse.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

TC = "megatron.core.transformer.transformer_config.TransformerConfig"
MLA = "megatron.core.transformer.transformer_config.MLATransformerConfig"
DDPC = "megatron.core.distributed.distributed_data_parallel_config.DistributedDataParallelConfig"
OPTC = "megatron.core.optimizer.optimizer_config.OptimizerConfig"
GPT = "megatron.core.models.gpt.gpt_model.GPTModel"
LAYER = "megatron.core.transformer.transformer_layer.TransformerLayer"

BASE = dict(num_layers=4, hidden_size=16, num_attention_heads=2, use_cpu_initialization=True)
#: One fixed set of fields a trainer might write, spanning releases (all at their defaults
#: except the renamed one): written once, built on every release.
FIXED = dict(
    BASE,
    pipeline_model_parallel_size=2,
    first_pipeline_num_layers=1,  # 0.9.0-0.10.0; renamed num_layers_in_first_pipeline_stage (0.11.0)
    moe_use_legacy_grouped_gemm=False,  # 0.11.0-0.16.1 (removed in 0.17.0)
    moe_extended_tp=False,  # ModelParallelConfig up to 0.16.1
    pipeline_model_parallel_split_rank=None,  # ModelParallelConfig up to 0.13.1
    mtp_num_layers=None,  # 0.12.0+
    embedding_init_method_std=None,  # 0.14.0+
    cuda_graph_impl="none",  # 0.15.0+
)


# ============================================================================ worker side

def _outcome(fn) -> dict[str, Any]:
    """Run ``fn``; report its value or its exception (type, message, ModuleNotFoundError name)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = fn()
            out: dict[str, Any] = {"ok": True, "value": value}
        except Exception as exc:  # noqa: BLE001 - reported to the test
            out = {"ok": False, "error": type(exc).__name__, "message": str(exc),
                   "missing": getattr(exc, "name", None) if isinstance(exc, ImportError) else None,
                   "trace": traceback.format_exc()[-1500:]}
    out["warnings"] = [str(w.message) for w in caught if w.category.__name__ == "CompatWarning"]
    return out


def worker(release: str) -> dict[str, Any]:
    """All single-process checks against the megatron-core on sys.path (run in a subprocess)."""
    import mcore_compat as mc
    from mcore_compat import facts

    report: dict[str, Any] = {"release": release}
    # 1. version, read without importing megatron
    report["version"] = str(mc.mcore_version())
    report["megatron_imported_by_version"] = "megatron.core" in sys.modules

    import torch
    import torch.distributed as dist

    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ["MASTER_PORT"] = str(_free_port())
    dist.init_process_group("gloo", rank=0, world_size=1)
    from megatron.core import parallel_state as ps

    ps.initialize_model_parallel(1, 1)
    TransformerConfig = mc.import_symbol(TC)

    # 2. make_config: the fixed field set
    def fixed():
        cfg = mc.make_config(TransformerConfig, **FIXED, pipeline_dtype=torch.float32)
        installed = "num_layers_in_first_pipeline_stage" if hasattr(cfg, "num_layers_in_first_pipeline_stage") \
            else "first_pipeline_num_layers"
        return {"first_stage_field": installed, "first_stage_value": getattr(cfg, installed),
                "num_layers": cfg.num_layers, "fields": sorted(mc.config_to_dict(cfg))}
    report["fixed"] = _outcome(fixed)

    # negative: non-default values of fields the release lacks, and a field no release has
    report["newer_nondefault"] = _outcome(lambda: mc.make_config(TransformerConfig, **BASE, embedding_init_method_std=0.02).embedding_init_method_std)
    report["removed_nondefault"] = _outcome(lambda: mc.make_config(TransformerConfig, **BASE, moe_use_legacy_grouped_gemm=True).moe_use_legacy_grouped_gemm)
    report["unknown_field"] = _outcome(lambda: mc.make_config(TransformerConfig, **BASE, no_such_field_xyz=1).num_layers)
    report["unknown_field_lenient"] = _outcome(lambda: mc.make_config(TransformerConfig, strict=False, **BASE, no_such_field_xyz=1).num_layers)

    # MLA rename, DDP rename (kept-old-field case), OptimizerConfig move
    def mla():
        cls = mc.import_symbol(MLA)
        cfg = mc.make_config(cls, **BASE, multi_latent_attention=True, max_position_embeddings=2048)
        name = "original_max_position_embeddings" if hasattr(cfg, "original_max_position_embeddings") else "max_position_embeddings"
        return {"field": name, "value": getattr(cfg, name)}
    report["mla"] = _outcome(mla)

    def ddp(value):
        cfg = mc.make_config(mc.import_symbol(DDPC), use_megatron_fsdp=value)
        return {k: getattr(cfg, k) for k in ("use_megatron_fsdp", "use_custom_fsdp") if hasattr(cfg, k)}
    report["ddp_default"] = _outcome(lambda: ddp(False))
    report["ddp_true"] = _outcome(lambda: ddp(True))
    report["opt_moved"] = _outcome(lambda: mc.make_config(mc.import_symbol(OPTC), lr=1e-4, overlap_grad_reduce=True).lr)
    report["opt_moved_default"] = _outcome(lambda: mc.make_config(mc.import_symbol(OPTC), lr=1e-4, overlap_grad_reduce=False).lr)

    # 3. call: GPTModel and TransformerLayer with pg_collection= / model_comm_pgs=
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec

    cfg = mc.make_config(TransformerConfig, **BASE)
    spec = get_gpt_layer_local_spec()
    GPTModel = mc.import_symbol(GPT)
    TransformerLayer = mc.import_symbol(LAYER)
    PGC = None
    try:
        PGC = mc.import_symbol("megatron.core.process_groups_config.ProcessGroupCollection")
    except ImportError as exc:
        report["pgc_import_error"] = str(exc)
    upstream_pgc = PGC.use_mpu_process_groups() if PGC is not None and hasattr(PGC, "use_mpu_process_groups") else None
    report["upstream_pgc_class"] = type(upstream_pgc).__name__ if upstream_pgc is not None else None

    def held(module):
        for attr in ("pg_collection", "model_comm_pgs"):
            if hasattr(module, attr):
                return attr, getattr(module, attr) is upstream_pgc
        return None, False

    def gpt(keyword, value):
        model = mc.call(GPTModel, config=cfg, transformer_layer_spec=spec, vocab_size=32,
                        max_sequence_length=8, vp_stage=None, **{keyword: value})
        attr, same = held(model)
        return {"params": sum(p.numel() for p in model.parameters()), "held_attr": attr, "same_object": same}

    def layer(keyword, value):
        lyr = mc.call(TransformerLayer, config=cfg, submodules=spec.submodules, layer_number=1, **{keyword: value})
        attr, same = held(lyr)
        attn = lyr.self_attention
        seen = getattr(attn, "pg_collection", None) or getattr(attn, "model_comm_pgs", None)
        return {"params": sum(p.numel() for p in lyr.parameters()), "held_attr": attr,
                "same_object": same, "attention_tp_is_upstream": seen is not None and seen.tp is upstream_pgc.tp}

    def layer_both(value):
        return mc.call(
            TransformerLayer, config=cfg, submodules=spec.submodules, layer_number=1,
            pg_collection=value, model_comm_pgs=value).__class__.__name__

    for kw in ("pg_collection", "model_comm_pgs"):
        report[f"gpt_{kw}"] = _outcome(lambda kw=kw: gpt(kw, upstream_pgc))
        report[f"layer_{kw}"] = _outcome(lambda kw=kw: layer(kw, upstream_pgc))
    # the shim's own collection (0.12+: compat class before 0.15), global groups -> always fine
    report["gpt_compat_collection"] = _outcome(lambda: gpt("pg_collection", mc.pg_collection_from_mpu()))
    # a collection that is not the global groups, on a release without the parameter -> error
    own = type(mc.pg_collection_from_mpu())
    custom = own(tp=dist.new_group([0]), pp=dist.new_group([0]), cp=dist.new_group([0]))
    report["layer_custom_collection"] = _outcome(lambda: layer("pg_collection", custom))
    # both spellings at once: one parameter, two values -> refused
    report["layer_both_spellings"] = _outcome(lambda: layer_both(upstream_pgc))
    # config_to_dict: no callables / groups / init=False; round trip on the same release
    def roundtrip():
        full = mc.make_config(TransformerConfig, **BASE)
        data = mc.config_to_dict(full)
        again = mc.make_config(TransformerConfig, **data)
        return {"keys": sorted(data), "equal": mc.config_to_dict(again) == data,
                "callables": sorted(k for k, v in vars(full).items() if callable(v))}
    report["roundtrip"] = _outcome(roundtrip)

    import dataclasses

    @dataclasses.dataclass
    class WithGroups:
        size: int = 2
        group: Any = None
        groups: Any = None
        hook: Any = None
        cached: int = dataclasses.field(default=0, init=False)
    holder = WithGroups(group=dist.new_group([0]), groups=[dist.new_group([0])], hook=print)
    holder.cached = 5
    report["groups_dict"] = _outcome(lambda: mc.config_to_dict(holder))
    if upstream_pgc is not None:
        report["pgc_dict"] = _outcome(lambda: mc.config_to_dict(WithGroups(group=upstream_pgc)))

    # negative keyword cases
    report["layer_unknown_kw"] = _outcome(lambda: mc.call(TransformerLayer, config=cfg, submodules=spec.submodules, no_such_kw=1))
    report["gpt_vp_stage_0"] = _outcome(lambda: mc.call(
        GPTModel, config=cfg, transformer_layer_spec=spec, vocab_size=32, max_sequence_length=8,
        vp_stage=0).__class__.__name__)

    # 4. import_symbol: every moved/renamed symbol row, both spellings
    imports = {}
    for row in facts.load().symbols:
        for name in (row.old, row.new):
            if name in imports:
                continue
            result = _outcome(lambda name=name: _describe(mc.import_symbol(name)))
            imports[name] = result
    report["imports"] = imports
    report["nowhere"] = _outcome(lambda: mc.import_symbol("megatron.core.parallel_state.get_no_such_group_xyz"))
    return report


def _describe(obj: Any) -> str:
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    return f"{module}.{name}" if module and name and module != name else str(name)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ============================================================================ pytest side

import pytest  # noqa: E402

from mcore_compat import facts  # noqa: E402


def _releases() -> tuple[str, ...]:
    sys.path.insert(0, str(ROOT))
    from tools.downloads import SHIM_TEST_RELEASES

    return SHIM_TEST_RELEASES


def run(release: str) -> dict[str, Any]:
    """The worker's report for ``release`` (all releases run once per session, two at a time:
    the CI machine has two cores and each worker is one busy process)."""
    return _all_reports()[release]


@functools.lru_cache(maxsize=None)
def _all_reports() -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(RELEASES, pool.map(_run_one, RELEASES)))


def _run_one(release: str) -> dict[str, Any]:
    from tools.downloads import megatron_core

    root = megatron_core(release)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(ROOT)]),
               PYTHONWARNINGS="ignore::DeprecationWarning,ignore::UserWarning")
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), release], env=env,
                          capture_output=True, text=True, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        pytest.fail(f"worker for megatron-core {release} failed (exit {proc.returncode}):\n"
                    f"{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def _has(cls: str, name: str, release: str) -> bool:
    got = facts.keyword_releases(cls, name)
    assert got is not None, f"the API index does not know {cls}"
    return release in got


def _ok(report: dict, key: str) -> Any:
    got = report[key]
    assert got["ok"], f"{report['release']} {key}: {got.get('error')}: {got.get('message')}\n{got.get('trace')}"
    return got["value"]


def _err(report: dict, key: str, kind: str = "TypeError") -> str:
    got = report[key]
    assert not got["ok"], f"{report['release']} {key}: expected {kind}, got {got.get('value')!r}"
    assert got["error"] == kind, f"{report['release']} {key}: {got['error']}: {got['message']}"
    return got["message"]


RELEASES = _releases()
pytestmark = pytest.mark.real


@pytest.mark.parametrize("release", RELEASES)
def test_version_read_without_importing_megatron(release):
    report = run(release)
    assert report["version"] == release
    assert report["megatron_imported_by_version"] is False


@pytest.mark.parametrize("release", RELEASES)
def test_make_config_fixed_fields_on_every_release(release):
    report = run(release)
    built = _ok(report, "fixed")
    # the renamed field holds the value under the installed name
    want_name = "num_layers_in_first_pipeline_stage" if _has(TC, "num_layers_in_first_pipeline_stage", release) \
        else "first_pipeline_num_layers"
    assert (built["first_stage_field"], built["first_stage_value"]) == (want_name, 1)
    # exactly the fields this release lacks were dropped (with one warning that names them)
    lacking = sorted(n for n in FIXED if not _has(TC, n, release) and n != "first_pipeline_num_layers")
    warns = report["fixed"]["warnings"]
    if lacking:
        assert len(warns) == 1, warns
        for name in lacking:
            assert name in warns[0]
        assert release in warns[0]
    else:
        assert warns == []
    kept = set(FIXED) - set(lacking) - {"first_pipeline_num_layers"}
    assert kept <= set(built["fields"])


@pytest.mark.parametrize("release", RELEASES)
def test_make_config_non_default_value_of_a_missing_field_raises(release):
    report = run(release)
    for key, name, value in (("newer_nondefault", "embedding_init_method_std", 0.02),
                             ("removed_nondefault", "moe_use_legacy_grouped_gemm", True)):
        if _has(TC, name, release):
            assert _ok(report, key) == value
        else:
            msg = _err(report, key)
            assert name in msg and release in msg
            assert facts.releases_accepting(TC, name) in msg  # where it does exist
    msg = _err(report, "unknown_field")
    assert "no_such_field_xyz" in msg and "no megatron-core release" in msg
    assert _ok(report, "unknown_field_lenient") == 4
    assert "no_such_field_xyz" in report["unknown_field_lenient"]["warnings"][0]


@pytest.mark.parametrize("release", RELEASES)
def test_make_config_renamed_and_moved_fields(release):
    report = run(release)
    if facts.keyword_releases(MLA, "multi_latent_attention") and release in (facts.symbol_releases(MLA) or []):
        got = _ok(report, "mla")
        want = "original_max_position_embeddings" if _has(MLA, "original_max_position_embeddings", release) \
            else "max_position_embeddings"
        assert got == {"field": want, "value": 2048}
    else:
        assert _err(report, "mla", "ImportError").startswith(f"cannot import {MLA}")
    # use_megatron_fsdp: 0.14+ has it; 0.12-0.13 take it as use_custom_fsdp; older lack both
    if _has(DDPC, "use_megatron_fsdp", release):
        assert _ok(report, "ddp_true")["use_megatron_fsdp"] is True
    elif _has(DDPC, "use_custom_fsdp", release):
        assert _ok(report, "ddp_true") == {"use_custom_fsdp": True}
    else:
        assert _ok(report, "ddp_default") == {}
        assert "use_megatron_fsdp" in _err(report, "ddp_true")
    # OptimizerConfig.overlap_grad_reduce moved to the DDP config in 0.10.0
    if _has(OPTC, "overlap_grad_reduce", release):
        assert _ok(report, "opt_moved") == 1e-4
    else:
        msg = _err(report, "opt_moved")
        assert "moved to DistributedDataParallelConfig in 0.10.0" in msg
        assert _ok(report, "opt_moved_default") == 1e-4


@pytest.mark.parametrize("release", RELEASES)
def test_call_passes_pg_collection_and_model_comm_pgs_under_the_installed_name(release):
    report = run(release)
    takes_new = _has(GPT, "pg_collection", release)
    takes_old = _has(GPT, "model_comm_pgs", release)
    for kw in ("pg_collection", "model_comm_pgs"):
        got = _ok(report, f"gpt_{kw}")
        assert got["params"] > 0
        if takes_new or takes_old:  # passed under the installed spelling, the same object
            assert got["held_attr"] == ("pg_collection" if takes_new else "model_comm_pgs")
            assert got["same_object"] is True
    for kw in ("pg_collection", "model_comm_pgs"):
        got = _ok(report, f"layer_{kw}")
        if _has(LAYER, "pg_collection", release) or _has(LAYER, "model_comm_pgs", release):
            assert got["attention_tp_is_upstream"] is True  # the layer's attention got our groups
            if got["held_attr"] is not None:  # 0.15+ keeps the collection on the layer too
                assert got["same_object"] is True
    assert _ok(report, "gpt_compat_collection")["params"] > 0
    # a non-global collection where the layer has no such parameter: refused, naming releases
    if _has(LAYER, "pg_collection", release) or _has(LAYER, "model_comm_pgs", release):
        assert _ok(report, "layer_custom_collection")["params"] > 0
    else:
        msg = _err(report, "layer_custom_collection")
        assert "pg_collection" in msg and release in msg
        assert facts.releases_accepting(LAYER, "pg_collection") in msg


@pytest.mark.parametrize("release", RELEASES)
def test_call_refuses_both_spellings_of_one_parameter(release):
    report = run(release)
    if _has(LAYER, "pg_collection", release) or _has(LAYER, "model_comm_pgs", release):
        msg = _err(report, "layer_both_spellings")
        assert "'pg_collection' and 'model_comm_pgs'" in msg and release in msg
    else:  # neither exists: both hold the global groups, so both are dropped
        assert _ok(report, "layer_both_spellings") == "TransformerLayer"


@pytest.mark.parametrize("release", RELEASES)
def test_config_to_dict_leaves_out_groups_callables_and_init_false(release):
    report = run(release)
    got = _ok(report, "roundtrip")
    assert got["equal"] is True
    assert got["callables"] and not set(got["callables"]) & set(got["keys"])  # e.g. init_method
    assert {"num_layers", "hidden_size"} <= set(got["keys"])
    assert not [k for k in got["keys"] if k.startswith("_")]  # runtime state, not config
    assert _ok(report, "groups_dict") == {"size": 2}
    if "pgc_dict" in report:
        assert _ok(report, "pgc_dict") == {"size": 2, "groups": None, "hook": None}


@pytest.mark.parametrize("release", RELEASES)
def test_call_unknown_keyword_raises_naming_releases(release):
    report = run(release)
    msg = _err(report, "layer_unknown_kw")
    assert "no_such_kw" in msg and release in msg
    if _has(GPT, "vp_stage", release):
        assert _ok(report, "gpt_vp_stage_0") == "GPTModel"
    else:  # vp_stage=0 is not the default (None): refused, naming where vp_stage exists
        msg = _err(report, "gpt_vp_stage_0")
        assert "vp_stage" in msg and facts.releases_accepting(GPT, "vp_stage") in msg


@pytest.mark.parametrize("release", RELEASES)
def test_import_symbol_finds_every_moved_symbol_where_the_release_has_it(release):
    report = run(release)
    imports = report["imports"]
    found = 0
    for row in facts.load().symbols:
        for name in (row.old, row.new):
            got = imports[name]
            candidates = facts.symbol_candidates(name)
            present = [c for c in candidates if release in (facts.symbol_releases(c) or [])]
            if got["ok"]:
                assert present, f"{name} imported on {release} but the index has it nowhere"
                assert got["value"].rsplit(".", 1)[-1] in {c.rsplit(".", 1)[-1] for c in present} | {name.rsplit(".", 1)[-1]}
                found += 1
            elif got["error"] == "ModuleNotFoundError" and got["missing"] == "transformer_engine":
                # there, but needs Transformer Engine: the real error, never "moved"/"absent"
                assert present and "transformer_engine" in got["message"], got
            else:
                assert not present, f"{name} on {release}: index has {present}, got {got['message']}"
                assert got["error"] == "ImportError" and "It lives at" in got["message"]
    assert found >= 6
    msg = _err(report, "nowhere", "ImportError")
    assert "get_no_such_group_xyz" in msg and release in msg


if __name__ == "__main__":  # worker: python tests/test_calls_real.py <release>
    print(json.dumps(worker(sys.argv[1]), default=repr))

"""The API index: the scanner on a synthetic package, encoding round trip, queries, the loader's
errors, and facts about real releases read from the shipped file (cross-checked against the
research notes in ../shared/research/megatron-core-api-history.md)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mcore_compat import api_index
from mcore_compat.api_index import DYNAMIC, EXTERNAL, FOUND, MISSING, ApiIndex, ApiIndexError
from tools.build_api_index import encode, scan_release, write


def _package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / "megatron" / "core" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


SYNTH_V1 = {
    "__init__.py": """
        from megatron.core import parallel_state
        from .config import ModelConfig
        from .sub import *
        mpu = parallel_state
    """,
    "parallel_state.py": """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from .config import ModelConfig
        import torch
        _GROUP = None
        def get_group(with_cp=False, /, partial=False, *args, check: bool = True, **kw): ...
        def old_getter(): ...
        try:
            from .fast import fast_fn
        except ImportError:
            fast_fn = None
    """,
    "base_config.py": """
        from dataclasses import dataclass, field
        from typing import ClassVar
        @dataclass
        class BaseConfig:
            tp: int = 1
            registry: ClassVar[dict] = {}
            cache: dict = field(default_factory=dict)
            hidden: int = field(init=False, default=0)
    """,
    "config.py": """
        import dataclasses
        from dataclasses import KW_ONLY
        from megatron.core.base_config import BaseConfig as _Base
        @dataclasses.dataclass
        class ModelConfig(_Base):
            layers: int = 2
            tp: int = 4
            _: KW_ONLY
            fp8: bool = False
        class Plain(ModelConfig):
            pass
        class Explicit(ModelConfig):
            def __init__(self, a, *, b=3):
                super().__init__()
            @staticmethod
            def build(x): ...
        class Module(torch.nn.Module):
            pass
        from typing import NamedTuple
        class Shard(NamedTuple):
            key: str
            offset: int = 0
    """,
    "sub/__init__.py": """
        from .impl import public_fn, Helper
        __all__ = ["public_fn"]
    """,
    "sub/impl.py": """
        from ..utils import experimental_api
        @experimental_api
        def public_fn(x, y=None): ...
        class Helper:
            value = 1
            def run(self, n): ...
    """,
    "utils.py": """
        def experimental_api(f): return f
        def __getattr__(name): raise AttributeError(name)
    """,
    "fast.cpython-311-x86_64-linux-gnu.so": "",
}

SYNTH_V2 = dict(SYNTH_V1)
SYNTH_V2["parallel_state.py"] = """
    def get_group(with_cp=False, with_new=True, partial=False): ...
    def new_getter(): ...
"""


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> tuple[dict, dict, ApiIndex]:
    v1 = scan_release(_package(tmp_path_factory.mktemp("v1"), SYNTH_V1))
    v2 = scan_release(_package(tmp_path_factory.mktemp("v2"), SYNTH_V2))
    data = json.loads(json.dumps(encode({"1.0.0": v1, "1.1.0": v2})))
    return v1, v2, ApiIndex(data)


def test_scanner_functions_parameters_and_kinds(synth):
    v1, _, _ = synth
    rec = v1["megatron.core.parallel_state.get_group"]
    assert rec["k"] == "function"
    assert rec["p"] == [
        ["with_cp", "po", "False", None], ["partial", "pk", "False", None],
        ["args", "va", None, None], ["check", "ko", "True", "bool"], ["kw", "vk", None, None],
    ]
    assert v1["megatron.core.sub.impl.public_fn"]["d"] == ["experimental_api"]


def test_scanner_imports_relative_star_and_type_checking(synth):
    v1, _, idx = synth
    assert v1["megatron.core.ModelConfig"] == {"k": "alias", "to": "megatron.core.config.ModelConfig"}
    # star import honours __all__: public_fn comes through, Helper does not
    assert v1["megatron.core.public_fn"]["to"] == "megatron.core.sub.public_fn"
    assert "megatron.core.Helper" not in v1
    # TYPE_CHECKING imports do not exist at runtime
    assert "megatron.core.parallel_state.ModelConfig" not in v1
    # a name bound in try and except keeps the first binding
    assert v1["megatron.core.parallel_state.fast_fn"]["to"] == "megatron.core.fast.fast_fn"
    assert v1["megatron.core.fast"] == {"k": "module", "so": 1}
    # the module file wins over `from megatron.core import parallel_state` in the package
    assert v1["megatron.core.parallel_state"]["k"] == "module"
    assert v1["megatron.core.mpu"] == {"k": "alias", "to": "megatron.core.parallel_state", "set": 1}
    assert idx.resolve("1.0.0", "megatron.core.public_fn").qualname == "megatron.core.sub.impl.public_fn"


def test_scanner_dataclass_fields_inherited_across_modules(synth):
    v1, _, _ = synth
    cfg = v1["megatron.core.config.ModelConfig"]
    assert cfg["b"] == ["megatron.core.base_config.BaseConfig"]
    assert cfg["dc"] == 1
    # base fields first, an overridden field keeps its place with the new default, ClassVar
    # and init=False fields are not parameters, KW_ONLY makes the rest keyword-only
    assert [(p[0], p[1], p[2]) for p in cfg["i"]] == [
        ("tp", "pk", "4"), ("cache", "pk", "<factory dict>"), ("layers", "pk", "2"), ("fp8", "ko", "False"),
    ]
    assert v1["megatron.core.config.Plain"]["i"] == cfg["i"]  # inherited constructor
    assert v1["megatron.core.config.Explicit"]["i"] == [["a", "pk", None, None], ["b", "ko", "3", None]]
    assert v1["megatron.core.config.Shard"]["i"] == [["key", "pk", None, "str"], ["offset", "pk", "0", "int"]]
    assert v1["megatron.core.config.Module"]["i_from"] == "torch.nn.Module"
    assert "i" not in v1["megatron.core.config.Module"]


def test_resolution_statuses(synth):
    _, _, idx = synth
    r = idx.resolve("1.0.0", "megatron.core.mpu.get_group")
    assert (r.status, r.qualname, r.via) == (FOUND, "megatron.core.parallel_state.get_group", ("megatron.core.mpu",))
    assert idx.resolve("1.0.0", "megatron.core.mpu.nope").status == MISSING
    assert idx.resolve("1.0.0", "megatron.core.mpu.nope").parent == "megatron.core.parallel_state"
    assert idx.resolve("1.0.0", "megatron.core.parallel_state.torch.cuda").status == EXTERNAL
    assert idx.resolve("1.0.0", "megatron.core.utils.anything").status == DYNAMIC  # module __getattr__
    assert idx.resolve("1.0.0", "megatron.core.config.Module.cuda").status == EXTERNAL  # base torch
    # an attribute inherited from a megatron base class
    inherited = idx.resolve("1.0.0", "megatron.core.config.Explicit.registry")
    assert inherited.status == FOUND and inherited.qualname == "megatron.core.base_config.BaseConfig.registry"
    assert idx.resolve("1.0.0", "megatron.core.sub.Helper.run").found
    assert idx.resolve("1.0.0", "torch.nn").status == "outside"


def test_history_and_presence(synth):
    _, _, idx = synth
    assert idx.releases_with("megatron.core.parallel_state.old_getter") == ["1.0.0"]
    assert idx.releases_with("megatron.core.parallel_state.new_getter") == ["1.1.0"]
    runs = idx.history("megatron.core.parallel_state.get_group")
    assert [r for r, _ in runs] == [["1.0.0"], ["1.1.0"]]
    same = idx.history("megatron.core.sub.impl.public_fn")
    assert [r for r, _ in same] == [["1.0.0", "1.1.0"]]
    assert idx.closest("1.1.0", "megatron.core.parallel_state.new_gettr") == ["new_getter"]


def test_encoding_shares_unchanged_records(synth):
    v1, v2, _ = synth
    data = encode({"1.0.0": v1, "1.1.0": v2})
    unchanged = dict(data["symbols"])["megatron.core.sub.impl.public_fn"]
    assert unchanged == [0b11, unchanged[1]]  # one record, both releases in the mask
    assert len(data["payloads"]) < len(v1) + len(v2)


def test_write_is_deterministic(synth, tmp_path):
    v1, v2, _ = synth
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write(encode({"1.0.0": v1, "1.1.0": v2}), a)
    write(encode({"1.1.0": v2, "1.0.0": v1}), b)
    assert a.read_bytes() == b.read_bytes()


def test_scanner_reports_missing_package(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        scan_release(tmp_path)


def test_loader_errors_name_the_path_and_releases(tmp_path):
    with pytest.raises(ApiIndexError, match="not found at .*nothing.jsonl"):
        api_index.load(tmp_path / "nothing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"not json")
    with pytest.raises(ApiIndexError, match="bad.jsonl is unreadable: its first line is not a JSON header"):
        api_index.load(bad)
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\x1f\x8b\x08\xff")  # e.g. a gzip'd index of an older release
    with pytest.raises(ApiIndexError, match="binary.jsonl is unreadable"):
        api_index.load(binary)
    future = tmp_path / "future.jsonl"
    future.write_text(json.dumps({"format": 99}))
    with pytest.raises(ApiIndexError, match="format 99"):
        api_index.load(future)
    idx = api_index.load()
    with pytest.raises(ApiIndexError, match=r"'0\.99\.0' is not in the API index.*0\.5\.0, 0\.6\.0"):
        idx.release("0.99.0")
    assert idx.release("0.16") == "0.16.1" and idx.release("v0.12.0") == "0.12.0"


# --- the shipped index ------------------------------------------------------------------------


def test_shipped_index_is_small_and_covers_every_release():
    assert api_index.INDEX_PATH.stat().st_size < 6_000_000  # uncompressed; ~0.4 MB in a wheel
    idx = api_index.load()
    assert idx.releases[0] == "0.5.0"
    from tools.downloads import SHIM_TEST_RELEASES

    assert set(SHIM_TEST_RELEASES) <= set(idx.releases)
    assert idx.releases == tuple(sorted(idx.releases, key=lambda v: tuple(map(int, v.split(".")))))
    assert len(idx.releases) >= 26  # 0.5.0 .. 0.19.2, final releases only


@pytest.mark.parametrize("qualname, first, last", [
    # research notes §2.1 / §5
    ("megatron.core.parallel_state.get_data_modulo_expert_parallel_group", "0.5.0", "0.16.1"),
    ("megatron.core.parallel_state.get_pipeline_model_parallel_split_rank", "0.5.0", "0.13.1"),
    ("megatron.core.parallel_state.is_inside_encoder", "0.9.0", "0.13.1"),
    ("megatron.core.parallel_state.get_expert_data_parallel_group", "0.10.0", None),
    ("megatron.core.process_groups_config.ModelCommProcessGroups", "0.12.0", "0.14.0"),
    ("megatron.core.process_groups_config.ProcessGroupCollection", "0.15.0", None),
    ("megatron.core.utils.get_pg_size", "0.13.0", None),
    ("megatron.core.utils.get_pg_src_rank", "0.16.0", None),
    ("megatron.core.tensor_parallel.CheckpointWithoutOutput", "0.12.0", None),
])
def test_shipped_presence_matches_research(qualname, first, last):
    idx = api_index.load()
    present = [r for r in idx.releases if idx.resolve(r, qualname).found]
    assert present[0] == first
    assert present[-1] == (last or idx.newest)
    assert present == idx.releases_between(first, present[-1])  # no gaps


def test_shipped_signatures_and_constructors():
    idx = api_index.load()
    runs = idx.history("megatron.core.parallel_state.get_data_parallel_group")
    by_release = {r: res for rels, res in runs for r in rels}
    names = lambda rel: [p[0] for p in by_release[rel].record["p"]]  # noqa: E731
    assert names("0.9.0") == ["with_context_parallel"]
    assert names("0.16.1") == ["with_context_parallel", "partial_data_parallel", "independent_all_gather"]
    assert names("0.19.0")[:2] == ["with_context_parallel", "with_gtp_remat"]  # inserted 2nd (§3)
    # TransformerConfig(ModelParallelConfig): inherited dataclass fields are constructor params
    tc = idx.resolve("0.16.1", "megatron.core.transformer.TransformerConfig")
    assert tc.qualname == "megatron.core.transformer.transformer_config.TransformerConfig"
    params = {p[0]: p for p in tc.record["i"]}
    assert params["tensor_model_parallel_size"][2] == "1"  # from ModelParallelConfig
    assert "num_layers" in params
    # tensor_parallel never re-exported parallel_state getters (§1.7)
    for rel in idx.releases:
        assert idx.resolve(rel, "megatron.core.tensor_parallel.get_data_parallel_world_size").missing
    # compiled dataset helpers are recorded as modules
    assert idx.resolve("0.16.1", "megatron.core.datasets.helpers_cpp").record.get("so") == 1
    # decorators are kept for the internal/experimental API rule
    engine = "megatron.core.inference.engines.dynamic_engine.DynamicInferenceEngine"
    assert idx.record("0.16.1", engine)["d"] == ["experimental_api"]
    assert idx.record("0.16.1", engine + ".start_listening_to_data_parallel_coordinator")["d"] == ["internal_api"]


def test_import_without_torch_or_megatron():
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\nsys.modules['megatron'] = None\n"
        "from mcore_compat import api_index\n"
        "from mcore_lint.api import diff_releases, show_symbol\n"
        "idx = api_index.load()\n"
        "print(len(diff_releases(idx, '0.12.0', '0.16.1').changes))\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 100


def test_release_discovery_keeps_final_releases_from_0_5():
    from tools.build_api_index import parse_versions

    out = ("megatron-core (0.19.2)\nAvailable versions: 0.19.2, 0.17.0, 0.17.0rc0, "
           "0.16.0rc0.dev132713, 0.15.0rc7, 0.5.0, 0.4.0, 0.1.0\n")
    assert sorted(map(str, parse_versions(out))) == ["0.17.0", "0.19.2", "0.5.0"]
    assert parse_versions("ERROR: No matching distribution found") == set()


# --- format 2: lines decoded on demand ----------------------------------------------------------


def test_lazy_lookups_answer_as_full_views():
    """A fresh index answers every query by decoding single lines; it must agree with an index
    whose whole views were built first (the bulk path), for every kind of query and release."""
    lazy = api_index.ApiIndex.from_text(api_index.INDEX_PATH.read_text())
    eager = api_index.ApiIndex.from_text(api_index.INDEX_PATH.read_text())
    for rel in eager.releases:
        eager.view(rel)  # every getter is now the full dict's
    names = sorted(eager.qualnames())[::97] + [
        "megatron.core.parallel_state.get_data_parallel_world_size",
        "megatron.core.tensor_parallel.get_data_parallel_world_size",  # moved: missing
        "megatron.core.transformer.TransformerConfig.tensor_model_parallel_size",  # inherited
        "megatron.core.mpu.nothing", "torch.nn.Module"]
    assert len(names) > 150
    for q in names:
        for rel in ("0.5.0", "0.9.0", "0.13.1", "0.16.1", eager.newest):
            assert lazy.resolve(rel, q) == eager.resolve(rel, q), (rel, q)
            assert lazy.record(rel, q) == eager.record(rel, q), (rel, q)
        assert lazy.presence(q) == eager.presence(q)
    assert lazy._views == {}  # nothing above needed a whole view
    assert lazy.view("0.16.1") == eager.view("0.16.1")


def test_lines_file_round_trip_and_truncation(tmp_path):
    index = encode({"1.0.0": {"megatron.core": {"k": "module", "pkg": 1},
                              "megatron.core.f": {"k": "function", "p": []}}})
    good = tmp_path / "good.jsonl"
    write(index, good)
    text = good.read_text()
    assert text.count("\n") == 1 + 2 + 2 and text.endswith("}\n")  # header, 2 symbols, 2 records
    assert api_index.load(good).record("1.0.0", "megatron.core.f") == {"k": "function", "p": []}
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(text.splitlines(keepends=True)[:-1]))  # the last record lost
    with pytest.raises(ApiIndexError, match=r"cut\.jsonl: API index has 3 lines after the "
                                            r"header, the header announces 2 symbols \+ 2 records"):
        api_index.load(cut)
    for odd in ('megatron.core."x"', "megatron.core.a b", "megatron.core.a\\b"):
        with pytest.raises(ValueError, match="cannot be stored"):
            api_index.encode_lines({**index, "symbols": [[odd, [1, 0]]]})


def _where_defined_from_views(idx, release, name):
    """The bulk algorithm (every record of the release decoded), as a reference."""
    view = idx.view(release)
    out = {}
    for q, rec in view.items():
        if q.rsplit(".", 1)[-1] != name or (rec["k"] == "alias" and not rec["to"].startswith("megatron.core")):
            continue
        res = idx.resolve(release, q)
        if res.qualname != q:
            parent = q.rsplit(".", 1)[0]
            if not (rec.get("set") or (view.get(parent, {}).get("pkg") and res.qualname.startswith(parent + "."))):
                continue
        if res.found and res.record and res.record["k"] in {"function", "class", "module"}:
            best = out.get(res.qualname)
            if best is None or (len(q), q) < (len(best), best):
                out[res.qualname] = q
    return sorted(out.values(), key=lambda q: (q.count("."), q))


def test_name_searches_decode_only_what_they_need():
    idx = api_index.ApiIndex.from_text(api_index.INDEX_PATH.read_text())
    names = ["get_data_parallel_world_size", "TransformerConfig", "ColumnParallelLinear",
             "get_pg_size", "ProcessGroupCollection", "parallel_state", "no_such_name"]
    lazy = {(r, n): idx.where_defined(r, n) for r in ("0.9.0", "0.16.1") for n in names}
    parents = ["megatron.core.parallel_state", "megatron.core.tensor_parallel", "megatron.core"]
    kids = {(r, p): idx.children(r, p) for r in ("0.9.0", "0.16.1") for p in parents}
    assert idx._views == {}  # answered line by line
    assert lazy[("0.16.1", "get_data_parallel_world_size")] == [
        "megatron.core.parallel_state.get_data_parallel_world_size"]
    assert lazy[("0.16.1", "no_such_name")] == []
    for (r, n), got in lazy.items():
        assert got == _where_defined_from_views(idx, r, n), (r, n)
    for (r, p), got in kids.items():
        view = idx.view(r)
        assert got == sorted(q.rpartition(".")[2] for q in view if q.rpartition(".")[0] == p), (r, p)
        assert got
    assert "get_pg_size" not in idx.children("0.12.3", "megatron.core.utils")  # 0.13.0+
    assert "get_pg_size" in idx.children("0.16.1", "megatron.core.utils")

"""The facts table: loading, errors, queries, and every reviewed row against the API index.

No torch, no megatron: the table and the generated index are plain data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mcore_compat import api_index, facts

IDX = api_index.load()


def _exists(release: str, dotted: str) -> bool:
    return IDX.resolve(release, dotted).found


def _params(release: str, qualname: str) -> dict[str, str | None] | None:
    res = IDX.resolve(release, qualname)
    if not res.found or not res.record:
        return None
    rec = res.record
    plist = rec.get("p") if rec["k"] in {"function", "method"} else rec.get("i")
    return None if plist is None else {p[0]: p[2] for p in plist}


def _in(release: str, first: str | None, last: str | None) -> bool:
    from packaging.version import Version

    v = Version(release)
    return (not first or v >= Version(first)) and (not last or v <= Version(last))


# -- the shipped table -----------------------------------------------------------------------

def test_every_row_has_releases_and_a_source():
    data = facts.load()
    rows = [*data.symbols, *data.removed, *data.renamed_keywords, *data.renamed_fields,
            *data.moved_fields, *data.changed_defaults]
    assert len(rows) >= 40
    for row in rows:
        assert row.source.strip(), row


def test_symbol_rows_agree_with_the_index():
    """old exists from old_first to old_last and not after; new exists from new_first on."""
    for row in facts.load().symbols:
        for release in IDX.releases:
            if _in(release, row.old_first, row.old_last):
                assert _exists(release, row.old), (row.old, release)
            elif _in(release, row.old_first, None):
                assert not _exists(release, row.old), (row.old, "still there in", release)
            assert _exists(release, row.new) == _in(release, row.new_first, None), (row.new, release)


def test_removed_rows_agree_with_the_index():
    for row in facts.load().removed:
        got = [r for r in IDX.releases if _exists(r, row.symbol)]
        assert got and got[0] == row.first and got[-1] == row.last, (row.symbol, got)


def test_renamed_field_rows_agree_with_the_index():
    for row in facts.load().renamed_fields:
        old = facts.keyword_releases(row.cls, row.old)
        new = facts.keyword_releases(row.cls, row.new)
        assert old and old[0] == row.old_first, (row, old)
        assert (old[-1] == row.old_last) if row.old_last else old[-1] == IDX.newest, (row, old)
        assert new and new[0] == row.new_first and new[-1] == IDX.newest, (row, new)


def test_moved_field_rows_agree_with_the_index():
    for row in facts.load().moved_fields:
        here = facts.keyword_releases(row.cls, row.field)
        there = facts.keyword_releases(row.to_class, row.field)
        assert here and here[0] == row.old_first and row.old_last in here
        after = [r for r in IDX.releases if _in(r, row.new_first, row.until or None)]
        assert after and not set(after) & set(here), (row.field, sorted(set(after) & set(here)))
        assert set(after) <= set(there), (row.field, "not in", row.to_class)


def test_renamed_keyword_rows_agree_with_the_index():
    """Every callable the row covers takes ``old`` only within old_first..old_last, never
    together with ``new``, and (if it still exists at new_first) takes ``new`` there."""
    for row in facts.load().renamed_keywords:
        takes: dict[str, dict[str, set[str]]] = {}  # qualname -> keyword -> releases
        for release in IDX.releases:
            for qual, rec in IDX.view(release).items():
                plist = rec.get("p") if rec["k"] in {"function", "method"} else rec.get("i")
                if not plist or not row.applies_to(qual):
                    continue
                for name in (p[0] for p in plist):
                    if name in (row.old, row.new):
                        takes.setdefault(qual, {}).setdefault(name, set()).add(release)
        witnesses = [q for q, kw in takes.items() if row.old in kw]
        assert witnesses, row
        for qual in witnesses:
            old, new = takes[qual][row.old], takes[qual].get(row.new, set())
            assert all(_in(r, row.old_first, row.old_last) for r in old), (qual, row.old, sorted(old))
            assert not old & new, (qual, "takes both", sorted(old & new))
            if _exists(row.new_first, qual) and not qual.endswith(".__init__"):
                assert row.new_first in new, (qual, row.new)


def test_changed_default_rows_agree_with_the_index():
    for row in facts.load().changed_defaults:
        checked = 0
        for release in IDX.releases:
            params = _params(release, row.callable)
            if params is None or row.param not in params:
                continue
            assert params[row.param] == row.default_in(release), (row.callable, row.param, release)
            checked += 1
        assert checked >= 4, row


# -- queries ------------------------------------------------------------------------------------

def test_releases_accepting_matches_the_research_notes():
    ps = "megatron.core.parallel_state."
    # research/megatron-core-api-history.md s1, s2.1
    assert facts.releases_accepting(ps + "get_data_parallel_rank", "partial_data_parallel") == "0.10.0 and later"
    assert facts.releases_accepting(ps + "get_data_modulo_expert_parallel_group", "with_context_parallel") == "0.8.0–0.9.0"
    assert facts.releases_accepting(ps + "is_pipeline_first_stage", "vp_stage") == "0.13.0 and later"
    assert facts.releases_accepting(ps + "get_data_parallel_group", "independent_all_gather") == "0.16.0–0.17.1"
    layer = "megatron.core.transformer.transformer_layer.TransformerLayer"
    assert facts.releases_accepting(layer, "model_comm_pgs") == "0.13.0–0.14.0"
    assert facts.releases_accepting(layer, "pg_collection") == "0.15.0 and later"
    # a re-export resolves to the definition
    assert facts.releases_accepting("megatron.core.models.gpt.GPTModel", "vp_stage") == "0.13.0 and later"
    assert facts.releases_accepting(layer, "no_such_keyword") is None
    assert facts.keyword_releases(layer, "no_such_keyword") == []
    assert facts.keyword_releases("megatron.core.no_such_module.f", "x") is None


def test_keyword_default_is_known_only_when_every_release_agrees():
    gpt = "megatron.core.models.gpt.gpt_model.GPTModel"
    assert facts.keyword_default(gpt, "vp_stage") == facts.Default(True, None, "None")
    tc = "megatron.core.transformer.transformer_config.TransformerConfig"
    assert facts.keyword_default(tc, "cuda_graph_impl").value == "none"
    # ignore_virtual: False up to 0.12, True from 0.13 -> no single default
    flip = facts.keyword_default("megatron.core.parallel_state.is_pipeline_first_stage", "ignore_virtual")
    assert not flip.known and "False" in flip.text and "True" in flip.text
    assert not facts.keyword_default(gpt, "no_such_keyword").known


def test_symbol_queries():
    tl = "megatron.core.transformer.custom_layers.transformer_engine.TENorm"
    assert facts.moved_symbol(tl).new == "megatron.core.extensions.transformer_engine"
    assert facts.renamed_symbol(tl) is None
    old = "megatron.core.parallel_state.get_data_modulo_expert_parallel_group"
    assert facts.renamed_symbol(old).new == "megatron.core.parallel_state.get_expert_data_parallel_group"
    assert facts.moved_symbol(old) is None
    assert facts.symbol_candidates(tl) == [tl, "megatron.core.extensions.transformer_engine.TENorm"]
    pgc = "megatron.core.process_groups_config.ProcessGroupCollection"
    assert facts.symbol_candidates(pgc) == [pgc, "megatron.core.process_groups_config.ModelCommProcessGroups"]
    grad = "megatron.core.process_groups_config.GradCommProcessGroups"
    assert facts.symbol_candidates(grad) == [grad, pgc]  # no hop to a sibling old name
    assert facts.removed_symbol("megatron.core.parallel_state.is_inside_encoder").meaning.startswith("True on pipeline stage 0")
    assert facts.symbol_releases("megatron.core.process_groups_config.ModelCommProcessGroups")[0] == "0.12.0"


def test_keyword_and_field_queries():
    ddp = "megatron.core.distributed.distributed_data_parallel.DistributedDataParallel"
    assert facts.keyword_spellings(ddp, "pg_collection") == ["model_comm_pgs", "grad_comm_pgs", "grad_finalize_pgs"]
    assert facts.keyword_spellings(ddp, "model_comm_pgs") == ["pg_collection"]
    assert facts.keyword_spellings("torch.nn.Linear", "model_comm_pgs") == []
    assert facts.renamed_keyword(ddp, "grad_comm_pgs").new_first == "0.15.0"
    tc = "megatron.core.transformer.transformer_config.TransformerConfig"
    assert facts.config_field_rename(tc, "num_layers_in_first_pipeline_stage").old == "first_pipeline_num_layers"
    assert facts.config_field_rename(tc, "hidden_size") is None
    opt = "megatron.core.optimizer.optimizer_config.OptimizerConfig"
    assert facts.config_field_move(opt, "overlap_grad_reduce").to_class.endswith("DistributedDataParallelConfig")
    flip = facts.changed_default("megatron.core.parallel_state.is_pipeline_first_stage", "ignore_virtual")
    assert (flip.default_in("0.12.3"), flip.default_in("0.13.0")) == ("False", "True")


def test_format_span():
    assert facts.format_span([]) == "no release"
    assert facts.format_span(["0.13.0", "0.13.1", "0.14.0"]) == "0.13.0–0.14.0"
    assert facts.format_span(["0.9.0"]) == "0.9.0"
    newest = IDX.newest
    assert facts.format_span(["0.5.0", "0.6.0", "0.14.0", *IDX.releases_between("0.15.0", newest)]) \
        == "0.5.0–0.6.0, 0.14.0 and later"


def test_without_the_index_derived_answers_are_unknown(monkeypatch):
    monkeypatch.setattr(facts, "_index", lambda: None)
    facts._keyword_table.cache_clear()
    facts._symbol_releases.cache_clear()
    try:
        layer = "megatron.core.transformer.transformer_layer.TransformerLayer"
        assert facts.releases_accepting(layer, "pg_collection") is None
        assert facts.keyword_releases(layer, "pg_collection") is None
        assert not facts.keyword_default(layer, "pg_collection").known
        assert facts.symbol_releases(layer) is None
        # the reviewed table still answers
        assert facts.keyword_spellings(layer, "pg_collection") == ["model_comm_pgs", "grad_comm_pgs", "grad_finalize_pgs"]
        assert facts.format_span(["0.14.0", "0.13.0"]) == "0.13.0, 0.14.0"
    finally:
        facts._keyword_table.cache_clear()
        facts._symbol_releases.cache_clear()


# -- bad data -----------------------------------------------------------------------------------

GOOD_ROW = '''
[[symbol]]
old = "megatron.core.a.X"
new = "megatron.core.b.X"
old_first = "0.9.0"
old_last = "0.10.0"
new_first = "0.11.0"
source = "test"
'''


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "facts.toml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("text, needle", [
    ("schema = 2\n", "schema 2"),
    ("schema = 1\nmystery = []\n", "unknown table(s) mystery"),
    ("schema = 1\n" + GOOD_ROW.replace('source = "test"', 'source = ""'), "non-empty 'source'"),
    ("schema = 1\n" + GOOD_ROW.replace('new_first = "0.11.0"', 'new_first = "eleven"'), "'new_first' is not a release: 'eleven'"),
    ("schema = 1\n" + GOOD_ROW.replace('new = "megatron.core.b.X"\n', ''), "missing field(s) new"),
    ("schema = 1\n" + GOOD_ROW + 'colour = "red"\n', "unknown field 'colour'"),
    ("schema = 1\n" + GOOD_ROW.replace("reverse", "x") + "reverse = 'yes'\n", "'reverse' must be true or false"),
    ("schema = 1\n[[symbol\n", "unreadable"),
])
def test_bad_tables_raise_naming_file_row_and_field(tmp_path, text, needle):
    path = _write(tmp_path, text)
    with pytest.raises(facts.FactsError) as err:
        facts.load(path)
    assert needle in str(err.value)
    assert str(path) in str(err.value)
    if "row" in needle or "field" in needle or "source" in needle:
        assert "[[symbol]] row 1" in str(err.value)


def test_missing_table_file(tmp_path):
    with pytest.raises(facts.FactsError, match="not found"):
        facts.load(tmp_path / "nope.toml")


def test_a_good_custom_table_loads(tmp_path):
    data = facts.load(_write(tmp_path, "schema = 1\n" + GOOD_ROW))
    assert data.symbols[0].kind == "moved" and data.symbols[0].reverse is True
    assert data.removed == ()

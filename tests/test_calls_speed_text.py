"""The shortcuts that make the call-site search cheap (issue 11) answer exactly what the slow
paths answered: textual pre-checks (:mod:`mcore_lint.calls.text`) against the regex on
``SemanticModel.lines_text``, walks pruned to the lines that spell a name against whole walks
(decorators, NFKC-normalised identifiers), bindings shared between calls of one shape against
binding each call, memoised release lists against computing them. Real semantic model and API
index (shipped data), no torch."""

from __future__ import annotations

import ast
import re
import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

import mcore_lint.calls as calls
from mcore_lint.calls import binding, releases, sites
from mcore_lint.calls.text import SourceText
from mcore_lint.engine import parse
from mcore_lint.semantic import build_model
from mcore_lint.target import Target


def _model(src: str):
    src = textwrap.dedent(src).strip("\n") + "\n"
    return build_model(parse(src, "t.py"), src, "t.py")


class _Text:
    """Just what SourceText reads of a model, with the model's own line table and lines_text
    (the reference: SemanticModel.line_starts / lines_text, same regex)."""

    def __init__(self, source: str):
        self.source = source
        self._line_starts = None

    @property
    def line_starts(self) -> list[int]:
        return [0, *(m.end() for m in re.finditer(r"\r\n|\r|\n", self.source))]

    def lines_text(self, first: int, last: int) -> str:
        starts = self.line_starts
        end = starts[last] if last < len(starts) else len(self.source)
        return self.source[starts[first - 1]:end]


PIECES = ["x", "xy", "y", "é", "1", "_", ".", " ", "\t", "\n", "\r\n", "\r", "(", ")", "x.f(", "x .\n g (", "super"]
texts = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)


def _method_call_re(name: str) -> "re.Pattern[str]":
    # the pre-check sites.py compiled per name before issue 11
    return re.compile(r"(?<![\w.])" + re.escape(name) + r"\s*\.\s*[^\W\d]\w*\s*\(")


@settings(max_examples=400, deadline=None)
@given(texts, st.data())
def test_text_checks_answer_what_the_regex_on_lines_text_answers(source, data):
    ref = _Text(source)
    text = SourceText(ref)  # type: ignore[arg-type]
    n = len(ref.line_starts)
    first = data.draw(st.integers(1, n))
    last = data.draw(st.integers(first, n))
    assert text.starts == ref.line_starts
    for name in ("x", "xy", "é"):
        expected = _method_call_re(name).search(ref.lines_text(first, last)) is not None
        assert text.method_call(name, first, last) == expected, (source, first, last, name)
    for word in ("super", "x"):
        assert text.has_word(word, first, last) == (word in ref.lines_text(first, last))
    assert text.is_ascii(first, last) == ref.lines_text(first, last).isascii()
    if "\r" not in source:
        # every line where ``x`` stands as a word is listed (the pruned walks rely on it)
        spelled = {source.count("\n", 0, m.start()) + 1 for m in re.finditer(r"(?<!\w)x(?!\w)", source)}
        assert set(text.name_lines("x", 1, n)) == spelled


def test_starts_follow_the_models_line_breaks():
    for source in ("a\nb\n", "a\r\nb\rc", "", "no newline", "\n\n"):
        model = _Text(source)
        assert SourceText(model).starts == model.line_starts  # type: ignore[arg-type]


def _bound(src: str) -> list[tuple[int, str]]:
    return [(s.call.lineno, s.qualname.rsplit(".", 1)[-1]) for s in calls.call_sites(_model(src)) if s.style == "bound"]


LAYER = "from megatron.core.tensor_parallel import ColumnParallelLinear"


def test_instance_calls_found_through_a_name_bound_once():
    assert _bound(LAYER + """
def run(cfg, x):
    layer = ColumnParallelLinear(4, 8, config=cfg)
    y = layer . forward(
        x)
    return layer.forward(x)
""") == [(4, "forward"), (6, "forward")]


def test_walrus_in_a_decorator_on_other_lines_still_rebinds_the_name():
    # the decorator's line is not inside the def's own lines (it starts at ``def``)
    assert _bound(LAYER + """
def run(cfg, x):
    layer = ColumnParallelLinear(4, 8, config=cfg)
    @(layer := wrap)
    def inner():
        pass
    return layer.forward(x)
""") == []


def test_nonlocal_in_a_nested_function_rebinds_the_name():
    assert _bound(LAYER + """
def run(cfg, x):
    layer = ColumnParallelLinear(4, 8, config=cfg)
    def swap():
        nonlocal layer
        layer = None
    return layer.forward(x)
""") == []


def test_walrus_in_a_comprehension_rebinds_the_name_on_its_own_line():
    got = _bound(LAYER + """
def run(cfg, x):
    layer = ColumnParallelLinear(4, 8, config=cfg)
    out = layer.forward(x)
    ys = [
        (layer := w) for w in range(2)
    ]
    return out
""")
    assert got == []


def test_a_name_on_other_lines_only_does_not_change_the_answer():
    # a long function where most statements never spell ``layer``: the pruned walk skips
    # them, the sites and their guards are those of a whole walk
    body = "\n".join(f"    v{i} = other.call({i})" for i in range(50))
    src = LAYER + f"""
def run(cfg, x):
    layer = ColumnParallelLinear(4, 8, config=cfg)
{body}
    try:
        y = layer.forward(x)
    except TypeError:
        y = None
    return layer.backward(y)
"""
    got = [(s.call.lineno, s.qualname.rsplit(".", 1)[-1], s.guarded)
           for s in calls.call_sites(_model(src)) if s.style == "bound"]
    assert got == [(55, "forward", True), (58, "backward", False)]


def test_second_assignment_in_a_walked_function_skips_the_text_check():
    # ``(b).forward`` does not read as ``b.forward(``; the function is walked for ``a``, and
    # then ``b``'s calls come from the walk (the behaviour the per-function cache always had)
    got = _bound(LAYER + """
def run(cfg, x):
    a = ColumnParallelLinear(4, 8, config=cfg)
    a.forward(x)
    b = ColumnParallelLinear(4, 8, config=cfg)
    return (b).forward(x)
""")
    assert got == [(4, "forward"), (6, "forward")]
    # alone, ``b`` fails the text check: no walk, no site
    assert _bound(LAYER + """
def run(cfg, x):
    b = ColumnParallelLinear(4, 8, config=cfg)
    return (b).forward(x)
""") == []


def test_fullwidth_super_is_still_the_builtin():
    # NFKC makes ``ｓｕｐｅｒ`` the name ``super``: on non-ASCII text the walk is not pruned
    src = """
from megatron.core.transformer.module import MegatronModule
class Head(MegatronModule):
    def __init__(self, config):
        # calls super below
        ｓｕｐｅｒ().__init__(config=config, bogus=1)
"""
    assert ast.parse("ｓｕｐｅｒ()").body[0].value.func.id == "super"  # type: ignore[attr-defined]
    got = [(s.call.lineno, s.style) for s in calls.call_sites(_model(src))]
    assert (5, "init") in got


def test_super_calls_on_lines_of_a_long_method():
    got = [(s.call.lineno, s.qualname.rsplit(".", 1)[-1], s.style) for s in calls.call_sites(_model("""
from megatron.core.transformer.module import MegatronModule
class Head(MegatronModule):
    def __init__(self, config):
        a = 1
        if a:
            b = [i for i in range(3)]
            super().__init__(config=config)
        c = lambda: super().forward()
        return super().sharded_state_dict(prefix="")
"""))]
    assert got == [(7, "MegatronModule", "init"), (9, "sharded_state_dict", "bound")]


def test_shared_bindings_equal_fresh_ones_and_carry_their_release():
    model = _model("""
        from megatron.core import parallel_state as ps
        from megatron.core.tensor_parallel import RowParallelLinear
        ps.get_data_parallel_group(with_context_parallel=True)
        ps.get_data_parallel_group(with_context_parallel=False)
        ps.get_data_parallel_group(True, nope=1)
        RowParallelLinear(8, 8, config=c, init_method=i)
        RowParallelLinear(8, 8, **kw)
    """)
    idx = calls.index()
    found = calls.call_sites(model)
    for site in found:
        for r in idx.releases:
            sig = calls.signature_in(idx, r, site.qualname, site.style)
            got = calls.binding_in(idx, site, r)
            if not isinstance(sig, calls.Signature):
                assert got is sig
                continue
            fresh = binding.bind(site, sig)
            assert got == fresh
            if got is not None:
                assert got.signature is sig and got.signature.release == r
    # the first two calls have one shape: one binding object per release
    r = idx.newest
    assert calls.binding_in(idx, found[0], r) is calls.binding_in(idx, found[1], r)
    assert calls.binding_in(idx, found[2], r).unknown_keywords == ["nope"]
    assert calls.binding_in(idx, found[4], r) is None  # **kw: never bound


def test_bindings_in_lists_binding_in_per_release():
    site = calls.call_sites(_model("""
        from megatron.core import parallel_state as ps
        ps.get_data_parallel_group(with_context_parallel=True)
    """))[0]
    idx = calls.index()
    rels = list(idx.releases)
    assert calls.bindings_in(idx, site, rels) == [calls.binding_in(idx, site, r) for r in rels]


def test_release_lists_are_memoised_copies():
    idx = calls.index()
    target = Target.parse(None, ">=0.12,<0.14", from_version="0.13.0")
    a = releases.checked_releases(target, idx)
    a.append("mutated")
    assert "mutated" not in releases.checked_releases(target, idx)
    assert releases.span_releases(target, idx) == releases._span(target, idx)
    assert releases.span_releases(target, idx)[0] == "0.13.0"
    assert releases.checked_releases(None, idx) == [idx.newest]


def test_argument_views_are_computed_once():
    site = calls.call_sites(_model("""
        from megatron.core import parallel_state as ps
        ps.get_data_parallel_group(True, *rest, flag=1)
    """))[0]
    assert site.args is site.args and site.has_star_args
    assert site.shape == (2, ("flag",), False, True)
    assert isinstance(sites.CallSite.args, sites.cached_property)

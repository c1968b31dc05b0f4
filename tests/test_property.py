"""Property-based tests (hypothesis): on generated modules mixing megatron imports, aliases,
scopes, guards and calls, every registered rule runs without crashing, every finding lies inside
the file, and the fix loop yields code that parses and that a second fix leaves unchanged.

The generator draws from real megatron-core spellings (names that moved, were renamed or
removed between releases, so the rules have something to find and fix) and combines them with
the constructs that make name resolution hard: ``import a.b as x``, ``from a import b as c``,
rebinding and shadowing in nested functions, classes, lambdas and comprehensions, imports
inside ``try/except ImportError`` and functions, ``del``, ``global``.
"""

from __future__ import annotations

import ast
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcore_lint.engine import check_source
from mcore_lint.fix.loop import fix_source
from mcore_lint.rules.registry import all_rules
from mcore_lint.target import Target

RULES = all_rules()

#: (import statement, the name it binds, attributes reachable through it)
IMPORTS = [
    ("from megatron.core import parallel_state", "parallel_state",
     ["get_data_parallel_world_size()", "get_data_modulo_expert_parallel_group()", "is_pipeline_first_stage()",
      "get_tensor_model_parallel_rank()", "get_pipeline_model_parallel_split_rank()",
      "get_data_parallel_group(with_context_parallel=True)", "get_tensor_and_data_parallel_group(True)"]),
    ("from megatron.core import parallel_state as ps", "ps",
     ["get_expert_model_parallel_rank()", "is_unitialized()", "get_data_parallel_rank()"]),
    ("import megatron.core.parallel_state as mpu", "mpu",
     ["get_data_modulo_expert_parallel_rank()", "is_pipeline_last_stage(ignore_virtual=False)",
      "get_moe_layer_wise_logging_tracker()", "initialize_model_parallel(1, 1, encoder_pipeline_model_parallel_size=0)"]),
    ("from megatron.core import tensor_parallel", "tensor_parallel",
     ["get_data_parallel_world_size()", "get_data_parallel_group()", "get_tensor_model_parallel_rank()"]),
    ("from megatron.core import tensor_parallel as tp", "tp",
     ["get_data_parallel_rank()", "gather_from_tensor_model_parallel_region(x)"]),
    ("import megatron.core", "megatron.core",
     ["parallel_state.get_data_parallel_world_size()", "tensor_parallel.get_data_parallel_group()"]),
    ("from megatron.core.process_groups_config import ModelCommProcessGroups", "ModelCommProcessGroups", ["__call__()"]),
    ("from megatron.core.process_groups_config import ModelCommProcessGroups as MCPG", "MCPG", ["__call__()"]),
    ("from megatron.core.transformer import TransformerBlock", "TransformerBlock", ["__call__(config=None)"]),
    ("from megatron.core.transformer.transformer_config import TransformerConfig", "TransformerConfig",
     ["__call__(num_layers=2, hidden_size=8, num_attention_heads=2, first_pipeline_num_layers=1)"]),
    ("from megatron.core.models.gpt import GPTModel", "GPTModel",
     ["__call__(config=None, transformer_layer_spec=None, vocab_size=8, max_sequence_length=8, model_comm_pgs=None)"]),
    ("from megatron.core import mpu", "mpu", ["get_data_modulo_expert_parallel_group()"]),
    ("import megatron.core.utils as mcu", "mcu", ["get_pg_rank(None)", "is_te_min_version('1.0')"]),
]

TARGETS = ["0.9.0", "0.12.3", "0.14.0", "0.16.1", "0.17.1", "0.19.2"]


def _use(binding: str, attr: str) -> str:
    return f"{binding}({attr[len('__call__('):]}" if attr.startswith("__call__(") else f"{binding}.{attr}"


@st.composite
def modules(draw) -> str:
    chosen = draw(st.lists(st.sampled_from(range(len(IMPORTS))), min_size=1, max_size=5, unique=True))
    lines = ["import torch", ""]
    uses: list[str] = []
    for i in chosen:
        stmt, binding, attrs = IMPORTS[i]
        wrap = draw(st.sampled_from(["plain", "try", "function"]))
        if wrap == "try":
            lines += ["try:", f"    {stmt}", "except ImportError:", f"    {binding.split('.')[0]} = None"]
        elif wrap == "plain":
            lines.append(stmt)
        for k, attr in enumerate(draw(st.lists(st.sampled_from(attrs), min_size=1, max_size=3))):
            if wrap == "function":  # a function-local import
                lines += ["", f"def _local_{i}_{k}(x=None):", f"    {stmt}", f"    return {_use(binding, attr)}", ""]
            else:
                uses.append(_use(binding, attr))
    lines += ["", ""]
    n = 0
    for use in uses:
        n += 1
        shape = draw(st.sampled_from(["module", "function", "nested", "method", "lambda", "comprehension",
                                      "shadowed", "global", "kwarg", "if"]))
        if shape == "module":
            lines.append(f"value_{n} = {use}")
        elif shape == "function":
            lines += [f"def f_{n}(x=None, *args, **kwargs):", f"    return {use}", ""]
        elif shape == "nested":
            lines += [f"def outer_{n}(x=None):", "    def inner(y=None):", f"        return {use}", "    return inner", ""]
        elif shape == "method":
            lines += [f"class C{n}:", "    attr = 1", "", "    def m(self, x=None):", f"        return {use}", ""]
        elif shape == "lambda":
            lines.append(f"fn_{n} = lambda x=None: {use}")
        elif shape == "comprehension":
            lines.append(f"vals_{n} = [{use} for x in range(2) if x]")
        elif shape == "shadowed":  # the same spelling bound to something else locally
            root = use.split(".")[0].split("(")[0]
            lines += [f"def shadow_{n}({root}=None):", f"    return {root}", "", f"after_{n} = {use}"]
        elif shape == "global":
            lines += [f"def g_{n}():", f"    global value_{n}", f"    value_{n} = {use}", ""]
        elif shape == "kwarg":
            lines.append(f"torch.distributed.all_reduce(torch.zeros(1), group={use})")
        else:
            lines += ["if torch.cuda.is_available():", f"    cond_{n} = {use}", "else:", f"    cond_{n} = None"]
    if draw(st.booleans()):
        lines.append("del torch")
    if draw(st.booleans()):
        lines = [line.replace("\n", "\r\n") for line in lines]
        return "\r\n".join(lines) + "\r\n"
    return "\n".join(lines) + "\n"


_BREAK = re.compile(r"\r\n|\r|\n")


def _inside(text: str, finding) -> bool:
    lines = _BREAK.split(text)
    r1, c1 = finding.location.row, finding.location.column
    r2, c2 = finding.end_location.row, finding.end_location.column
    return (1 <= r1 <= r2 <= len(lines) and 1 <= c1 <= len(lines[r1 - 1]) + 1
            and 1 <= c2 <= len(lines[r2 - 1]) + 1 and (r1 < r2 or c1 <= c2))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(source=modules(), target=st.sampled_from(TARGETS), unsafe=st.booleans())
def test_rules_never_crash_and_fixes_parse_and_are_idempotent(source: str, target: str, unsafe: bool) -> None:
    ast.parse(source)  # the generator makes valid Python
    tgt = Target.parse(target)
    findings = check_source(source, "gen/train.py", RULES, tgt, module="gen.train")
    for f in findings:
        assert _inside(source, f), f"{f.code} at {f.location}..{f.end_location} outside the file"
    result = fix_source(source, "gen/train.py", RULES, tgt, unsafe=unsafe, module="gen.train")
    assert result.error is None, result.error
    assert result.converged
    ast.parse(result.text)
    if "\r\n" in source:
        assert result.text.count("\n") == result.text.count("\r\n"), "fix introduced bare LF into a CRLF file"
    again = fix_source(result.text, "gen/train.py", RULES, tgt, unsafe=unsafe, module="gen.train")
    assert again.text == result.text and not again.fixed, f"second fix changed: {[f.code for f in again.fixed]}"
    for f in again.remaining:
        assert _inside(result.text, f)

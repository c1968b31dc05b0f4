"""MC505: a monkey patch of a megatron.core function or method whose target's signature in the
target release no longer matches the replacement (or whose target is gone).

Source of the pattern: ``../shared/research/downstream-compat.md`` §1 (#8 verl patches
``MLASelfAttention.get_query_key_value_tensors``, #9 wraps ``TransformerConfig.__init__``, #13
slime replaces ``finalize_model_grads._allreduce_non_tensor_model_parallel_grads``) and §5.12:
these patches break silently, not with an ImportError. Signatures come from the API index
(``mcore_compat/data/api_index.jsonl``, generated from the PyPI wheels).
"""

from __future__ import annotations

import ast
import re

from .base import Applicability, Context, Invalid, Rule, Valid
from .mc504_private_megatron_api import is_megatron_core_source

ROOT = "megatron.core"
Param = list  # [name, kind, default, annotation] as the API index stores them
_SKIP_DECORATORS = {"staticmethod", "classmethod", "property"}


def params_of(args: ast.arguments, segment) -> list[Param]:
    """An ``ast.arguments`` as API-index parameters (kinds po/pk/va/ko/vk, default as text)."""
    out: list[Param] = []
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for i, a in enumerate(positional):
        kind = "po" if i < len(args.posonlyargs) else "pk"
        out.append([a.arg, kind, segment(defaults[i]) if defaults[i] is not None else None, None])
    if args.vararg is not None:
        out.append([args.vararg.arg, "va", None, None])
    for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        out.append([a.arg, "ko", segment(d) if d is not None else None, None])
    if args.kwarg is not None:
        out.append([args.kwarg.arg, "vk", None, None])
    return out


def incompatibility(target: list[Param], repl: list[Param], method: bool) -> str | None:
    """Why ``repl`` cannot stand in for ``target`` (a call ``target`` accepts that ``repl``
    rejects or binds differently), or None when it can. ``method``: the first parameter is
    ``self``/``cls``, never passed by keyword."""
    t_pos = [p for p in target if p[1] in ("po", "pk")]
    r_pos = [p for p in repl if p[1] in ("po", "pk")]
    r_va = any(p[1] == "va" for p in repl)
    r_vk = any(p[1] == "vk" for p in repl)
    r_kw = {p[0] for p in repl if p[1] in ("pk", "ko")}
    for i, p in enumerate(t_pos):
        if i >= len(r_pos) and not r_va:
            return f"a call passing `{p[0]}` positionally fails"
        if p[1] == "pk" and not (method and i == 0):
            if i >= len(r_pos) and p[0] not in r_kw and not r_vk:
                return f"a call passing `{p[0]}=` fails"
            if i < len(r_pos) and r_pos[i][0] != p[0] and p[2] is not None:
                # an optional parameter is usually passed by keyword: under another name (or
                # slot) the call fails or binds elsewhere; a required one is passed by position
                if p[0] in r_kw:
                    return f"`{p[0]}` passed positionally lands on `{r_pos[i][0]}`"
                if not r_vk:
                    return f"a call passing `{p[0]}=` fails"
            continue
    for p in target:
        if p[1] == "ko" and p[0] not in r_kw and not r_vk:
            return f"a call passing `{p[0]}=` fails"
        if p[1] == "va" and not r_va:
            return "extra positional arguments fail"
        if p[1] == "vk" and not r_vk:
            return "extra keyword arguments fail"
    required = {p[0] for p in target if p[1] in ("pk", "ko") and p[2] is None}
    for j, p in enumerate(repl):
        if p[1] in ("va", "vk") or p[2] is not None:
            continue
        if p[1] in ("po", "pk") and j < len(t_pos) and t_pos[j][2] is None:
            continue
        if p[0] in required:
            continue
        return f"the replacement requires `{p[0]}`, which callers of the original need not pass"
    return None


def _probed(source: str, name: str) -> bool:
    """The file asks whether the target exists (``getattr(m, "name", None)``,
    ``hasattr(m, "name")``): a patch of a name it knows may be missing is deliberate."""
    return re.search(r"\b(?:has|get)attr\([^()]*?[\"']%s[\"']" % re.escape(name), source) is not None


class MonkeyPatchDrift(Rule):
    """## What it does
    Flags an assignment that replaces a `megatron.core` function or method -
    `module.fn = my_fn`, `Class.method = my_method`, `setattr(module, "fn", my_fn)` - when,
    in the target release, the replaced function no longer exists or its signature accepts
    calls the replacement does not (a parameter the replacement lacks, a keyword it does not
    know, a parameter it requires that callers never pass). The message shows both signatures.
    Replacements taking `*args, **kwargs` fit any signature; replacements the file does not
    define (and that are not megatron functions) are not checked.

    ## Why is this bad?
    A monkey patch is written against one release. When megatron adds a parameter (
    `_get_main_grad_attr` gained and lost `use_custom_fsdp`/`use_megatron_fsdp`, MLA's
    `_adjust_key_value_for_inference` changed its return arity in 0.13) megatron's own callers
    pass it and the patched function raises `TypeError` deep inside a training step; when the
    target is gone, the patch silently patches nothing.

    ## Example
    ```python
    from megatron.core import parallel_state

    def first_stage(ignore_virtual=False):
        return True

    parallel_state.is_pipeline_first_stage = first_stage   # 0.13+: (ignore_virtual=True, vp_stage=None)
    ```
    Use instead:
    ```python
    def first_stage(ignore_virtual=True, vp_stage=None):
        return True
    ```
    or wrap the original with `*args, **kwargs` and pass everything through.

    ## Fix safety
    Display-only: the replacement's body has to be adapted by a human.
    """

    code = "MC505"
    name = "monkey-patch-drift"
    message = "{text}"
    fix = Applicability.DISPLAY_ONLY
    releases = ">=0.5"

    VALID = [
        Valid("""
            from megatron.core import parallel_state
            def first_stage(ignore_virtual=True, vp_stage=None):
                return True
            parallel_state.is_pipeline_first_stage = first_stage
        """, target="0.16.1"),
        Valid("""
            import functools
            from megatron.core import parallel_state
            original = parallel_state.is_pipeline_first_stage
            def first_stage(*args, **kwargs):
                return original(*args, **kwargs)
            parallel_state.is_pipeline_first_stage = first_stage
        """, target="0.16.1"),
        Valid("""
            from megatron.core import parallel_state
            parallel_state._TENSOR_MODEL_PARALLEL_GROUP = None
            parallel_state.my_new_helper = lambda: 1
        """, target="0.16.1"),
        Valid("""
            from megatron.core import parallel_state
            if hasattr(parallel_state, "get_pipeline_model_parallel_split_rank"):
                parallel_state.get_pipeline_model_parallel_split_rank = lambda: None
        """, target="0.16.1"),
        Valid("""
            from megatron.core.transformer import transformer_block as tb
            original = getattr(tb, "checkpointed_forward", None)
            if original is not None:
                tb.checkpointed_forward = lambda *a, **k: original(*a, **k)
            try:
                run()
            finally:
                if original is not None:
                    tb.checkpointed_forward = original
        """, target="0.16.1"),
        Valid("""
            from megatron.core.extensions import transformer_engine as te
            original = te._get_extra_te_kwargs

            def meta_kwargs(c):  # the required parameter is passed by position everywhere
                kwargs = original(c)
                kwargs["device"] = "meta"
                return kwargs

            te._get_extra_te_kwargs = meta_kwargs
        """, target="0.16.1"),
    ]
    INVALID = [
        Invalid(
            """
            from megatron.core import parallel_state

            def first_stage(ignore_virtual=False):
                return True

            parallel_state.is_pipeline_first_stage = first_stage
            """,
            message="`megatron.core.parallel_state.is_pipeline_first_stage` is "
                    "`is_pipeline_first_stage(ignore_virtual=True, vp_stage=None)` in megatron-core 0.16.1; "
                    "the replacement is `first_stage(ignore_virtual=False)`",
            target="0.16.1",
        ),
        Invalid(
            """
            import megatron.core.parallel_state as mpu
            setattr(mpu, "get_pipeline_model_parallel_split_rank", lambda: None)
            """,
            message="`megatron.core.parallel_state.get_pipeline_model_parallel_split_rank` does not exist in "
                    "megatron-core 0.16.1",
            target="0.16.1",
        ),
        Invalid(
            """
            from megatron.core.models.gpt.gpt_model import GPTModel

            def forward(self, input_ids, position_ids, attention_mask, labels=None):
                return None

            GPTModel.forward = forward
            """,
            message="the replacement is `forward(self, input_ids, position_ids, attention_mask, labels=None)`: "
                    "a call passing `decoder_input=` fails",
            target="0.16.1",
        ),
    ]

    def check(self, ctx: Context) -> None:
        model = ctx.model
        if is_megatron_core_source(model):
            return  # megatron patching itself is not downstream drift
        patches = []
        for ref in model.references:
            q = ref.qualname
            if not q.startswith(ROOT + "."):
                continue
            stmt = ref.stmt
            if ref.ctx == "store" and isinstance(stmt, ast.Assign) and any(t is ref.node for t in stmt.targets):
                patches.append((ref.node, q, stmt.value))
            elif ref.ctx == "load":
                call = model.parent(ref.node)
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "setattr"
                        and len(call.args) == 3 and call.args[0] is ref.node and not call.keywords
                        and isinstance(call.args[1], ast.Constant) and isinstance(call.args[1].value, str)):
                    patches.append((call, f"{q}.{call.args[1].value}", call.args[2]))
        if not patches:
            return
        from mcore_compat.api_index import load

        from ..api.target import target_releases

        idx = load()
        releases = target_releases(ctx.target, idx)
        defs = None
        for node, q, value in patches:
            kinds = self._kinds(idx, q)
            if not kinds or not kinds <= {"function", "method"}:
                continue  # never a function/method (a group variable, a new attribute): not a patch
            if defs is None:
                defs = self._defs(model)
            self._check_patch(ctx, idx, releases, node, q, value, defs)

    @staticmethod
    def _kinds(idx, q: str) -> set[str]:
        out = set()
        for rel in idx.releases:
            res = idx.resolve(rel, q)
            if res.found and res.record is not None:
                out.add(res.record["k"])
        return out

    @staticmethod
    def _defs(model) -> dict[str, list[ast.FunctionDef]]:
        out: dict[str, list] = {}
        for stmt in model.statements:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.setdefault(stmt.name, []).append(stmt)
        return out

    def _replacement(self, ctx: Context, idx, rel: str, value: ast.expr, defs) -> tuple[str, list[Param]] | None:
        """(text, parameters) of the replacement when the file or the index tells them."""
        model = ctx.model
        if isinstance(value, ast.Lambda):
            return "lambda", params_of(value.args, model.segment)
        if isinstance(value, ast.Name) and len(defs.get(value.id, ())) == 1:
            fn = defs[value.id][0]
            for d in fn.decorator_list:
                target = d.func if isinstance(d, ast.Call) else d
                name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                if name != "wraps":
                    return None  # a decorator may change the signature
            return fn.name, params_of(fn.args, model.segment)
        q = model.qualname_of(value) if isinstance(value, (ast.Name, ast.Attribute)) else None
        if q and q.startswith(ROOT + "."):
            res = idx.resolve(rel, q)
            if res.found and res.record and res.record["k"] in ("function", "method"):
                return q.rsplit(".", 1)[1], res.record["p"]
        return None

    @staticmethod
    def _restores(ctx: Context, q: str, value: ast.expr) -> bool:
        """``mod.fn = saved`` where ``saved = mod.fn`` was read from the target: a restore."""
        if not isinstance(value, ast.Name):
            return False
        for ref in ctx.model.references:
            if ref.qualname == q and ref.ctx == "load":
                parent = ctx.model.parent(ref.node)
                if isinstance(parent, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id == value.id for t in parent.targets):
                    return True
        return False

    def _check_patch(self, ctx: Context, idx, releases, node, q: str, value, defs) -> None:
        from ..api.symbols import describe_presence
        from mcore_compat.api_index import signature

        model = ctx.model
        name = q.rsplit(".", 1)[1]
        gone: list[str] = []
        drift: list[tuple[str, str, str, str]] = []
        for rel in releases:
            res = idx.resolve(rel, q)
            if res.missing:
                gone.append(rel)
                continue
            rec = res.record
            if not res.found or rec is None or rec["k"] not in ("function", "method"):
                continue
            if set(rec.get("d", ())) & _SKIP_DECORATORS:
                continue
            repl = self._replacement(ctx, idx, rel, value, defs)
            if repl is None:
                continue
            why = incompatibility(rec["p"], repl[1], rec["k"] == "method")
            if why is not None:
                repl_sig = signature({"k": "function", "p": repl[1]}, repl[0], annotations=False)
                drift.append((rel, signature(rec, name, annotations=False), repl_sig, why))
        if gone and not (model.is_guarded(node) or _probed(model.source, name) or self._restores(ctx, q, value)):
            present = idx.releases_with(q)
            text = (f"`{q}` does not exist in megatron-core {describe_presence(idx, gone)} "
                    f"(present in {describe_presence(idx, present)}): the patch replaces nothing there")
            ctx.report(node, fix=ctx.fix("Remove the patch or guard it for the releases that have the target"),
                       text=text, target=q, releases=gone)
            return
        if drift:
            rel, target_sig, repl_sig, why = drift[-1]
            rels = [d[0] for d in drift]
            text = (f"`{q}` is `{target_sig}` in megatron-core {rel}; the replacement is `{repl_sig}`: {why}"
                    + (f" (also on {describe_presence(idx, rels[:-1])})" if len(rels) > 1 else ""))
            ctx.report(node, fix=ctx.fix("Adapt the replacement to the target's signature"),
                       text=text, target=q, releases=rels)

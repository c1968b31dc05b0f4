"""MC504: uses of megatron-core's private (``_``-prefixed) names and of objects a release marks
``@internal_api`` / ``@experimental_api``.

Source: ``../shared/research/downstream-compat.md`` §3 and §5.11 -- upstream's
``scripts/check_api_backwards_compatibility.py`` (from core_v0.16.0) exempts such objects, yet
downstream code calls them (``_get_main_grad_attr``: NVIDIA/recsys-examples#200). The decorators
are read from each release as data (API index ``d`` field, generated from the PyPI wheels), never
typed: 0.16.1 marks 15 objects, 0.19.2 17 (e.g. ``DynamicInferenceEngine``,
``RotaryEmbedding.forward``).
"""

from __future__ import annotations

import ast
from functools import lru_cache

from .base import Applicability, Context, Invalid, Rule, Valid

ROOT = "megatron.core"
#: Decorators of ``megatron/core/utils.py`` that exempt an object from upstream's API check.
UNSTABLE_DECORATORS = ("internal_api", "experimental_api")


def private_prefix(qualname: str) -> str | None:
    """The shortest prefix of ``qualname`` whose last part is ``_private`` (not a dunder)."""
    parts = qualname.split(".")
    for i in range(len(ROOT.split(".")), len(parts)):
        p = parts[i]
        if p.startswith("_") and not (p.startswith("__") and p.endswith("__")):
            return ".".join(parts[: i + 1])
    return None


@lru_cache(maxsize=4096)
def unstable_prefix(qualname: str, releases: tuple[str, ...]) -> tuple[str, str, tuple[str, ...]] | None:
    """(prefix, decorator, releases) when a prefix of ``qualname`` is decorated
    ``@internal_api``/``@experimental_api`` in some of ``releases`` (the shortest such prefix)."""
    from mcore_compat.api_index import load

    idx = load()
    parts = qualname.split(".")
    for i in range(len(ROOT.split(".")) + 1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        hits: list[str] = []
        deco = ""
        for rel in releases:
            res = idx.resolve(rel, prefix)
            if not res.found or res.record is None:
                continue
            for d in res.record.get("d", ()):
                if d.rsplit(".", 1)[-1] in UNSTABLE_DECORATORS:
                    hits.append(rel)
                    deco = d.rsplit(".", 1)[-1]
        if hits:
            return prefix, deco, tuple(hits)
    return None


def is_megatron_core_source(model) -> bool:
    """The file is part of megatron-core itself (by module name, or by path when megatron is a
    namespace package without ``megatron/__init__.py``, as in the 0.16+ wheels)."""
    if model.module and (model.module == ROOT or model.module.startswith(ROOT + ".")):
        return True
    path = "/" + str(model.filename).replace("\\", "/")
    return "/megatron/core/" in path


def chain_node(node: ast.AST, strip: int) -> ast.AST | None:
    """The Attribute ``strip`` levels inside ``node`` (``a.b.c`` with strip 1 -> ``a.b``)."""
    for _ in range(strip):
        if not isinstance(node, ast.Attribute):
            return None
        node = node.value
    return node


class PrivateMegatronApi(Rule):
    """## What it does
    Reports uses of `megatron.core` names that are not public API: `_`-prefixed names
    (`_get_main_grad_attr`, `parallel_state._TENSOR_MODEL_PARALLEL_GROUP`,
    `_ParamAndGradBuffer`) and objects the target release marks `@internal_api` or
    `@experimental_api` (read from each release, e.g. `DynamicInferenceEngine`,
    `RotaryEmbedding.forward` in 0.16.1). Each name is reported where it first appears: the
    import that names it, else the attribute use. Off by default: select it with
    `--select MC504` or `extend-select = ["MC504"]` in the config.

    ## Why is this bad?
    Upstream's API compatibility check (`scripts/check_api_backwards_compatibility.py`, from
    0.16.0) exempts exactly these objects: they change or vanish in any release without a
    deprecation period. `_get_main_grad_attr(param, use_custom_fsdp=False)` became
    `(param, use_megatron_fsdp=False)` in 0.14.0 and `(param)` in 0.15.0; code that imported it
    broke on each bump.

    ## Example
    ```python
    from megatron.core.distributed.finalize_model_grads import _get_main_grad_attr

    grad = getattr(param, _get_main_grad_attr(param))
    ```
    Use instead: a public API, a copy of the few lines you need, or keep the use and pin the
    megatron-core range it was checked against (`mcore-lint supported-range`).

    ## Fix safety
    Display-only: there is no public replacement to rewrite to; the report is an inventory of
    what to re-check on every megatron-core upgrade.
    """

    code = "MC504"
    name = "private-megatron-api"
    message = "{text}"
    fix = Applicability.DISPLAY_ONLY
    releases = ">=0.5"
    default_enabled = False

    VALID = [
        Valid("""
            import megatron.core
            from megatron.core import parallel_state
            print(megatron.core.__version__)
            parallel_state.get_tensor_model_parallel_group()
        """),
        Valid("""
            from megatron.core.inference.engines.dynamic_engine import DynamicInferenceEngine
        """, target="0.13.1"),
        Valid("""
            from megatron.core import parallel_state
            def f(parallel_state):
                return parallel_state._private()
        """),
    ]
    INVALID = [
        Invalid(
            """
            from megatron.core.distributed.finalize_model_grads import _get_main_grad_attr
            grad = _get_main_grad_attr(param)
            """,
            message="`megatron.core.distributed.finalize_model_grads._get_main_grad_attr` is private to "
                    "megatron-core (`_` prefix)",
            target="0.16.1",
        ),
        Invalid(
            """
            from megatron.core import mpu
            mpu._TENSOR_MODEL_PARALLEL_GROUP = group
            if mpu._DATA_PARALLEL_GROUP is None:
                pass
            """,
            message="`megatron.core.parallel_state._TENSOR_MODEL_PARALLEL_GROUP` is private",
            count=2,
        ),
        Invalid(
            """
            from megatron.core.inference.engines import dynamic_engine
            engine = dynamic_engine.DynamicInferenceEngine(controller, context)
            """,
            message="`megatron.core.inference.engines.dynamic_engine.DynamicInferenceEngine` is marked "
                    "`@experimental_api` in megatron-core 0.16.1",
            target="0.16.1",
        ),
    ]

    def check(self, ctx: Context) -> None:
        from mcore_compat.api_index import load

        from ..api.target import target_releases

        model = ctx.model
        if is_megatron_core_source(model):
            return  # megatron-core's own code may use its own private names
        releases = tuple(target_releases(ctx.target, load()))
        reported: set[tuple[int, str]] = set()
        for b in model.imports:
            q = b.qualname
            if q is None or not q.startswith(ROOT + "."):
                continue
            if isinstance(b.stmt, ast.Import) and b.asname is None:
                q = getattr(b.node, "name", q)
            found = self._problem(q, releases)
            if found is not None and (id(b.stmt), found[0]) not in reported:
                reported.add((id(b.stmt), found[0]))  # `from megatron.core._m import a, b`: once
                ctx.report(b.node, fix=self._note(ctx), symbol=found[0], text=found[1])
        for ref in model.references:
            q = ref.qualname
            if not q.startswith(ROOT + "."):
                continue
            found = self._problem(q, releases)
            if found is None:
                continue
            bound = len((ref.binding.qualname or "").split("."))
            depth = len(found[0].split("."))
            if depth <= bound:
                continue  # the import names it: reported there
            node = chain_node(ref.node, len(q.split(".")) - depth)
            if node is not None:
                ctx.report(node, fix=self._note(ctx), symbol=found[0], text=found[1])

    @staticmethod
    def _problem(qualname: str, releases: tuple[str, ...]) -> tuple[str, str] | None:
        private = private_prefix(qualname)
        if private is not None:
            return private, (f"`{private}` is private to megatron-core (`_` prefix): upstream's API "
                             f"compatibility check exempts it, so it may change or vanish in any release")
        unstable = unstable_prefix(qualname, releases)
        if unstable is not None:
            prefix, deco, rels = unstable
            from ..api.symbols import describe_presence
            from mcore_compat.api_index import load

            return prefix, (f"`{prefix}` is marked `@{deco}` in megatron-core {describe_presence(load(), list(rels))}: "
                            f"upstream's API compatibility check exempts it, so it may change without notice")
        return None

    @staticmethod
    def _note(ctx: Context):
        return ctx.fix("Prefer a public API, or re-check this use on every megatron-core upgrade")

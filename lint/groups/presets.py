"""Which functions the group-threading codemod (MC302) rewrites: presets and name matching.

The default preset names the checkpoint and loss functions that upstream PR #2053
(NVIDIA/Megatron-LM 5f5741db) threaded by hand, plus the loss helpers every fork copies from
``megatron/training/utils.py`` and ``pretrain_gpt.py``. Users select more with qualified names or
globs (``[tool.mcore-compat] thread-groups = [...]``).
"""

from __future__ import annotations

import fnmatch
import functools
import re

#: Functions of checkpoint and loss code that should take explicit groups.
DEFAULT_PRESET: tuple[str, ...] = (
    # megatron/training/checkpointing.py (PR #2053)
    "save_checkpoint",
    "load_checkpoint",
    "get_rng_state",
    "*_build_sharded_state_dict_metadata",
    # megatron/core/utils.py (PR #2053)
    "make_tp_sharded_tensor_for_checkpoint",
    "make_sharded_tensor_for_checkpoint",
    # loss code: pretrain_gpt.py loss_func, megatron/training/utils.py
    "loss_func",
    "average_losses_across_data_parallel_group",
)

PRESETS: dict[str, tuple[str, ...]] = {"default": DEFAULT_PRESET}


def expand(selection: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Replace ``@name`` entries by the preset ``name`` (``@default``); raise on unknown presets."""
    out: list[str] = []
    for item in selection:
        if item.startswith("@"):
            name = item[1:]
            if name not in PRESETS:
                raise ValueError(f"unknown group-threading preset {item!r}; known: "
                                 + ", ".join("@" + p for p in sorted(PRESETS)))
            out.extend(PRESETS[name])
        else:
            out.append(item)
    return tuple(out)


def matches(qualname: str, patterns: tuple[str, ...], module_name: str | None = None) -> bool:
    """True when a pattern names this function.

    A pattern without a dot matches the function's own name (so ``loss_func`` also selects a
    method ``Trainer.loss_func``); a dotted one matches the qualified name inside the module
    (``Checkpointer.save``) or the full dotted name (``megatron.training.checkpointing.*``).
    """
    own_re, dotted_re = _compiled(patterns)
    if own_re is not None and own_re.match(qualname.rsplit(".", 1)[-1]):
        return True
    if dotted_re is not None and (dotted_re.match(qualname)
                                  or (module_name and dotted_re.match(f"{module_name}.{qualname}"))):
        return True
    return False


@functools.lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern | None, re.Pattern | None]:
    """One regex for the dotless patterns, one for the dotted ones (``fnmatch.fnmatchcase``
    semantics: each is ``fnmatch.translate``d): asked for every function of every file."""
    own = [fnmatch.translate(p) for p in patterns if "." not in p]
    dotted = [fnmatch.translate(p) for p in patterns if "." in p]
    return (re.compile("|".join(f"(?:{p})" for p in own)) if own else None,
            re.compile("|".join(f"(?:{p})" for p in dotted)) if dotted else None)

"""Messages of MC102/MC103/MC104, built from a :class:`~.symbols.SymbolProblem`.

One place so the three rules word the same facts the same way: which target releases lack
the name, where it exists instead, and what to use.
"""

from __future__ import annotations

from mcore_compat.api_index import load

from .symbols import SymbolProblem, describe_presence
from .target import describe


def where(problem: SymbolProblem) -> str:
    return f"megatron-core {describe(problem.missing_in)}"


def unknown(problem: SymbolProblem) -> str:
    idx = load()
    msg = f"`{problem.qualname}` does not exist in {where(problem)}"
    if problem.present_in:
        msg += f"; it exists in {describe_presence(idx, problem.present_in)}"
    if problem.moved_to:
        msg += f"; it is defined in `{problem.moved_to.rsplit('.', 1)[0]}` (`{problem.moved_to}`)"
    elif problem.close:
        msg += "; did you mean " + " or ".join(f"`{c}`" for c in problem.close) + "?"
    elif not problem.present_in:
        msg += f"; no indexed release ({idx.releases[0]}-{idx.newest}) has it"
    return msg


def removed(problem: SymbolProblem) -> str:
    idx = load()
    present = problem.present_in
    before = [r for r in present if idx.releases.index(r) < idx.releases.index(problem.missing_in[0])]
    last = before[-1] if before else (present[-1] if present else "?")
    gone = idx.releases[idx.releases.index(last) + 1] if last in idx.releases and last != idx.newest else "?"
    msg = f"`{problem.qualname}` was removed in megatron-core {gone} (last in {last}); " \
          f"missing in {describe(problem.missing_in)}"
    if problem.moved_to:
        msg += f"; use `{problem.replacement}`"
    elif problem.shim:
        msg += f"; use `{problem.shim}`, which works on every release"
    if problem.meaning:
        msg += f" (now: {problem.meaning})"
    return msg


def renamed(problem: SymbolProblem) -> str:
    fact = problem.fact
    assert fact is not None
    msg = f"`{problem.fix_prefix}` was renamed to `{problem.fix_target}` in megatron-core " \
          f"{fact.release}; missing in {describe(problem.missing_in)}"
    if fact.note:
        msg += f" ({fact.note})"
    return msg

"""Which indexed releases the signature rules check, and how releases are written in messages.

MC201/MC202 check the target the same way the symbol rules (MC102-MC104) do:
:func:`mcore_lint.api.target.target_releases` (the target version, else the releases of the
supported span, else the newest indexed release). MC203/MC204 compare releases, so they need
the whole supported span: :func:`span_releases` adds the span's releases to the target version.
Its first release is the one the code was written for: ``--from-version`` when given, else
the low end of the span.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from mcore_compat.api_index import ApiIndex

    from ..target import Target


#: (kind, index, target) -> releases. The answer is the same for every file of a run, and
#: matching the span's SpecifierSet against every indexed release per rule per file cost
#: ~1.8 s (profiled) over the benchmark corpus (issue 11).
_MEMO: dict[tuple, tuple[str, ...]] = {}


def _memo(kind: str, target: "Target | None", idx: "ApiIndex", compute) -> list[str]:
    key = (kind, idx, target)
    try:
        hit = _MEMO.get(key)
    except TypeError:  # an unhashable target-like object: answer without the memo
        return list(compute(target, idx))
    if hit is None:
        if len(_MEMO) > 256:  # targets come from options/config: few per process, stay bounded
            _MEMO.clear()
        hit = _MEMO[key] = tuple(compute(target, idx))
    return list(hit)  # a fresh list: callers own their copy


def checked_releases(target: "Target | None", idx: "ApiIndex") -> list[str]:
    """The releases a call must bind in (MC201, MC202); never empty."""
    return _memo("checked", target, idx, _checked)


def _checked(target: "Target | None", idx: "ApiIndex") -> list[str]:
    from ..api.target import target_releases

    return list(target_releases(target, idx))


def span_releases(target: "Target | None", idx: "ApiIndex") -> list[str]:
    """Every indexed release the project supports, oldest first (MC203, MC204): see
    :func:`_span` (memoised per target and index)."""
    return _memo("span", target, idx, _span)


def _span(target: "Target | None", idx: "ApiIndex") -> list[str]:
    """Every indexed release the project supports, oldest first (MC203, MC204): the releases
    inside the supported span plus the target version; one release when there is no span.
    With ``target.from_version`` (the release the code was written for) that release (its
    nearest indexed one) comes first and the others follow, oldest first."""
    got = set(checked_releases(target, idx))
    if target is not None and str(target.span):
        got |= set(idx.releases_matching(str(target.span)))
    order = {r: i for i, r in enumerate(idx.releases)}
    ordered = sorted(got, key=order.__getitem__)
    if target is None or target.from_version is None:
        return ordered
    from ..api.target import target_releases
    from ..target import Target

    base = target_releases(Target(version=target.from_version), idx)[0]
    return [base] + [r for r in ordered if r != base]


def describe(releases: Iterable[str], idx: "ApiIndex") -> str:
    """Releases as runs over the index: ``0.13.0-0.14.0, 0.19.2`` (``no release`` when empty)."""
    order = {r: i for i, r in enumerate(idx.releases)}
    runs: list[list[str]] = []
    for r in sorted(set(releases), key=order.__getitem__):
        if runs and order[r] == order[runs[-1][-1]] + 1:
            runs[-1].append(r)
        else:
            runs.append([r])
    if not runs:
        return "no release"
    return ", ".join(run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)

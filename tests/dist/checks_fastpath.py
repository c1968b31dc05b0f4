"""Fast-path checks (issue 11), run on every rank of every layout by the shared harness.

The harness re-initialises megatron with other sizes for each layout in the same processes, so
these catch a fast path or cache that keeps answering from an earlier layout: the bare getters
must be upstream's current answers (groups by identity) without the full path, and
``resolve_groups`` must hand back this layout's groups and still refuse a group without the
calling rank after accepting others. Cheap on purpose: a few dozen calls per layout.
"""

from __future__ import annotations

from typing import Any

from tests.dist.harness import Context

#: Bare getters compared with upstream (names every release 0.9.0+ has) and the layout size
#: each world-size getter must report.
_SIZES = {"get_tensor_model_parallel_world_size": "tp",
          "get_pipeline_model_parallel_world_size": "pp",
          "get_context_parallel_world_size": "cp",
          "get_expert_model_parallel_world_size": "ep",
          "get_data_parallel_world_size": "dp"}
_OTHERS = ("get_tensor_model_parallel_rank", "get_pipeline_model_parallel_rank",
           "get_data_parallel_rank", "get_pipeline_model_parallel_first_rank",
           "get_pipeline_model_parallel_last_rank", "get_tensor_model_parallel_group",
           "get_pipeline_model_parallel_group", "get_data_parallel_group",
           "get_context_parallel_group")
_LOW2: list[Any] = []  # dist.new_group([0, 1]), made once on every rank (same order)


def check_bare_getters_follow_each_layout(ctx: Context) -> None:
    """Bare getters answer upstream's current value (the same group objects), on the fast
    path, with this layout's sizes; with_context_parallel=True too."""
    from mcore_compat import parallel_state as shim

    full: list[str] = []
    answer = shim.answer

    def counting(name: str, *args: Any, **kwargs: Any) -> Any:
        full.append(name)
        return answer(name, *args, **kwargs)

    shim.get_tensor_model_parallel_rank()  # the first full-path call of a process binds
    shim.answer = counting
    try:
        for name, axis in _SIZES.items():
            got = getattr(shim, name)()
            ctx.expect_equal(got, getattr(ctx.layout, axis), f"{name}() on {ctx.layout.name}")
            ctx.expect_equal(got, getattr(ctx.ps, name)(), f"{name}() vs upstream")
        for name in _OTHERS:
            got, want = getattr(shim, name)(), getattr(ctx.ps, name)()
            ctx.expect(got is want if name.endswith("_group") else got == want,
                       f"{name}(): got {got!r}, upstream {want!r}")
        got = shim.get_data_parallel_group(True)
        ctx.expect(got is ctx.ps.get_data_parallel_group(with_context_parallel=True),
                   "get_data_parallel_group(True) is not upstream's DP x CP group")
        ctx.expect_equal(shim.get_data_parallel_world_size(True), ctx.layout.dp * ctx.layout.cp,
                         "get_data_parallel_world_size(True)")
    finally:
        shim.answer = answer
    ctx.expect_equal(full, [], "getters that took the full path with megatron initialised")


def check_resolve_groups_cache_follows_each_layout(ctx: Context) -> None:
    """resolve_groups(**this layout's groups) returns exactly them (accepted from the cache
    after the first call); a group without the calling rank still raises ValueError naming
    the rank after the other groups were accepted."""
    from mcore_compat import resolve_groups

    ps, dist = ctx.ps, ctx.dist
    if not _LOW2:
        _LOW2.append(dist.new_group([0, 1]))  # NON_GROUP_MEMBER on ranks 2..7
    given = {"tp_group": ps.get_tensor_model_parallel_group(),
             "pp_group": ps.get_pipeline_model_parallel_group(),
             "cp_group": ps.get_context_parallel_group(),
             "dp_group": ps.get_data_parallel_group(),
             "dp_cp_group": ps.get_data_parallel_group(with_context_parallel=True)}
    for _ in range(2):  # checked, then from the cache
        g = resolve_groups(**given)
        for kw, group in given.items():
            ctx.expect(getattr(g, kw.removesuffix("_group")) is group,
                       f"resolve_groups().{kw} is not the {ctx.layout.name} group")
        ctx.expect_equal(g.size("tp"), ctx.layout.tp, "resolved tp size")
        ctx.expect_equal(g.size("dp"), ctx.layout.dp, "resolved dp size")
    try:
        got = resolve_groups(**dict(given, ep_group=_LOW2[0]))
        ctx.expect(ctx.rank < 2 and got.ep is _LOW2[0],
                   f"rank {ctx.rank}: no ValueError for the group of ranks [0, 1]")
    except ValueError as exc:
        ctx.expect(ctx.rank >= 2 and f"calling rank {ctx.rank}" in str(exc)
                   and "expert-model-parallel" in str(exc),
                   f"rank {ctx.rank}: ValueError does not name the rank and group: {exc}")

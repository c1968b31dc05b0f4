"""``mcore-compat layout``: print (or draw) which rank is what for given parallel sizes.

Output goes to stdout (or ``--output FILE``, written atomically so a failed run never leaves a
half-written file). Bad sizes exit 2 with the message of ``LayoutError``, which names the
numbers and the rule broken.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import click

from mcore_compat.layout.errors import LayoutError
from mcore_compat.layout.model import RankLayout
from mcore_compat.layout.orders import DEFAULT_ORDER


def _write_atomic(path: Path, text: str) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise click.UsageError(f"cannot write {path}: folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a normal file is readable
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@click.command("layout")
@click.option("--world-size", "-n", type=int, required=True, help="Number of ranks (processes).")
@click.option("--tp", type=int, default=1, show_default=True, help="Tensor-parallel size.")
@click.option("--pp", type=int, default=1, show_default=True, help="Pipeline-parallel size.")
@click.option("--cp", type=int, default=1, show_default=True, help="Context-parallel size.")
@click.option("--ep", type=int, default=1, show_default=True, help="Expert-parallel size.")
@click.option("--etp", type=int, default=None, help="Expert tensor-parallel size [default: tp].")
@click.option("--vpp", type=int, default=None, help="Virtual pipeline stages per rank (interleaved).")
@click.option("--order", default=DEFAULT_ORDER, show_default=True,
              help="megatron's rank order, first axis fastest (e.g. tp-cp-ep-pp-dp).")
@click.option("--nproc-per-node", type=int, default=None,
              help="Processes per node (torchrun --nproc_per_node): adds node and local rank.")
@click.option("--rank", "-r", type=int, default=None, help="Show only this rank (and its groups).")
@click.option("--last-stage", is_flag=True,
              help="Count the last pipeline stage as loading data too (labels in GPT training).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "svg"]), default="table",
              show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of stdout.")
def layout_command(
    world_size: int, tp: int, pp: int, cp: int, ep: int, etp: int | None, vpp: int | None,
    order: str, nproc_per_node: int | None, rank: int | None, last_stage: bool, fmt: str,
    output: Path | None,
) -> None:
    """Which rank is what under megatron's layout, and which ranks load data.

    Same answers as megatron-core's RankGenerator, without GPUs or torch.
    """
    try:
        layout = RankLayout(world_size, tp=tp, pp=pp, cp=cp, ep=ep, etp=etp, vpp=vpp,
                            order=order, nproc_per_node=nproc_per_node)
        if rank is not None:
            layout.check_rank(rank)
    except LayoutError as exc:
        raise click.UsageError(str(exc)) from None
    if fmt == "json":
        from mcore_compat.layout.describe import to_data

        text = json.dumps(to_data(layout, rank=rank, last_stage=last_stage), indent=1) + "\n"
    elif fmt == "svg":
        from mcore_compat.layout.draw import to_svg

        text = to_svg(layout, rank=rank, last_stage=last_stage)
    else:
        from mcore_compat.layout import table

        if output is None and sys.stdout.isatty():
            text = table.render_rich(layout, rank=rank, last_stage=last_stage, force_terminal=True)
        else:
            text = table.render_plain(layout, rank=rank, last_stage=last_stage)
    if output is None:
        sys.stdout.write(text)
    else:
        _write_atomic(output, text)
        click.echo(f"wrote {output} ({fmt}, {layout.world_size} ranks)", err=True)

"""``mcore-lint supported-range PATHS``: the megatron-core releases the code works with.

The analysis is :mod:`mcore_lint.calls.supported_range`, the output
:mod:`mcore_lint.calls.range_report`; this module only wires them to the command line.
Exit codes: 0 report written; 2 bad option or path, or a file that could not be analysed
(the others are still reported).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("supported-range", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True,
              help="Report format.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the report to this file instead of stdout.")
def command(paths: tuple[Path, ...], fmt: str, output: Path | None) -> None:
    """For each file and the whole tree under PATHS (default '.'): the range of megatron-core
    releases in which every megatron.core use resolves and every call matches its signature,
    the uses that break in the first release outside the range on each side, and a
    `megatron-core>=A,<B` pin."""
    from ..calls import index
    from ..calls.range_report import render
    from ..calls.supported_range import analyze
    from ..files import FileError
    from ..settings import ConfigError

    targets = list(paths) or [Path(".")]
    for p in targets:
        if not p.exists():
            click.echo(f"mcore-lint supported-range: error: {p}: no such file or directory", err=True)
            sys.exit(2)
    try:
        idx = index()
        report = analyze(targets, idx)
    except (ConfigError, FileError, ValueError) as e:
        click.echo(f"mcore-lint supported-range: error: {e}", err=True)
        sys.exit(2)
    text = render(report, fmt, idx)
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as e:
            click.echo(f"mcore-lint supported-range: error: cannot write {output}: {e.strerror or e}", err=True)
            sys.exit(2)
    else:
        sys.stdout.write(text)
    for name, reason in report.problems:
        click.echo(f"mcore-lint supported-range: error: {name}: {reason}", err=True)
    sys.exit(2 if report.problems else 0)

"""The ``mcore-lint api`` command group: ``diff A B`` and ``show QUALNAME``.

Errors (unknown release, unknown module or symbol) exit with status 2 and a message naming
the value and the indexed releases; output goes to stdout (``--output`` writes a file).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mcore_compat.api_index import ApiIndexError, load

from . import render
from .diff import diff_releases
from .show import show_symbol


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc}") from None
    click.echo(f"wrote {output}", err=True)


def _fail(exc: Exception) -> None:
    click.echo(f"mcore-lint api: error: {exc}", err=True)
    sys.exit(2)


_CTX = {"help_option_names": ["-h", "--help"]}


@click.group("api", help="Query the API index of every megatron-core release.", context_settings=_CTX)
def api() -> None:
    pass


@api.command("diff", context_settings=_CTX)
@click.argument("old")
@click.argument("new")
@click.option("--module", "module", default=None, metavar="M",
              help="Only this module and its contents, e.g. megatron.core.parallel_state.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text",
              show_default=True)
@click.option("--private", is_flag=True, help="Include _private names.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of stdout.")
def diff_cmd(old: str, new: str, module: str | None, fmt: str, private: bool,
             output: Path | None) -> None:
    """What was added, removed, renamed, moved and changed signature from OLD to NEW."""
    try:
        d = diff_releases(load(), old, new, module=module, private=private)
    except ApiIndexError as exc:
        _fail(exc)
    text = {"text": render.diff_text, "json": render.diff_json, "html": render.diff_html}[fmt](d)
    _emit(text, output)


@api.command("show", context_settings=_CTX)
@click.argument("qualname")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def show_cmd(qualname: str, fmt: str) -> None:
    """QUALNAME's signature in every release, grouped into runs where it did not change."""
    try:
        h = show_symbol(load(), qualname)
    except ApiIndexError as exc:
        _fail(exc)
    click.echo({"text": render.show_text, "json": render.show_json}[fmt](h), nl=False)


def main(argv: list[str] | None = None) -> None:
    """Stand-alone entry (``python -m mcore_lint.api.command diff 0.12.0 0.16.1``)."""
    api.main(args=argv, prog_name="mcore-lint api")


if __name__ == "__main__":  # pragma: no cover
    main()

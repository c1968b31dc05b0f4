"""`mcore-compat`: the umbrella command (``--version``; ``layout``)."""

from __future__ import annotations

import click

from mcore_compat import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mcore-compat")
def main() -> None:
    """mcore-compat: keep Megatron-Core training code correct across releases."""


def _add_layout_command() -> None:
    """`mcore-compat layout` (issue 5); pure Python, imports no torch."""
    from mcore_compat.layout.command import layout_command

    main.add_command(layout_command)


_add_layout_command()

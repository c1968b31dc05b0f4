"""`mcore-compat`: the umbrella command (``--version``; ``layout``)."""

from __future__ import annotations

import click

from mcore_compat import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mcore-compat")
def main() -> None:
    """mcore-compat: keep Megatron-Core training code correct across releases."""

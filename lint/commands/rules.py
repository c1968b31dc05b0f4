"""``mcore-lint rules``: list every rule (code, name, fix safety, releases, default on/off).

Every rule is listed, including the ones off by default (MC302, MC504, ...): a user looking
for a rule to enable must be able to find it here. ``--all`` is accepted for older scripts.
"""

from __future__ import annotations

import json
import sys

import click


@click.command("rules", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--all", "show_all", is_flag=True, hidden=True, help="No effect: every rule is listed.")
def command(output_format: str, show_all: bool) -> None:
    """List every rule: whether it runs by default (off-by-default rules run when selected,
    e.g. --extend-select MC302), its fix safety and the megatron-core releases it applies to."""
    from ..rules.registry import RuleError, all_rules

    try:
        rows = list(all_rules())
    except RuleError as e:
        click.echo(f"mcore-lint: error: {e}", err=True)
        sys.exit(2)
    if output_format == "json":
        click.echo(json.dumps([{
            "code": r.code, "name": r.name, "summary": r.summary(), "fix": r.fix.value if r.fix else None,
            "releases": r.releases or "any", "default_enabled": r.default_enabled, "url": r.url(),
        } for r in rows], indent=2))
        return
    table = [(r.code, r.name, r.fix.value if r.fix else "-", r.releases or "any",
              "on" if r.default_enabled else "off", r.summary()) for r in rows]
    head = ("code", "name", "fix", "releases", "default", "summary")
    widths = [max(len(row[i]) for row in [head, *table]) for i in range(5)]
    for row in [head, *table]:
        click.echo("  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths)) + "  " + row[5])

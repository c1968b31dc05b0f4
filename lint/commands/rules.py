"""``mcore-lint rules``: list every rule (code, name, fix, releases, default state)."""

from __future__ import annotations

import json
import sys

import click


@click.command("rules", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--all", "show_all", is_flag=True, help="Also list rules that are off by default (they are marked).")
def command(output_format: str, show_all: bool) -> None:
    """List the rules."""
    from ..rules.registry import RuleError, all_rules

    try:
        rules = all_rules()
    except RuleError as e:
        click.echo(f"mcore-lint: error: {e}", err=True)
        sys.exit(2)
    rows = [r for r in rules if show_all or r.default_enabled]
    if output_format == "json":
        click.echo(json.dumps([{
            "code": r.code, "name": r.name, "summary": r.summary(), "fix": r.fix.value if r.fix else None,
            "releases": r.releases or "any", "default_enabled": r.default_enabled, "url": r.url(),
        } for r in rows], indent=2))
        return
    w_code = max((len(r.code) for r in rows), default=4)
    w_name = max((len(r.name) for r in rows), default=4)
    click.echo(f"{'code':<{w_code}}  {'name':<{w_name}}  {'fix':<12}  {'releases':<10}  summary")
    for r in rows:
        fix = r.fix.value if r.fix else "-"
        name = r.name + ("" if r.default_enabled else " (off)")
        click.echo(f"{r.code:<{w_code}}  {name:<{w_name}}  {fix:<12}  {r.releases or 'any':<10}  {r.summary()}")

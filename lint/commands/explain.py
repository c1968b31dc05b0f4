"""``mcore-lint explain MC101``: a rule's documentation (What it does / Why / Example / Fix
safety) and its examples, from the rule's own metadata."""

from __future__ import annotations

import sys

import click


def explain_text(rule) -> str:
    from ..rules.base import example_code

    docs = rule.docs()
    lines = [f"# {rule.name} ({rule.code})", ""]
    fix = {"safe": "Fix is always available (safe).", "unsafe": "Fix is available with `--unsafe-fixes` (unsafe).",
           "display-only": "A suggested fix is shown, never applied."}.get(rule.fix.value if rule.fix else "",
                                                                             "No automatic fix.")
    lines += [f"Applies to megatron-core {rule.releases or 'any release'}. {fix}"
              + ("" if rule.default_enabled else " Off by default."), ""]
    for heading, body in docs.items():
        lines += [f"## {heading}", body, ""]
    if rule.INVALID:
        ex = rule.INVALID[0]
        lines += ["## Flagged (from the rule's tests)", "```python", example_code(ex.code).rstrip("\n"), "```", ""]
        if ex.fixed is not None:
            lines += ["After `mcore-fix`" + (" --unsafe-fixes" if ex.unsafe else "") + ":", "```python",
                      example_code(ex.fixed).rstrip("\n"), "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


@click.command("explain", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("code")
def command(code: str) -> None:
    """Print the documentation of rule CODE (a code such as MC101 or a name)."""
    from ..rules.registry import RuleError, rule_by_code

    try:
        rule = rule_by_code(code)
    except RuleError as e:
        click.echo(f"mcore-lint: error: {e}", err=True)
        sys.exit(2)
    click.echo(explain_text(rule), nl=False)

"""Generate the README's `rules` section from the rules' own metadata (table + each rule's
What it does / Why is this bad? / Example / Fix safety), so every rule lands there.

    .venv/bin/python -m tools.gen_rule_docs          # rewrite README.md's rules section
    .venv/bin/python -m tools.gen_rule_docs --check  # exit 1 if README.md is out of date

The section is everything between ``<!-- section: rules -->`` and the next
``<!-- section: ...`` marker; the markers stay.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKER = "<!-- section: rules -->"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render() -> str:
    from mcore_lint.rules.registry import all_rules

    rules = all_rules()
    out = ["## Rules", "",
           "Generated from the rule modules by `tools/gen_rule_docs.py` (run it after adding a rule). "
           "`mcore-lint rules` lists them; `mcore-lint explain CODE` prints one. "
           "Fix: `safe` is applied by `mcore-fix`, `unsafe` needs `--unsafe-fixes`, `display-only` is never applied.",
           "", "| code | name | fix | megatron-core | default | what it does |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rules:
        out.append(f"| [{r.code}](#{r.code.lower()}-{r.name}) | `{r.name}` | {r.fix.value if r.fix else '-'} | "
                   f"{_cell(r.releases or 'any')} | {'on' if r.default_enabled else 'off'} | {_cell(r.summary())} |")
    for r in rules:
        out += ["", f"### {r.code} {r.name}", ""]
        for heading, body in r.docs().items():
            out += [f"**{heading}**", "", body.strip(), ""]
        out.pop()
    return "\n".join(out) + "\n"


def updated(readme: str, section: str) -> str:
    if MARKER not in readme:
        raise SystemExit(f"{README}: marker {MARKER!r} not found")
    head, rest = readme.split(MARKER, 1)
    m = re.search(r"^<!-- section: ", rest, flags=re.M)
    tail = rest[m.start():] if m else ""
    return f"{head}{MARKER}\n\n{section}\n{tail}"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    text = README.read_text(encoding="utf-8")
    new = updated(text, render())
    if "--check" in argv:
        if new != text:
            print("README.md rules section is out of date: run `.venv/bin/python -m tools.gen_rule_docs`", file=sys.stderr)
            return 1
        return 0
    if new != text:
        README.write_text(new, encoding="utf-8")
        print(f"updated {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

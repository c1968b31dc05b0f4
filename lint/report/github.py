"""GitHub Actions workflow commands: one ``::error`` annotation per finding."""

from __future__ import annotations

from typing import Sequence

from ..findings import Finding


def _data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(s: str) -> str:
    return _data(s).replace(":", "%3A").replace(",", "%2C")


def render(findings: Sequence[Finding]) -> str:
    out = []
    for f in findings:
        props = (f"title={_prop(f'mcore-lint ({f.code})')},file={_prop(f.filename)},line={f.location.row},"
                 f"col={f.location.column},endLine={f.end_location.row},endColumn={f.end_location.column}")
        out.append(f"::error {props}::{_data(f'{f.filename}:{f.location.row}:{f.location.column}: {f.code} {f.message}')}")
    return "\n".join(out) + ("\n" if out else "")

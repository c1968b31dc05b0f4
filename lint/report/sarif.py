"""SARIF 2.1.0 (the OASIS static-analysis format GitHub code scanning reads).

The run's rules go in ``tool.driver.rules`` (id, name, descriptions, help, helpUri); each
result points at its rule by ``ruleId``/``ruleIndex``; fixes become SARIF ``fixes`` with
``artifactChanges``; files that could not be processed become tool execution notifications
and make ``executionSuccessful`` false. The target (``megatron-core 0.16.1 (from ...)``) is
``runs[0].properties.megatronCoreTarget``.
"""

from __future__ import annotations

import json
from typing import Sequence

from ..findings import FileProblem, Finding

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/mcore-compat/mcore-compat"


def _uri(filename: str) -> str:
    from urllib.parse import quote

    return quote(filename.replace("\\", "/"), safe="/:._-~")


def _region(f_start, f_end) -> dict:
    return {"startLine": f_start.row, "startColumn": f_start.column, "endLine": f_end.row, "endColumn": f_end.column}


def _rule(r) -> dict:
    docs = r.docs()
    body = "\n\n".join(f"## {k}\n{v}" for k, v in docs.items())
    return {
        "id": r.code,
        "name": r.name,
        "shortDescription": {"text": r.summary() or r.name},
        "fullDescription": {"text": docs.get("What it does", r.summary())},
        "help": {"text": body, "markdown": body},
        "helpUri": r.url(),
        "properties": {"fix": r.fix.value if r.fix else None, "megatron-core": r.releases or "any"},
    }


def render(findings: Sequence[Finding], rules: Sequence[type], problems: Sequence[FileProblem] = (),
           target: str | None = None) -> str:
    from .. import __version__

    rule_list = list(rules)
    known = {r.code for r in rule_list}
    if any(f.code not in known for f in findings):
        from ..rules.registry import rule_by_code

        for code in sorted({f.code for f in findings} - known):
            rule_list.append(rule_by_code(code))
    index = {r.code: i for i, r in enumerate(rule_list)}
    results = []
    for f in findings:
        res = {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": "error",
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(f.filename)},
                                                "region": _region(f.location, f.end_location)}}],
        }
        if f.fix is not None and f.fix.edits:
            res["fixes"] = [{
                "description": {"text": f"{f.fix.message} ({f.fix.applicability.value})"},
                "artifactChanges": [{
                    "artifactLocation": {"uri": _uri(f.filename)},
                    "replacements": [{"deletedRegion": _region(e.location, e.end_location),
                                      "insertedContent": {"text": e.content}} for e in f.fix.edits],
                }],
            }]
        results.append(res)
    invocation = {
        "executionSuccessful": not problems,
        "toolExecutionNotifications": [
            {"level": "error", "message": {"text": p.reason},
             "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(p.filename)}}}]}
            for p in problems
        ],
    }
    doc = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "mcore-lint", "version": __version__, "semanticVersion": __version__.split(".dev")[0],
                                "informationUri": INFO_URI, "rules": [_rule(r) for r in rule_list]}},
            "invocations": [invocation],
            "results": results,
        }],
    }
    if target:  # the megatron-core release(s) checked against and where that came from
        doc["runs"][0]["properties"] = {"megatronCoreTarget": target}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

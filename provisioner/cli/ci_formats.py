"""Findings as CI systems read them: SARIF 2.1.0, JUnit XML, GitHub workflow commands, GitLab Code Quality."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree

from provisioner import __version__
from provisioner.cli.findings import Finding
from provisioner.problem_codes import summary_of

TOOL = "microsip-provisioner"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def render(kind: str, findings: list[Finding], *, base: Path, command: str, cases: list[str]) -> str:
    """The document of one format: ``cases`` are JUnit's test cases besides those the findings name."""
    makers: dict[str, Callable[[], str]] = {
        "sarif": lambda: sarif(findings, base),
        "junit": lambda: junit(findings, command, cases),
        "github": lambda: github(findings),
        "gitlab": lambda: gitlab(findings),
    }
    return makers[kind]()


def sarif(findings: list[Finding], base: Path) -> str:
    """One SARIF 2.1.0 run: a rule per code used, a result per finding, paths relative to ``base``."""
    codes = list(dict.fromkeys(f.code for f in findings))
    rules = [{"id": code, "shortDescription": {"text": summary_of(code)}} for code in codes]
    run = {
        "tool": {"driver": {"name": TOOL, "version": __version__, "rules": rules}},
        "originalUriBaseIds": {"SRCROOT": {"uri": base.as_uri().rstrip("/") + "/"}},
        "results": [_sarif_result(f, codes.index(f.code)) for f in findings],
    }
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2, ensure_ascii=False)


def _sarif_result(finding: Finding, rule: int) -> dict[str, object]:
    result: dict[str, object] = {
        "ruleId": finding.code,
        "ruleIndex": rule,
        "level": finding.level,
        "message": {"text": finding.message},
    }
    if finding.file:
        artifact: dict[str, str] = (
            {"uri": Path(finding.file).as_uri()}
            if finding.file.startswith("/")
            else {"uri": quote(finding.file), "uriBaseId": "SRCROOT"}
        )
        physical: dict[str, object] = {"artifactLocation": artifact}
        if finding.line:
            physical["region"] = {"startLine": finding.line, **({"startColumn": finding.col} if finding.col else {})}
        result["locations"] = [{"physicalLocation": physical}]
    if finding.path:
        result["properties"] = {"path": finding.path}
    return result


def junit(findings: list[Finding], command: str, cases: list[str]) -> str:
    """One test suite: a test case per seat (or file), a failure per error, warnings and notes as output."""
    names = list(dict.fromkeys([*cases, *(f.case for f in findings)]))
    failures = sum(1 for name in names if any(f.case == name and f.level == "error" for f in findings))
    suite = ElementTree.Element(
        "testsuite", name=f"{TOOL} {command}", tests=str(len(names)), failures=str(failures), errors="0"
    )
    for name in names:
        _junit_case(suite, name, [f for f in findings if f.case == name], command)
    ElementTree.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suite, encoding="unicode")


def _junit_case(suite: ElementTree.Element, name: str, found: list[Finding], command: str) -> None:
    case = ElementTree.SubElement(suite, "testcase", classname=f"{TOOL}.{command}", name=name)
    errors = [f for f in found if f.level == "error"]
    if errors:
        failure = ElementTree.SubElement(case, "failure", type=errors[0].code, message=errors[0].message)
        failure.text = "\n".join(_line(f) for f in errors)
    others = [f for f in found if f.level != "error"]
    if others:
        ElementTree.SubElement(case, "system-out").text = "\n".join(_line(f) for f in others)


def _line(finding: Finding) -> str:
    where = finding.file + (f":{finding.line}:{finding.col}" if finding.line else "")
    path = f"{finding.path}: " if finding.path else ""
    return f"{where}: [{finding.code}] {path}{finding.message}" if where else f"[{finding.code}] {finding.message}"


#: GitHub's word for each level.
_GITHUB = {"error": "error", "warning": "warning", "note": "notice"}


def github(findings: list[Finding]) -> str:
    """A workflow command per finding (``::error file=...,line=...,col=...,title=...::message``)."""
    lines = []
    for finding in findings:
        properties = [("file", finding.file)] if finding.file else []
        if finding.file and finding.line:
            properties += [("line", str(finding.line))] + ([("col", str(finding.col))] if finding.col else [])
        properties.append(("title", finding.code))
        shown = ",".join(f"{key}={_escaped(value, True)}" for key, value in properties)
        path = f"{finding.path}: " if finding.path else ""
        lines.append(f"::{_GITHUB[finding.level]} {shown}::{_escaped(path + finding.message, False)}")
    return "\n".join(lines)


def _escaped(text: str, is_property: bool) -> str:
    """Text a workflow command carries whole: ``%``, line breaks and, in a property, ``:`` and ``,`` encoded."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if is_property else text


#: GitLab's severity for each level.
_GITLAB = {"error": "major", "warning": "minor", "note": "info"}


def gitlab(findings: list[Finding]) -> str:
    """A GitLab Code Quality report: one issue per finding, with a fingerprint that stays the same across runs."""
    issues = [
        {
            "description": f"{finding.path}: {finding.message}" if finding.path else finding.message,
            "check_name": finding.code,
            "fingerprint": fingerprint(finding),
            "severity": _GITLAB[finding.level],
            "location": {"path": finding.file, "lines": {"begin": max(finding.line, 1)}},
        }
        for finding in findings
    ]
    return json.dumps(issues, indent=2, ensure_ascii=False)


def fingerprint(finding: Finding) -> str:
    """What identifies a finding from one run to the next: its code, file, logical path and message (no line,
    so that an edit above it does not make it new)."""
    text = "\x00".join((finding.code, finding.file, finding.path, finding.message))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

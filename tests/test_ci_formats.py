"""validate, plan and verify in the formats CI systems read (issue 25, points 2 and 3).

SARIF is checked against the SARIF 2.1.0 schema (tests/fixtures/sarif-schema-2.1.0.json,
from oasis-tcs/sarif-spec ``sarif-2.1/schema``), JUnit is parsed as XML, GitHub's
workflow commands are compared line by line, GitLab's fingerprints across two runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import jsonschema
import pytest

from tests.conftest import RunCli

SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))

BAD = (
    "version: 1\nname: t\nseats:\n"
    "  - id: s\n    accounts: [{domain: d, transport: tsl}]\n"
    "  - id: u\n    acounts: [{domain: d}]\n    accounts: [{domain: d}]\n"
)
PORTABLE = (
    "version: 1\nname: t\nseats:\n"
    "  - id: desk\n    target: {type: portable, path: usb}\n    install: {mode: portable}\n"
    "    settings: {autoAnswer: button}\n    accounts: [{domain: d, username: u, password: {env: PW}}]\n"
    "  - id: quiet\n    target: {type: portable, path: usb2}\n    install: {mode: portable}\n"
    "    accounts: [{domain: d, username: v, password: hunter2}]\n"
)
ENV = {"PW": "s3cret"}


def sarif_of(result: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(result.stdout)
    jsonschema.Draft4Validator(SCHEMA).validate(document)
    return document


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fleet.yaml").write_text(text, encoding="utf-8")
    return folder / "fleet.yaml"


def test_validate_sarif_holds_a_rule_per_code_and_a_located_result(tmp_path: Path, run_cli: RunCli) -> None:
    write(tmp_path, BAD)
    result = run_cli("validate", "fleet.yaml", "--format", "sarif", "--base-dir", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == ""
    run = sarif_of(result)["runs"][0]
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == ["not-one-of", "unknown-key"]
    assert run["originalUriBaseIds"] == {"SRCROOT": {"uri": tmp_path.resolve().as_uri() + "/"}}
    first = run["results"][0]
    assert first["ruleId"] == "not-one-of" and first["ruleIndex"] == 0 and first["level"] == "error"
    assert first["message"]["text"] == "'tsl' is not one of udp, tcp, tls, \"\" (did you mean 'tls'?)"
    assert first["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "fleet.yaml", "uriBaseId": "SRCROOT"},
                "region": {"startLine": 5, "startColumn": 39},
            }
        }
    ]
    assert [(r["ruleId"], r["ruleIndex"]) for r in run["results"]] == [("not-one-of", 0), ("unknown-key", 1)]


def test_the_schema_fixture_refuses_a_broken_report(tmp_path: Path, run_cli: RunCli) -> None:
    write(tmp_path, BAD)
    document = sarif_of(run_cli("validate", "fleet.yaml", "--format", "sarif"))
    document["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(document)
    del document["version"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(document)


def test_a_clean_fleet_gives_an_empty_sarif_run_and_a_passing_junit_case_per_seat(
    tmp_path: Path, run_cli: RunCli
) -> None:
    write(
        tmp_path,
        "version: 1\nname: t\nseats:\n  - id: a\n    accounts: [{domain: d}]\n  - id: b\n    accounts: [{domain: d}]\n",
    )
    result = run_cli("validate", "fleet.yaml", "--format", "sarif")
    assert result.exit_code == 0
    run = sarif_of(result)["runs"][0]
    assert run["results"] == [] and run["tool"]["driver"]["rules"] == []
    suite = ElementTree.fromstring(run_cli("validate", "fleet.yaml", "--format", "junit").stdout)
    assert (suite.get("tests"), suite.get("failures")) == ("2", "0")
    assert [(case.get("name"), list(case)) for case in suite] == [("a", []), ("b", [])]


def test_junit_has_a_failing_case_per_seat_in_error_and_keeps_warnings_as_output(
    tmp_path: Path, run_cli: RunCli
) -> None:
    write(tmp_path, BAD)
    suite = ElementTree.fromstring(run_cli("validate", "fleet.yaml", "--format", "junit").stdout)
    assert suite.tag == "testsuite" and suite.get("name") == "microsip-provisioner validate"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "2", "0")
    cases = {case.get("name"): case for case in suite}
    failure = cases["s"].find("failure")
    assert failure is not None and failure.get("type") == "not-one-of"
    assert failure.text == (
        "fleet.yaml:5:39: [not-one-of] seats[s].accounts[1].transport: "
        "'tsl' is not one of udp, tcp, tls, \"\" (did you mean 'tls'?)"
    )
    write(tmp_path, PORTABLE)
    (tmp_path / "usb").mkdir()
    (tmp_path / "usb2").mkdir()
    suite = ElementTree.fromstring(run_cli("validate", "fleet.yaml", "--format", "junit").stdout)
    out = {case.get("name"): case.findtext("system-out") for case in suite}
    assert out == {
        "desk": None,
        "quiet": "fleet.yaml:12:51: [plaintext-password] seats[quiet].accounts[1].password: "
        "plain-text password in the fleet file; use {env: NAME} or {file: path}",
    }
    assert suite.get("failures") == "0"


def test_github_commands_are_exact_and_escaped(tmp_path: Path, run_cli: RunCli) -> None:
    write(tmp_path, BAD.replace("transport: tsl", "transport: 'tsl%,\\n'"))
    result = run_cli("validate", "fleet.yaml", "--format", "github")
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        "::error file=fleet.yaml,line=5,col=39,title=not-one-of::seats[s].accounts[1].transport: "
        "'tsl%25,\\n' is not one of udp, tcp, tls, \"\"",
        "::error file=fleet.yaml,line=7,col=5,title=unknown-key::seats[u].acounts: unknown key 'acounts' "
        "(did you mean 'accounts'?); allowed here: install, target, launch, ini, speed_dials, contacts, "
        "contacts_file, contacts_mode, enforce, unmanage, settings, account, id, user, computer, profiles, "
        "accounts, active_account",
    ]


def gitlab_run(folder: Path) -> subprocess.CompletedProcess[str]:
    """``provisioner validate fleet.yaml --format gitlab`` in its own process."""
    command = [sys.executable, "-m", "provisioner", "validate", "fleet.yaml", "--format", "gitlab"]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)


def test_gitlab_fingerprints_are_stable_across_runs_and_distinct(tmp_path: Path) -> None:
    write(tmp_path, BAD)
    runs = [gitlab_run(tmp_path) for _ in range(2)]
    assert [r.returncode for r in runs] == [2, 2] and runs[0].stderr == ""
    first, second = (json.loads(r.stdout) for r in runs)
    assert first == second
    assert [(i["check_name"], i["severity"], i["location"]) for i in first] == [
        ("not-one-of", "major", {"path": "fleet.yaml", "lines": {"begin": 5}}),
        ("unknown-key", "major", {"path": "fleet.yaml", "lines": {"begin": 7}}),
    ]
    assert len({i["fingerprint"] for i in first}) == 2
    assert all(len(i["fingerprint"]) == 64 for i in first)
    write(tmp_path, "# a comment moves every line down\n" + BAD)
    moved = json.loads(gitlab_run(tmp_path).stdout)
    assert [i["fingerprint"] for i in moved] == [i["fingerprint"] for i in first]
    assert [i["location"]["lines"]["begin"] for i in moved] == [6, 8]


def test_paths_are_relative_to_the_git_top_level_by_default(tmp_path: Path, run_cli: RunCli) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    write(tmp_path / "repo" / "fleets" / "office", BAD)
    os.chdir(tmp_path / "repo" / "fleets" / "office")
    run = sarif_of(run_cli("validate", "fleet.yaml", "--format", "sarif"))["runs"][0]
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == (tmp_path / "repo").resolve().as_uri() + "/"
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert uris == {"fleets/office/fleet.yaml"}
    github = run_cli("validate", "fleet.yaml", "--format", "github").stdout
    assert github.startswith("::error file=fleets/office/fleet.yaml,line=5,col=39,")


def test_base_dir_wins_and_a_file_outside_it_stays_absolute(tmp_path: Path, run_cli: RunCli) -> None:
    fleet = write(tmp_path / "fleets", BAD)
    (tmp_path / "elsewhere").mkdir()
    os.chdir(tmp_path / "elsewhere")
    run = sarif_of(run_cli("validate", str(fleet), "--format", "sarif", "--base-dir", str(tmp_path)))["runs"][0]
    artifact = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "fleets/fleet.yaml", "uriBaseId": "SRCROOT"}
    run = sarif_of(run_cli("validate", str(fleet), "--format", "sarif"))["runs"][0]  # not in a work tree
    artifact = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": fleet.resolve().as_uri()}


def _applied(tmp_path: Path, run_cli: RunCli) -> Path:
    write(tmp_path, PORTABLE)
    for name in ("usb", "usb2"):
        (tmp_path / name).mkdir()
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0
    ini = tmp_path / "usb" / "microsip.ini"
    before, after = ("autoAnswer=button".encode("utf-16-le"), "autoAnswer=all".encode("utf-16-le"))
    assert before in ini.read_bytes()  # MicroSIP's ini is UTF-16
    ini.write_bytes(ini.read_bytes().replace(before, after))
    return ini


def test_plan_reports_a_conflict_as_an_error_at_the_seat_and_a_pending_change_as_a_note(
    tmp_path: Path, run_cli: RunCli
) -> None:
    _applied(tmp_path, run_cli)
    (tmp_path / "fleet.yaml").write_text(PORTABLE.replace("username: v", "username: w"), encoding="utf-8")
    result = run_cli("plan", "fleet.yaml", "--format", "sarif", env=ENV)
    assert result.exit_code == 0
    run = sarif_of(result)["runs"][0]
    found = [(r["ruleId"], r["level"], r["locations"][0]["physicalLocation"]["region"]) for r in run["results"]]
    assert found == [
        ("plaintext-password", "warning", {"startLine": 12, "startColumn": 51}),
        ("conflict", "error", {"startLine": 4, "startColumn": 5}),
        ("pending", "note", {"startLine": 9, "startColumn": 5}),
    ]
    assert run["results"][1]["message"]["text"] == (
        "usb/microsip.ini: [Settings] autoAnswer: changed since the last apply: 'all' on disk, the fleet says "
        "'button'; --force writes the fleet's, --keep-user Settings.autoAnswer keeps the user's this time "
        "(`unmanage: [Settings.autoAnswer]` for good)"
    )
    assert run["results"][2]["message"]["text"] == "apply would update usb2/microsip.ini"
    rules = {rule["id"]: rule["shortDescription"]["text"] for rule in run["tool"]["driver"]["rules"]}
    assert rules["conflict"].startswith("A managed key someone changed since the last apply")


def test_verify_reports_drift_per_seat_in_junit(tmp_path: Path, run_cli: RunCli) -> None:
    _applied(tmp_path, run_cli)
    result = run_cli("verify", "fleet.yaml", "--format", "junit", env=ENV)
    assert result.exit_code == 1
    suite = ElementTree.fromstring(result.stdout)
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("microsip-provisioner verify", "2", "1")
    failure = suite.find("testcase[@name='desk']/failure")
    assert failure is not None and failure.get("type") == "drift"
    assert suite.find("testcase[@name='quiet']/failure") is None


def test_a_command_that_fails_as_a_whole_is_one_finding(tmp_path: Path, run_cli: RunCli) -> None:
    write(tmp_path, PORTABLE)
    (tmp_path / "state").mkdir(mode=0o777)
    (tmp_path / "state").chmod(0o777)  # others could plant manifests: the tool refuses it
    result = run_cli("plan", "fleet.yaml", "--state", "state", "--format", "github", env=ENV)
    assert result.exit_code == 3
    (line,) = result.stdout.splitlines()
    assert line.startswith("::error title=command-failed::the state folder state is not yours alone: ")

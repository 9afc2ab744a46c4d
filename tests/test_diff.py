"""provisioner diff: which seats a change of fleet changes (issue 25, point 5).

Revisions come from a real git repository made in the test's folder; secrets are
references to files that do not exist, so a diff that read one would fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RunCli

BASE = (
    "version: 1\nname: office\nmicrosip: '3.22'\n"
    "defaults:\n  settings: {autoAnswer: button}\n"
    "seats:\n"
    "  - id: alice\n    accounts: [{domain: d, username: '1000', password: {file: secrets/1000.txt}}]\n"
    "  - id: bob\n    accounts: [{domain: d, username: '1001', password: {env: PW_1001}}]\n"
    "  - id: carol\n    accounts: [{domain: d, username: '1002', password: plain1}]\n"
    "  - id: dave\n    accounts: [{domain: d, username: '1003'}]\n"
)
CHANGED = (
    BASE.replace("autoAnswer: button}", "autoAnswer: button}\n  account: {transport: tls}")
    .replace("password: {env: PW_1001}", "password: {env: PW_BOB}")
    .replace("password: plain1", "password: plain2")
    .replace("  - id: dave\n    accounts: [{domain: d, username: '1003'}]\n", "")
    + "  - id: erin\n    accounts: [{domain: d, username: '1004'}]\n"
)


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    git(folder, "init", "-q")
    git(folder, "config", "user.email", "admin@example.org")
    git(folder, "config", "user.name", "Admin")
    (folder / "fleet.yaml").write_text(BASE, encoding="utf-8")
    git(folder, "add", "fleet.yaml")
    git(folder, "commit", "-q", "-m", "first")
    (folder / "fleet.yaml").write_text(CHANGED, encoding="utf-8")
    git(folder, "commit", "-q", "-a", "-m", "second")
    return folder


def test_two_revisions_give_added_removed_and_changed_seats(repo: Path, run_cli: RunCli) -> None:
    os.chdir(repo)
    result = run_cli("diff", "HEAD~1", "HEAD")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "changed  alice",
        "  accounts[1].transport:  (not set)  ->  tls",
        "changed  bob",
        "  accounts[1].password:   env:PW_1001  ->  env:PW_BOB",
        "  accounts[1].transport:  (not set)    ->  tls",
        "changed  carol",
        "  accounts[1].password:   ********   ->  ******** (another value)",
        "  accounts[1].transport:  (not set)  ->  tls",
        "added    erin",
        "removed  dave",
        "diff: 5 seats to change (1 added, 1 removed, 3 changed, 0 unchanged)",
    ]
    assert "plain1" not in result.output and "plain2" not in result.output
    assert git(repo, "status", "--porcelain") == "" and git(repo, "worktree", "list").count("\n") == 1


def test_exit_code_and_nothing_to_change(repo: Path, run_cli: RunCli) -> None:
    os.chdir(repo)
    assert run_cli("diff", "HEAD~1", "HEAD", "--exit-code").exit_code == 1
    same = run_cli("diff", "HEAD", "fleet.yaml", "--exit-code")
    assert same.exit_code == 0
    assert same.stdout == "diff: 0 seats to change (0 added, 0 removed, 0 changed, 4 unchanged)\n"


def test_markdown_is_a_pull_request_comment(repo: Path, run_cli: RunCli) -> None:
    os.chdir(repo)
    (repo / "fleet.yaml").write_text(BASE.replace("microsip: '3.22'", "microsip: '3.22.16'"), encoding="utf-8")
    result = run_cli("diff", "HEAD~1", "fleet.yaml", "--format", "markdown")
    assert result.exit_code == 0
    assert result.stdout == (
        "### MicroSIP fleet: 0 seats would change\n"
        "\n"
        "`HEAD~1` → `fleet.yaml`: 0 added, 0 removed, 0 changed, 4 unchanged.\n"
        "\n"
        "| seat | change | value | old | new |\n"
        "|---|---|---|---|---|\n"
        "| (all) | fleet | `microsip` | `3.22` | `3.22.16` |\n"
    )


def test_json_lists_each_seat_and_key(repo: Path, run_cli: RunCli) -> None:
    os.chdir(repo)
    document = json.loads(run_cli("diff", "HEAD~1", "HEAD", "--format", "json").stdout)
    assert document["ok"] is True and document["changed"] is True
    assert document["summary"] == {"seats": {"added": 1, "removed": 1, "changed": 3, "unchanged": 0}}
    bob = next(s for s in document["seats"] if s["seat"] == "bob")
    assert bob == {
        "seat": "bob",
        "change": "changed",
        "keys": [
            {"path": "accounts[1].password", "old": "env:PW_1001", "new": "env:PW_BOB"},
            {"path": "accounts[1].transport", "old": None, "new": "tls"},
        ],
    }
    assert next(s for s in document["seats"] if s["seat"] == "dave") == {
        "seat": "dave",
        "change": "removed",
        "keys": [],
    }


def test_two_folders_and_a_fleet_in_a_subfolder_of_the_repository(tmp_path: Path, run_cli: RunCli) -> None:
    for name, text in (("before", BASE), ("after", CHANGED)):
        (tmp_path / name / "fleets").mkdir(parents=True)
        (tmp_path / name / "fleets" / "office.yaml").write_text(text, encoding="utf-8")
    result = run_cli("diff", "before", "after", "--fleet", "fleets/office.yaml", "--exit-code")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "diff: 5 seats to change (1 added, 1 removed, 3 changed, 0 unchanged)"


def test_a_revision_in_a_subfolder_reads_the_fleet_there(repo: Path) -> None:
    (repo / "fleets").mkdir()
    git(repo, "mv", "fleet.yaml", "fleets/office.yaml")
    git(repo, "commit", "-q", "-m", "move")
    (repo / "fleets" / "office.yaml").write_text(BASE, encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "provisioner",
            "diff",
            "HEAD",
            "office.yaml",
            "--fleet",
            "office.yaml",
            "--format",
            "json",
        ],
        cwd=repo / "fleets",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["seats"] == {"added": 1, "removed": 1, "changed": 3, "unchanged": 0}


def test_bad_input_in_a_revision_is_named_by_the_revision(repo: Path, run_cli: RunCli) -> None:
    os.chdir(repo)
    (repo / "fleet.yaml").write_text(BASE.replace("autoAnswer: button", "autoAnswer: sometimes"), encoding="utf-8")
    git(repo, "commit", "-q", "-a", "-m", "broken")
    result = run_cli("diff", "HEAD~1", "HEAD")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "HEAD:fleet.yaml:5:26: defaults.settings.autoAnswer: 'sometimes' is not one of \"\", button, header, all",
        "HEAD:fleet.yaml:12:56: warning: seats[carol].accounts[1].password: plain-text password in the fleet file; "
        "use {env: NAME} or {file: path}",
        "1 error",
    ]
    unknown = run_cli("diff", "no-such-branch", "HEAD")
    assert unknown.exit_code == 2
    assert unknown.stderr == "error: 'no-such-branch' is not a git revision or a path here\n"


def test_a_revision_outside_a_work_tree_is_bad_input(tmp_path: Path, run_cli: RunCli) -> None:
    (tmp_path / "fleet.yaml").write_text(BASE, encoding="utf-8")
    result = run_cli("diff", "HEAD", "fleet.yaml")
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path.resolve()} is not inside a git work tree\n"


def test_a_revision_whose_tree_links_outside_is_refused(repo: Path, run_cli: RunCli) -> None:
    os.chdir(repo)
    (repo / "escape").symlink_to("/etc")
    git(repo, "add", "escape")
    git(repo, "commit", "-q", "-m", "a link out")
    result = run_cli("diff", "HEAD~1", "HEAD")
    assert result.exit_code == 2
    assert result.stderr == "error: HEAD: its tree cannot be read safely ('escape' is a link to an absolute path)\n"

"""The pre-commit hook this repository ships, run by the real pre-commit against a fleet repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

FLEET = 'version: 1\nname: t\nseats:\n  - id: a\n    accounts: [{username: "1", domain: d, transport: tls}]\n'


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def hook_repository(tmp_path: Path) -> tuple[Path, str]:
    """This repository as a hook repository: its last commit with the working tree's hooks file."""
    hooks = tmp_path / "hooks"
    subprocess.run(["git", "clone", "-q", str(REPO), str(hooks)], check=True)
    shutil.copy(REPO / ".pre-commit-hooks.yaml", hooks / ".pre-commit-hooks.yaml")
    git(hooks, "add", ".pre-commit-hooks.yaml")
    git(hooks, "commit", "-q", "--allow-empty", "-m", "the working tree's hooks")
    return hooks, git(hooks, "rev-parse", "HEAD")


@pytest.mark.slow
def test_the_hook_passes_a_good_fleet_and_blocks_a_bad_commit(tmp_path: Path) -> None:
    hooks, rev = hook_repository(tmp_path)
    fleets = tmp_path / "fleets"
    fleets.mkdir()
    git(fleets, "init", "-q")
    (fleets / "fleet.yaml").write_text(FLEET, encoding="utf-8")
    (fleets / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hooks}\n    rev: {rev}\n    hooks:\n      - id: provisioner-validate\n"
        "        args: [fleet.yaml]\n",
        encoding="utf-8",
    )
    env = {**os.environ, "HOME": str(tmp_path), "PRE_COMMIT_HOME": str(tmp_path / "cache")}
    pre_commit = str(Path(sys.executable).parent / "pre-commit")
    subprocess.run([pre_commit, "install"], cwd=fleets, env=env, check=True, capture_output=True)
    git(fleets, "add", "-A")
    good = subprocess.run(["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-m", "good"],
                          cwd=fleets, env=env, capture_output=True, text=True)  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    said = good.stdout + good.stderr  # git passes the hook's output through on either stream
    assert "validate the MicroSIP fleet" in said and "Passed" in said

    (fleets / "fleet.yaml").write_text(FLEET.replace("tls", "tsl"), encoding="utf-8")
    git(fleets, "add", "fleet.yaml")
    bad = subprocess.run(["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-m", "bad"],
                         cwd=fleets, env=env, capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 1
    assert (
        "fleet.yaml:5:54: seats[a].accounts[1].transport: 'tsl' is not one of udp, tcp, tls, \"\" (did you mean 'tls'?)"
        in (bad.stdout + bad.stderr).splitlines()
    )
    assert git(fleets, "log", "--format=%s") == "good"  # the bad commit was blocked

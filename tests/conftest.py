"""Shared fixtures: isolated environment, inline file trees, a CLI runner."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from provisioner import state
from provisioner.cli import main

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "profiles" / "example" / "fleet.yaml"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Windows-side tests (marked ``windows``) skip where Wine or MinGW-w64 is missing."""
    from tests.wine import HAVE_WINE, NO_WINE

    if not HAVE_WINE:
        for item in items:
            if item.get_closest_marker("windows") is not None:
                item.add_marker(pytest.mark.skip(reason=NO_WINE))


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run every test in its own folder with Windows-ish variables pointing inside it."""
    home = tmp_path / "home"
    home.mkdir()
    for name in ("APPDATA", "LOCALAPPDATA", "USERPROFILE", "HOME"):
        monkeypatch.setenv(name, str(home))
    monkeypatch.setenv("PROVISIONER_LOG_DIR", str(tmp_path / "logs"))
    (tmp_path / "logs").mkdir()
    monkeypatch.chdir(tmp_path)
    yield tmp_path


BuildTree = Callable[[dict[str, str | bytes]], Path]


@pytest.fixture
def build_tree(tmp_path: Path) -> BuildTree:
    """Write ``{relative path: text or bytes}`` under the test folder; return the folder."""

    def build(files: dict[str, str | bytes]) -> Path:
        for name, content in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        return tmp_path

    return build


RunCli = Callable[..., Result]


@pytest.fixture
def run_cli() -> RunCli:
    """Invoke the CLI in-process; stdout and stderr are kept apart."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return run


def listing(folder: Path) -> list[str]:
    """Every file below ``folder``, relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


__all__ = ["EXAMPLE", "REPO", "listing", "os"]


def read_manifest(path: Path) -> dict[str, Any]:
    """A manifest's document (its first line; the second holds its integrity check)."""
    document: dict[str, Any] = json.loads(path.read_bytes().partition(b"\n")[0])
    return document


def write_manifest(path: Path, document: dict[str, Any]) -> None:
    """Write a manifest as the admin's tool would: sealed with its state folder's key."""
    key = (path.parents[2] / "key").read_bytes().strip()
    path.write_bytes(state.seal(json.dumps(document).encode("utf-8"), key))

"""Independent check: Windows' own profile API (under Wine) reads our ini files as intended.

The reader is the test's own: tests/fixtures/inidump.c, built with MinGW-w64 and run
under Wine, lists every section and key as ``GetPrivateProfileStringW`` returns it.
Needs Wine and MinGW-w64 (`make test` installs them as root; with CI=true their
absence fails the run).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from provisioner.fleet import load_fleet
from provisioner.render.renderer import render_fleet
from tests.conftest import REPO, BuildTree
from tests.wine import MINGW, WINE, needs_wine, wine_env

pytestmark = needs_wine


@pytest.fixture(scope="module")
def inidump(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("inidump")
    exe = base / "inidump.exe"
    assert MINGW is not None
    subprocess.run(
        [MINGW, "-municode", "-O2", "-o", str(exe), str(REPO / "tests" / "fixtures" / "inidump.c")],
        check=True,
        timeout=120,
    )
    return exe, wine_env(base)


def oracle(tool: tuple[Path, dict[str, str]], path: Path) -> dict[str, dict[str, str]]:
    """Every section and key of ``path`` as Windows reads them."""
    exe, env = tool
    assert path.read_bytes().startswith(b"\xff\xfe")  # UTF-16LE with a BOM, as MicroSIP writes it
    assert WINE is not None
    proc = subprocess.run(
        [WINE, str(exe), "Z:" + str(path).replace("/", "\\")],
        env=env,
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        timeout=300,
        check=True,
    )
    seen: dict[str, dict[str, str]] = {}
    for line in proc.stdout.decode("utf-8").splitlines():
        section, key, value = line.split("\t", 2)
        seen.setdefault(section, {})[key] = value
    return seen


TRICKY = {
    "displayName": "Zoë Müller 日本 𝄞",
    "label": '"quoted"',
    "authID": "'single'",
    "dialPlan": "(<9:>)|x ; not a comment",
    "voicemailNumber": "#99",
}


def test_windows_profile_api_reads_exactly_the_fleet_values(
    build_tree: BuildTree, tmp_path: Path, inidump: tuple[Path, dict[str, str]]
) -> None:
    account = ", ".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in TRICKY.items())
    build_tree(
        {
            "fleet.yaml": (
                "version: 1\nname: t\nseats:\n  - id: s\n"
                "    settings: {cmdCallEnd: '\"C:\\Program Files\\x\\hook.exe\" --flag', autoAnswer: all}\n"
                f"    accounts:\n      - {{domain: example.com, {account}}}\n"
            )
        }
    )
    (rendered,) = render_fleet(load_fleet(Path("fleet.yaml")))
    path = tmp_path / "microsip.ini"
    path.write_bytes(rendered.ini.data)
    seen = oracle(inidump, path)
    assert list(seen) == ["Settings", "Account1"]
    assert seen["Settings"] == {
        "accountId": "1",
        "autoAnswer": "all",
        "cmdCallEnd": '"C:\\Program Files\\x\\hook.exe" --flag',
    }
    assert seen["Account1"] == {"domain": "example.com", **TRICKY}


def test_golden_files_read_back_through_wine(inidump: tuple[Path, dict[str, str]]) -> None:
    golden = REPO / "tests" / "golden" / "example" / "reception" / "microsip.ini"
    seen = oracle(inidump, golden)
    assert seen["Account1"]["displayName"] == "Zoë Müller – Empfang"
    assert seen["Settings"]["accountId"] == "1"

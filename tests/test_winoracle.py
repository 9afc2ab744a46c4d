"""Independent check: Wine's Windows profile API reads our ini files as intended.

Uses the winoracle tool from ../shared/tools (a developer aid, never used by the
product). Skipped where Wine, the MinGW compiler or the tool is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from provisioner.fleet import load_fleet
from provisioner.rendering import render_fleet
from tests.conftest import REPO, BuildTree

ORACLE = REPO.parent / "shared" / "tools" / "winoracle" / "oracle.sh"

pytestmark = pytest.mark.skipif(
    not ORACLE.is_file()
    or not (shutil.which("wine64") or shutil.which("wine"))
    or not shutil.which("x86_64-w64-mingw32-gcc"),
    reason="winoracle needs ../shared/tools/winoracle, Wine and gcc-mingw-w64 (see its README)",
)

TRICKY = {
    "displayName": "Zoë Müller 日本 𝄞",
    "label": '"quoted"',
    "authID": "'single'",
    "dialPlan": "(<9:>)|x ; not a comment",
    "voicemailNumber": "#99",
}


def oracle(path: Path) -> dict[str, dict[str, str | None]]:
    proc = subprocess.run(["sh", str(ORACLE), "ini", str(path)], capture_output=True, timeout=300, check=True)
    document = json.loads(proc.stdout.decode("utf-8"))
    assert document["bom_raw"] == "utf-16le"
    return {s["name"]: {e["key"]: e["value"] for e in s["entries"]} for s in document["sections"]}


def test_windows_profile_api_reads_exactly_the_fleet_values(build_tree: BuildTree, tmp_path: Path) -> None:
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
    seen = oracle(path)
    assert list(seen) == ["Settings", "Account1"]
    assert seen["Settings"] == {
        "accountId": "1",
        "autoAnswer": "all",
        "cmdCallEnd": '"C:\\Program Files\\x\\hook.exe" --flag',
    }
    assert seen["Account1"] == {"domain": "example.com", **TRICKY}


def test_golden_files_read_back_through_wine() -> None:
    golden = REPO / "tests" / "golden" / "example" / "reception" / "microsip.ini"
    seen = oracle(golden)
    assert seen["Account1"]["displayName"] == "Zoë Müller – Empfang"
    assert seen["Settings"]["accountId"] == "1"

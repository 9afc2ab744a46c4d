"""Portable bundles: folder and reproducible zip, per-account copies, refusals."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from click.testing import Result

from provisioner import ini
from tests.conftest import BuildTree, RunCli, listing

FLEET = """\
version: 1
name: office
defaults:
  account: {server: pbx.example.com, domain: example.com}
seats:
  - id: sales
    install: {exe: 'C:\\Program Files\\MicroSIP\\MicroSIP-sales.exe'}
    launch: {name: MicroSIP Sales, args: /minimized}
    accounts:
      - {username: "1100", label: Sales, password: {env: PW_1100}}
      - {username: "1101", label: Backup line, password: {env: PW_1101}}
"""
ENV = {"PW_1100": "pw-1100", "PW_1101": "pw-1101"}


def bundle(run_cli: RunCli, source: str, out: str, *extra: str, env: dict[str, str] | None = None) -> Result:
    """``provisioner bundle fleet.yaml --seat sales --microsip SOURCE --out OUT [EXTRA]``."""
    return run_cli("bundle", "fleet.yaml", "--seat", "sales", "--microsip", source, "--out", out, *extra, env=env)


@pytest.fixture
def dist(build_tree: BuildTree) -> Path:
    """A fake MicroSIP distribution (folder and release-style zip with one top folder)."""
    root = build_tree(
        {
            "fleet.yaml": FLEET,
            "MicroSIP-3.22.3/microsip.exe": b"MZ fake exe",
            "MicroSIP-3.22.3/pjsua.dll": b"fake dll",
            "MicroSIP-3.22.3/langpacks/langpack_deutsch.txt": "Deutsch",
            "MicroSIP-3.22.3/microsip.ini": "[Settings]\nsomeone=else\n",
        }
    )
    with zipfile.ZipFile(root / "MicroSIP-3.22.3.zip", "w") as archive:
        for path in sorted((root / "MicroSIP-3.22.3").rglob("*")):
            archive.write(path, path.relative_to(root).as_posix())
    return root


def test_folder_bundle(dist: Path, run_cli: RunCli) -> None:
    result = bundle(run_cli, "MicroSIP-3.22.3", "stick", env=ENV)
    assert result.exit_code == 0, result.output
    assert listing(dist / "stick") == [
        "MicroSIP Sales.cmd",
        "MicroSIP-sales.exe",
        "MicroSIP-sales.ini",
        "README.txt",
        "langpacks/langpack_deutsch.txt",
        "pjsua.dll",
    ]
    assert Path("stick/MicroSIP-sales.exe").read_bytes() == b"MZ fake exe"
    values = ini.parse(ini.decode(Path("stick/MicroSIP-sales.ini").read_bytes())[0]).as_dict()
    assert values["account2"]["password"] == "pw-1101"
    assert b'"%~dp0MicroSIP-sales.exe" /minimized' in Path("stick/MicroSIP Sales.cmd").read_bytes()
    readme = Path("stick/README.txt").read_bytes().decode("utf-8")
    assert readme.startswith("MicroSIP for sales (office)\r\n\r\n") and "MicroSIP Sales.cmd" in readme
    assert "\n" not in readme.replace("\r\n", "")
    assert result.stderr.splitlines() == [
        "warning: left out microsip.ini: the bundle brings the seat's own settings",
        "warning: seat sales is an installed MicroSIP (install mode installed); the bundle makes it portable: "
        "MicroSIP reads the ini beside its exe, and the seat's shortcuts become a .cmd launcher",
        "warning: MicroSIP-sales.ini holds a plain-text password until MicroSIP first starts and encrypts it; "
        "hand the bundle over privately, or use --no-passwords",
    ]
    assert "pw-1100" not in result.output
    # the bundle holds a plaintext password: its owner alone may read it
    for path in [Path("stick"), *Path("stick").rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() or path.suffix in (".exe", ".cmd", ".dll") else 0o600), path


def test_zip_bundle_is_reproducible(dist: Path, run_cli: RunCli) -> None:
    for out in ("a.zip", "b.zip"):
        result = bundle(run_cli, "MicroSIP-3.22.3.zip", out, env=ENV)
        assert result.exit_code == 0, result.output
    assert Path("a.zip").read_bytes() == Path("b.zip").read_bytes()
    with zipfile.ZipFile("a.zip") as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert "MicroSIP-sales.ini" in names and "MicroSIP-3.22.3/pjsua.dll" not in names
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
        assert modes["MicroSIP-sales.ini"] == 0o600 and modes["MicroSIP-sales.exe"] == 0o700
        assert set(modes.values()) == {0o600, 0o700}
    assert Path("a.zip").stat().st_mode & 0o777 == 0o600


def test_per_account_instances_without_passwords(dist: Path, run_cli: RunCli) -> None:
    result = bundle(run_cli, "MicroSIP-3.22.3", "stick", "--instances", "per-account", "--no-passwords", env={})
    assert result.exit_code == 0, result.output
    assert listing(dist / "stick") == [
        "MicroSIP Sales 1.cmd",
        "MicroSIP Sales 2.cmd",
        "MicroSIP-sales-1.exe",
        "MicroSIP-sales-1.ini",
        "MicroSIP-sales-2.exe",
        "MicroSIP-sales-2.ini",
        "README.txt",
        "langpacks/langpack_deutsch.txt",
        "pjsua.dll",
    ]
    second = ini.parse(ini.decode(Path("stick/MicroSIP-sales-2.ini").read_bytes())[0]).as_dict()
    assert second["settings"]["accountid"] == "1"
    assert second["account1"]["username"] == "1101" and second["account1"]["password"] == ""
    assert "account2" not in second
    assert b'"%~dp0MicroSIP-sales-2.exe" /minimized' in Path("stick/MicroSIP Sales 2.cmd").read_bytes()
    assert "plain-text password" not in result.stderr


def test_distribution_without_exe(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET, "dist/readme.txt": "no exe here", "dist/setup.exe": b"MZ"})
    result = bundle(run_cli, "dist", "stick", env=ENV)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: dist: no MicroSIP exe at the top of the distribution (exe files found: setup.exe); point "
        "--microsip at the unpacked MicroSIP folder or its release zip\n"
    )
    assert not Path("stick").exists()


@pytest.mark.parametrize("member", ["../evil.exe", "/etc/evil", "C:/evil.exe", "a/../../evil"])
def test_zip_slip_is_refused(build_tree: BuildTree, run_cli: RunCli, member: str) -> None:
    build_tree({"fleet.yaml": FLEET})
    with zipfile.ZipFile("evil.zip", "w") as archive:
        archive.writestr("microsip.exe", b"MZ")
        archive.writestr(member, b"boom")
    result = bundle(run_cli, "evil.zip", "stick.zip", env=ENV)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: evil.zip: member {member!r} would be written outside the bundle (zip-slip); refusing this archive\n"
    )
    assert not Path("stick.zip").exists()


def test_output_inside_source_or_not_empty(dist: Path, run_cli: RunCli) -> None:
    inside = bundle(run_cli, "MicroSIP-3.22.3", "MicroSIP-3.22.3/out", env=ENV)
    assert inside.exit_code == 2
    assert "the output is inside the MicroSIP distribution" in inside.stderr
    Path("full").mkdir()
    Path("full/x").write_text("keep me")
    full = bundle(run_cli, "MicroSIP-3.22.3", "full", env=ENV)
    assert full.exit_code == 2
    assert full.stderr == "error: full: exists and is not an empty folder; choose a new path (nothing was written)\n"
    assert listing(dist / "full") == ["x"]


def test_missing_secret_writes_nothing(dist: Path, run_cli: RunCli) -> None:
    result = bundle(run_cli, "MicroSIP-3.22.3", "stick", env={})
    assert result.exit_code == 2
    assert "environment variable PW_1100 is not set" in result.stderr
    assert not Path("stick").exists()
    assert not [p for p in dist.iterdir() if p.name.startswith(".provisioner-tmp")]


def test_non_ascii_exe_name_is_refused_for_the_cmd_launcher(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "fleet.yaml": "version: 1\nname: t\nseats:\n  - id: s\n    install: {mode: portable, exe: Zoë.exe}\n    accounts: [{domain: d}]\n"
        }
    )
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "fleet.yaml:5:36: seats[s].install.exe: the exe name 'Zoë.exe' has non-ASCII characters; a .cmd launcher "
        "is read in the console's OEM code page, which would garble them -- use an ASCII name"
    )

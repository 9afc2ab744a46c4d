"""package-agent: the agent's Windows Installer package, reproducible, signed and verified,
installed and removed by Windows Installer (Wine's msiexec)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner import __version__
from provisioner.distribution import agent_package, scheduled_task
from tests import pki as test_pki
from tests.conftest import REPO, RunCli
from tests.wine import PACKAGING, boot, needs_wine, run, stop, windows, wine_env

pytestmark = pytest.mark.skipif(
    not all(PACKAGING.values()), reason="needs msitools, osslsigncode and openssl (make test installs them as root)"
)

AGENT = REPO / "provisioner" / "data" / "agent" / "provisioner-agent.exe"  # what `make agent` builds


def tool(name: str) -> str:
    path = PACKAGING[name]
    assert path is not None
    return path


def table(msi: Path, name: str) -> list[dict[str, str]]:
    """A table of the package as msitools exports it (names, types, key row, then the rows)."""
    lines = subprocess.run(
        [tool("msiinfo"), "export", str(msi), name], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    columns = lines[0].split("\t")
    return [dict(zip(columns, line.split("\t"), strict=False)) for line in lines[3:]]


def summary(msi: Path) -> dict[str, str]:
    env = {**os.environ, "TZ": "UTC"}  # msiinfo shows times in local time
    text = subprocess.run(
        [tool("msiinfo"), "suminfo", str(msi)], capture_output=True, text=True, check=True, env=env
    ).stdout
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def verify(path: Path, ca: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("osslsigncode"), "verify", "-CAfile", str(ca), "-TSA-CAfile", str(ca), "-in", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_unsigned_build_is_the_committed_agent_and_reproducible(run_cli: RunCli, tmp_path: Path) -> None:
    """Same inputs, same bytes: wixl's clock time and random revision are fixed afterwards."""
    result = run_cli("package-agent", "--out", "one")
    assert result.exit_code == 0, result.output
    assert result.stdout == "wrote one/provisioner-agent.exe, one/provisioner-agent.msi (unsigned)\n"
    assert Path("one/provisioner-agent.exe").read_bytes() == AGENT.read_bytes()  # make agent's exe
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    subprocess.run(  # a real process, another folder, another moment
        [sys.executable, "-m", "provisioner", "package-agent", "--out", str(tmp_path / "two")],
        cwd=elsewhere,
        env={**env, "PYTHONPATH": str(REPO)},
        check=True,
        capture_output=True,
    )
    assert Path("two/provisioner-agent.msi").read_bytes() == Path("one/provisioner-agent.msi").read_bytes()
    info = summary(Path("one/provisioner-agent.msi"))
    assert (info["Created"], info["Last saved"]) == ("Thu Jan  1 00:00:00 2026", "Thu Jan  1 00:00:00 2026")
    stamped = subprocess.run(
        [sys.executable, "-m", "provisioner", "package-agent", "--out", str(tmp_path / "three")],
        env={**env, "PYTHONPATH": str(REPO), "SOURCE_DATE_EPOCH": "1700000000"},
        check=True,
        capture_output=True,
    )
    assert stamped.returncode == 0
    assert summary(tmp_path / "three" / "provisioner-agent.msi")["Created"] == "Tue Nov 14 22:13:20 2023"


def test_the_package_is_per_machine_x64_into_program_files(run_cli: RunCli) -> None:
    assert run_cli("package-agent", "--out", "pkg").exit_code == 0
    msi = Path("pkg/provisioner-agent.msi")
    info = summary(msi)
    assert info["Template"] == "x64;1033"
    assert re.fullmatch(r"\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}", info["Revision number (UUID)"])  # PackageCode
    properties = {row["Property"]: row["Value"] for row in table(msi, "Property")}
    assert properties["ALLUSERS"] == "1"  # per machine
    assert properties["UpgradeCode"] == "{3D5F0A62-8C1B-4E7A-9B54-2F6E8D1C7A90}"  # fixed forever
    assert properties["ProductCode"] == f"{{{str(agent_package.product_code(__version__)).upper()}}}"
    assert properties["ProductVersion"] == __version__
    # the ProductCode follows from the version: the same for 0.1.0 on every build, another for 0.2.0
    assert str(agent_package.product_code("0.1.0")).upper() == "3D90EA8D-E438-508C-8C38-67CF5AB846C9"
    assert agent_package.product_code("0.2.0") != agent_package.product_code("0.1.0")
    folders = {row["Directory"]: (row["Directory_Parent"], row["DefaultDir"]) for row in table(msi, "Directory")}
    assert folders["INSTALLDIR"] == ("ProgramFiles64Folder", "microsip-provisioner")
    (component,) = table(msi, "Component")
    assert int(component["Attributes"]) & 256  # msidbComponentAttributes64bit
    (file,) = table(msi, "File")
    assert (file["FileName"], int(file["FileSize"])) == ("provisioner-agent.exe", len(AGENT.read_bytes()))
    upgrades = table(msi, "Upgrade")
    assert {row["UpgradeCode"] for row in upgrades} == {properties["UpgradeCode"]}  # replaces older versions


def test_a_signed_build_verifies_and_a_tampered_one_does_not(run_cli: RunCli, tmp_path: Path) -> None:
    pki = test_pki.make(tmp_path / "pki")
    with test_pki.timestamp_server(pki) as url:
        result = run_cli(
            "package-agent", "--out", "signed", "--sign-cert", str(pki.path("signer.pem")),
            "--sign-key", str(pki.path("signer.key")), "--timestamp-url", url,
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("(signed)\n")
    exe, msi = Path("signed/provisioner-agent.exe"), Path("signed/provisioner-agent.msi")
    for path in (exe, msi):
        checked = verify(path, pki.path("ca.pem"))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "Signature verification: ok" in checked.stdout
        assert "Timestamp Server Signature verification: ok" in checked.stdout
        assert verify(path, pki.path("other.pem")).returncode != 0  # not trusted by someone else's CA
    # another package, another PackageCode; the package holds the signed exe
    assert run_cli("package-agent", "--out", "unsigned").exit_code == 0
    revision = "Revision number (UUID)"
    assert summary(msi)[revision] != summary(Path("unsigned/provisioner-agent.msi"))[revision]
    subprocess.run([tool("msiextract"), "-C", str(tmp_path / "x"), str(msi)], check=True, capture_output=True)
    assert (tmp_path / "x" / "microsip-provisioner" / "provisioner-agent.exe").read_bytes() == exe.read_bytes()
    for path in (exe, msi):
        tampered = tmp_path / f"tampered-{path.name}"
        data = bytearray(path.read_bytes())
        data[len(data) // 3] ^= 0x01
        tampered.write_bytes(bytes(data))
        checked = verify(tampered, pki.path("ca.pem"))
        assert checked.returncode != 0
        assert "MISMATCH" in checked.stdout + checked.stderr


def test_signing_options_and_failures(run_cli: RunCli, tmp_path: Path) -> None:
    pki = test_pki.make(tmp_path / "pki")
    alone = run_cli("package-agent", "--out", "out", "--sign-cert", str(pki.path("signer.pem")))
    assert (alone.exit_code, alone.stderr) == (
        2,
        "error: --sign-cert and --sign-key go together: give the certificate and its private key\n",
    )
    stamp = run_cli("package-agent", "--out", "out", "--timestamp-url", "http://127.0.0.1:9/")
    assert stamp.exit_code == 2
    assert stamp.stderr == "error: --timestamp-url needs --sign-cert and --sign-key: only a signature is timestamped\n"
    wrong = run_cli(
        "package-agent", "--out", "out", "--sign-cert", str(pki.path("signer.pem")), "--sign-key", str(pki.path("other.key"))
    )  # fmt: skip
    assert wrong.exit_code == 3
    assert wrong.stderr.startswith(f"error: signing provisioner-agent.exe with '{pki.path('signer.pem')}' failed: ")
    assert not Path("out").exists()  # nothing written
    (tmp_path / "bin").mkdir()
    bare = run_cli("package-agent", "--out", "out", env={"PATH": str(tmp_path / "bin")})
    assert (bare.exit_code, bare.stderr) == (
        3,
        "error: wixl is not installed: install Debian's wixl (apt install wixl)\n",
    )
    assert not Path("out").exists()


@needs_wine
def test_windows_installer_puts_the_agent_where_the_task_runs_it(run_cli: RunCli, tmp_path: Path) -> None:
    """``msiexec /i`` installs it at task.xml's command (as Windows expands it); ``/x`` removes it."""
    assert run_cli("package-agent", "--out", "pkg").exit_code == 0
    env = wine_env(tmp_path / "wine")
    boot(env)
    try:
        installed = run(env, "msiexec", "/i", windows(tmp_path / "pkg" / "provisioner-agent.msi"), "/qn")
        assert installed.returncode == 0, installed.stderr
        command = run(env, "cmd", "/c", f"echo {scheduled_task.INSTALLED_AGENT}").stdout.strip()
        assert command == "C:\\Program Files\\microsip-provisioner\\provisioner-agent.exe"
        local = Path(env["WINEPREFIX"]) / "drive_c" / "Program Files" / "microsip-provisioner" / "provisioner-agent.exe"
        assert local.read_bytes() == AGENT.read_bytes()
        started = run(env, command, "--help")
        assert started.returncode == 0 and started.stdout.startswith("usage: provisioner-agent"), started
        product = f"{{{str(agent_package.product_code()).upper()}}}"
        key = f"HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{product}"
        assert run(env, "reg", "query", key).returncode == 0  # in Programs and Features
        removed = run(env, "msiexec", "/x", product, "/qn")
        assert removed.returncode == 0, removed.stderr
        assert not local.exists() and not local.parent.exists()
        assert run(env, "reg", "query", key).returncode != 0
    finally:
        stop(env)

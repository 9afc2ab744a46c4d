"""package-agent: the agent as a Windows Installer package, signed when a certificate is given.

``wixl`` (Debian's msitools) builds a per-machine x64 package that puts the agent where
``task.xml`` runs it (``%ProgramFiles%\\microsip-provisioner``); ``osslsigncode`` signs the
exe and then the package. The UpgradeCode never changes, so each version replaces the
last; the ProductCode follows from the version and the PackageCode from the contents.
wixl stamps the package's summary with the clock and a random revision; both are fixed
afterwards, so the same inputs give the same bytes. An unsigned exe is the committed one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

from provisioner import __version__
from provisioner._resources import data_dir
from provisioner.admin_files import write_files
from provisioner.errors import DeployError, UsageError, quoted

#: Windows Installer finds the installed agent of any version by this code: never change it.
UPGRADE_CODE = uuid.UUID("{3D5F0A62-8C1B-4E7A-9B54-2F6E8D1C7A90}")
#: The component that holds the exe, the same in every version (its key path does not move).
COMPONENT = uuid.UUID("{9A0C4E1B-5D27-4F83-A6E2-7B3D1C8F05E4}")
EXE = "provisioner-agent.exe"
MSI = "provisioner-agent.msi"
#: The folder below Program Files (scheduled_task.INSTALLED_AGENT names the same one).
FOLDER = "microsip-provisioner"
#: The package's "created" and "last saved" time, unless SOURCE_DATE_EPOCH says otherwise.
BUILT = datetime(2026, 1, 1, tzinfo=UTC)
SUMMARY = "\x05SummaryInformation"
#: Summary properties wixl fills from the clock and a random number.
REVISION, CREATED, SAVED = 9, 12, 13
VT_LPSTR, VT_FILETIME = 0x1E, 0x40


@dataclass(frozen=True)
class Signing:
    """A code-signing certificate (PEM) and its private key (PEM, not encrypted)."""

    cert: Path
    key: Path
    timestamp_url: str | None = None


def signing(cert: Path | None, key: Path | None, timestamp_url: str | None) -> Signing | None:
    """The signing options as given, or UsageError when they do not go together."""
    if (cert is None) != (key is None):
        raise UsageError("--sign-cert and --sign-key go together: give the certificate and its private key")
    if cert is None or key is None:
        if timestamp_url is not None:
            raise UsageError("--timestamp-url needs --sign-cert and --sign-key: only a signature is timestamped")
        return None
    return Signing(cert, key, timestamp_url)


def product_code(version: str = __version__) -> uuid.UUID:
    """The ProductCode of a version: one per version, the same on every build."""
    return uuid.uuid5(UPGRADE_CODE, f"product {version}")


def build(out: Path, sign: Signing | None = None) -> list[Path]:
    """Write ``provisioner-agent.exe`` and ``provisioner-agent.msi`` into ``out``."""
    exe = (data_dir("data") / "agent" / EXE).read_bytes()
    with tempfile.TemporaryDirectory(prefix="provisioner-package-") as temp:
        work = Path(temp)
        if sign is not None:
            exe = _signed(work, EXE, exe, sign)
        msi = _package(work, exe)
        if sign is not None:
            msi = _signed(work, MSI, msi, sign)
    return write_files([(out / EXE, exe), (out / MSI, msi)], mode=lambda _: 0o644)


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise DeployError(f"{name} is not installed: install Debian's {package} (apt install {package})")
    return path


def _run(command: list[str], what: str, cwd: Path | None = None) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeployError(f"{what} failed: {exc}") from None
    if result.returncode != 0:
        lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        reason = next((line for line in lines if "error" in line.lower() or "failed" in line.lower()), None)
        raise DeployError(f"{what} failed: {reason or (lines[-1] if lines else f'exit {result.returncode}')}")


def _built_at() -> datetime:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    return datetime.fromtimestamp(int(epoch), UTC) if epoch.isdigit() else BUILT


def _package(work: Path, exe: bytes) -> bytes:
    """The MSI around ``exe``, with its summary fixed so that it depends on its inputs only."""
    source = work / "package"
    source.mkdir()
    (source / EXE).write_bytes(exe)
    built = _built_at()
    os.utime(source / EXE, (built.timestamp(), built.timestamp()))  # the cabinet keeps each file's time
    (source / "agent.wxs").write_text(_wxs(), encoding="utf-8")
    msi = source / MSI
    wixl = _tool("wixl", "wixl")
    # wixl finds a file's Source in its current folder, and takes no absolute path
    _run([wixl, "-a", "x64", "-o", MSI, "agent.wxs"], "building the package with wixl", cwd=source)
    package = uuid.uuid5(UPGRADE_CODE, f"package {__version__} {hashlib.sha256(exe).hexdigest()}")
    _fix_summary(msi, package, built)
    return msi.read_bytes()


def _wxs() -> str:
    version = quoteattr(__version__)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="{_guid(product_code())}" Name="microsip-provisioner agent" Language="1033" Version={version}
           Manufacturer="microsip-provisioner" UpgradeCode="{_guid(UPGRADE_CODE)}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine"
             Description="Applies each user's MicroSIP seat from a microsip-provisioner share" />
    <MajorUpgrade DowngradeErrorMessage="A newer microsip-provisioner agent is already installed." />
    <Media Id="1" Cabinet="agent.cab" EmbedCab="yes" />
    <Property Id="ARPNOMODIFY" Value="1" />
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="INSTALLDIR" Name="{FOLDER}">
          <Component Id="Agent" Guid="{_guid(COMPONENT)}" Win64="yes">
            <File Id="AgentExe" Name="{EXE}" Source="{EXE}" KeyPath="yes" />
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Agent" Level="1"><ComponentRef Id="Agent" /></Feature>
  </Product>
</Wix>
"""


def _guid(value: uuid.UUID) -> str:
    """A GUID as Windows Installer spells it: braces, upper case."""
    return f"{{{str(value).upper()}}}"


def _fix_summary(msi: Path, package: uuid.UUID, when: datetime) -> None:
    """Set the summary's revision (the PackageCode) and both times, in place (same sizes)."""
    import olefile

    filetime = struct.pack("<Q", int(when.timestamp()) * 10_000_000 + 116_444_736_000_000_000)
    revision = _guid(package).encode("ascii") + b"\0"
    with olefile.OleFileIO(str(msi), write_mode=True) as ole:
        data = bytearray(ole.openstream(SUMMARY).read())
        (section,) = struct.unpack_from("<I", data, 44)  # the first (only) section's offset
        (count,) = struct.unpack_from("<I", data, section + 4)
        for i in range(count):
            pid, offset = struct.unpack_from("<II", data, section + 8 + 8 * i)
            at = section + offset
            kind, size = struct.unpack_from("<II", data, at)
            if pid in (CREATED, SAVED) and kind == VT_FILETIME:
                data[at + 4 : at + 12] = filetime
            elif pid == REVISION and kind == VT_LPSTR and size == len(revision):
                data[at + 8 : at + 8 + size] = revision
        ole.write_stream(SUMMARY, bytes(data))


def _signed(work: Path, name: str, data: bytes, sign: Signing) -> bytes:
    """``data`` signed with Authenticode (SHA-256), timestamped when a URL is given."""
    tool = _tool("osslsigncode", "osslsigncode")
    unsigned, signed = work / f"unsigned-{name}", work / name
    unsigned.write_bytes(data)
    command = [tool, "sign", "-certs", str(sign.cert), "-key", str(sign.key), "-h", "sha256"]
    command += ["-n", "microsip-provisioner agent"]
    if sign.timestamp_url is not None:
        command += ["-ts", sign.timestamp_url]
    _run([*command, "-in", str(unsigned), "-out", str(signed)], f"signing {name} with {quoted(str(sign.cert))}")
    return signed.read_bytes()

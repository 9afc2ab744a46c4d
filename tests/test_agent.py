"""The Windows agent, run for real under Wine against a published share and a MicroSIP double.

A Wine prefix stands for the user's PC. ``tests/fixtures/microsip_double.c`` stands for
MicroSIP where the agent's safety depends on it, each behaviour cited from MicroSIP's
source: a top-level window found as MicroSIP finds itself, a second instance handing its
command line over, `/exit` closing it synchronously, its settings saved from memory on
exit, its folder from the shell and the registry (and, for 3.22.3, Windows Installer),
a call (ringing included) holding its RTP and RTCP sockets, a dial target dialled. It logs
what it did (``double.log``), which is what these tests read -- besides the ini, read
back with Windows' own ``GetPrivateProfileStringW`` (tests/fixtures/inidump.c).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from provisioner import ini
from provisioner.distribution import agent_limits
from provisioner.files import contacts as contacts_file
from provisioner.files.change import Judging
from provisioner.render.files import RenderedFile
from provisioner.targetfs.targets import Location, Spot
from tests import microsip_written
from tests.conftest import REPO, RunCli
from tests.wine import MINGW32, WINDRES, WINE, WIXL, boot, build, needs_wine, run, stop, windows, wine_env

pytestmark = needs_wine
AGENT = REPO / "provisioner" / "data" / "agent" / "provisioner-agent.exe"
FOLDER = "C:\\Program Files\\MicroSIP"
DOUBLE_LIBS = ("-mwindows", "-lws2_32", "-lmsi", "-lshlwapi", "-lpsapi", "-lshell32")


def fleet_yaml(
    *,
    version: str = "3.22",
    settings: dict[str, object] | None = None,
    args: str = "/minimized",
    extra_ini: dict[str, dict[str, str]] | None = None,
    contacts_mode: str | None = None,
) -> str:
    defaults: dict[str, object] = {
        "account": {"server": "pbx.example.com", "domain": "example.com", "transport": "tls"},
        "settings": {"autoAnswer": "header", "cmdCallStart": '"C:\\Tools\\crm.exe" --new', **(settings or {})},
        "launch": {"name": "MicroSIP Office", "args": args, "shortcuts": ["desktop", "startup"]},
        "contacts": [{"name": "Helpdesk", "number": "200"}],
    }
    if extra_ini:
        defaults["ini"] = extra_ini
    if contacts_mode:
        defaults["contacts_mode"] = contacts_mode
    seat = {"id": "jdoe", "accounts": [{"username": "2001", "displayName": "John Doe", "password": {"env": "PW"}}]}
    return yaml.safe_dump({"version": 1, "name": "office", "microsip": version, "defaults": defaults, "seats": [seat]})


@dataclass
class Tools:
    inidump: Path
    withenv: Path
    double: Path  # MicroSIP 3.22.3 (x64: this Wine runs 64-bit programs only), its version resource 3.22.3
    double_3_22_16: Path
    double_unversioned: Path  # 3.22.3 without a version resource: the fleet's `microsip:` decides
    double_32bit: Path | None  # only its PE header is read


@dataclass
class PC:
    """A Wine prefix standing for one user's PC, with MicroSIP's double installed."""

    base: Path
    env: dict[str, str]
    tools: Tools
    msis: list[str] = field(default_factory=list)  # product codes

    @property
    def profile(self) -> Path:
        return self.base / "prefix" / "drive_c" / "users" / pwd.getpwuid(os.getuid()).pw_name

    @property
    def ini(self) -> Path:
        return self.profile / "AppData" / "Roaming" / "MicroSIP" / "microsip.ini"

    @property
    def exe_folder(self) -> Path:
        return self.base / "prefix" / "drive_c" / "Program Files" / "MicroSIP"

    @property
    def portable_ini(self) -> Path:
        return self.exe_folder / "microsip.ini"

    def agent(self, share: Path, *extra: str, environment: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        command = [str(AGENT), "--share", windows(share), "--user", "jdoe", "--computer", "PC1", *extra]
        if environment:
            return run(self.env, str(self.tools.withenv), *environment, "--", *command)
        return run(self.env, *command)

    def read(self, *pairs: tuple[str, str], path: Path | None = None) -> list[str]:
        """Values through Windows' own profile API."""
        args = [part for pair in pairs for part in pair]
        for _ in range(2):  # a console program's output is, rarely, lost as Wine starts it: ask once more
            result = run(self.env, str(self.tools.inidump), windows(path or self.ini), *args)
            if result.returncode == 0 and len(result.stdout.splitlines()) == len(pairs):
                break
        assert result.returncode == 0 and len(result.stdout.splitlines()) == len(pairs), (result.stdout, result.stderr)
        return result.stdout.splitlines()

    def log(self) -> list[str]:
        path = self.exe_folder / "double.log"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def wait_log(self, pattern: str, count: int = 1, seconds: float = 30) -> list[str]:
        end = time.monotonic() + seconds
        while True:
            found = [line for line in self.log() if re.fullmatch(pattern, line)]
            if len(found) >= count:
                return found
            assert time.monotonic() < end, f"the double never logged {pattern!r} {count}x: {self.log()}"
            time.sleep(0.1)

    def running(self) -> bool:
        lines = self.log()
        return sum(line.startswith("started") for line in lines) > lines.count("exit")

    def start(self, *args: str) -> None:
        """Start MicroSIP as the user does (and wait for its window)."""
        started = sum(line.startswith("started") for line in self.log())
        assert self.env is not None
        subprocess.Popen(
            [shutil.which("wine64") or shutil.which("wine") or "wine", str(self.exe_folder / "microsip.exe"), *args],
            env=self.env,
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_log("started .*", started + 1)

    def microsip(self, *args: str) -> None:
        """A second MicroSIP process, as a click on a launcher starts one."""
        run(self.env, str(self.exe_folder / "microsip.exe"), *args)

    def drop(self, name: str) -> None:
        """A file the double reads as an event (incoming call, hang-up, window moved)."""
        (self.exe_folder / name).write_text("")

    def exit_microsip(self) -> None:
        if self.running():
            exits = self.log().count("exit")
            self.microsip("/exit")
            self.wait_log("exit", exits + 1)

    def reg(self, *args: str) -> None:
        result = run(self.env, "reg", *args)
        assert result.returncode == 0, result.stderr

    def register(self, value: str | None, root: str = "HKCU", view: str = "64") -> None:
        """The default value of ROOT\\Software\\MicroSIP as MicroSIP's installer writes it (None: no key)."""
        if value is None:
            run(self.env, "reg", "delete", f"{root}\\Software\\MicroSIP", "/f", f"/reg:{view}")
        else:
            self.reg("add", f"{root}\\Software\\MicroSIP", "/ve", "/d", value, "/f", f"/reg:{view}")

    def install_msi(self, location: str | None) -> None:
        """A Windows Installer product named MicroSIP (its InstallLocation, or none)."""
        assert WIXL is not None
        source = self.base / f"product{len(self.msis)}.wxs"
        prop = f'<Property Id="ARPINSTALLLOCATION" Value="{location}"/>' if location is not None else ""
        product = f"{{6E1D3C7A-1B2C-4D5E-8F90-{len(self.msis):012d}}}"
        source.write_text(MSI_SOURCE.format(location=prop, product=product), encoding="utf-8")
        package = source.with_suffix(".msi")
        subprocess.run([WIXL, "-a", "x64", "-o", str(package), str(source)], check=True, timeout=120)
        result = run(self.env, "msiexec", "/i", windows(package), "/qn")
        assert result.returncode == 0, result.stderr
        self.msis.append(product)

    def uninstall_msis(self) -> None:
        for product in self.msis:
            key = f"HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{product}"
            for _ in range(5):
                run(self.env, "msiexec", "/x", product, "/qn")
                if run(self.env, "reg", "query", key).returncode != 0:
                    break
                time.sleep(1)
            else:
                raise AssertionError(f"{product} is still installed")
        self.msis.clear()

    def use_double(self, exe: Path) -> None:
        shutil.copy(exe, self.exe_folder / "microsip.exe")

    def set_ports(self, low: int, high: int) -> None:
        text = microsip_written.TEXT.replace("rtpPortMin=0\n", f"rtpPortMin={low}\n")
        self.ini.write_bytes(microsip_written.utf16(text.replace("rtpPortMax=0\n", f"rtpPortMax={high}\n")))


MSI_SOURCE = """\
<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="{product}" Name="MicroSIP" Language="1033" Version="3.22.3" Manufacturer="test"
           UpgradeCode="6E1D3C7A-1B2C-4D5E-8F90-0A1B2C3D4E5F">
    <Package InstallerVersion="200" Compressed="yes" InstallScope="perMachine"/>
    {location}
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Component Id="Marker" Guid="1A2B3C4D-5E6F-4A7B-8C9D-0E1F2A3B4C5D" Win64="yes">
        <RegistryValue Root="HKLM" Key="Software\\MicroSIP-msi-test" Name="installed" Type="integer" Value="1"
                       KeyPath="yes"/>
      </Component>
    </Directory>
    <Feature Id="Main" Level="1"><ComponentRef Id="Marker"/></Feature>
  </Product>
</Wix>
"""
VERSION_RC = """\
1 VERSIONINFO
FILEVERSION {comma}
PRODUCTVERSION {comma}
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "ProductName", "MicroSIP"
      VALUE "FileVersion", "{dotted}"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
"""


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str], Tools]]:
    """One prefix for the module (wineboot takes seconds); each test resets what it touches."""
    base = tmp_path_factory.mktemp("pc")
    env = wine_env(base)
    boot(env)
    tools_dir = base / "tools"
    tools_dir.mkdir()

    def double(release: str | None, msi_step: int, *, compiler: str | None = None) -> Path:
        """MicroSIP's double, with the version resource MicroSIP's main.rc gives its exe (FILEVERSION)."""
        folder = tools_dir / f"{release}-{msi_step}-{compiler is not None}"
        folder.mkdir()
        flags = [f"-DMSIP_MSI_STEP={msi_step}", *DOUBLE_LIBS]
        if release:
            assert WINDRES is not None
            numbers = [*release.split("."), "0"][:4]
            rc = folder / "version.rc"
            rc.write_text(VERSION_RC.format(comma=",".join(numbers), dotted=release))
            subprocess.run([WINDRES, str(rc), "-O", "coff", "-o", str(folder / "version.res")], check=True)
            flags.insert(0, str(folder / "version.res"))
        return build("microsip_double.c", folder / "microsip.exe", *flags, compiler=compiler)

    tools = Tools(
        inidump=build("inidump.c", tools_dir / "inidump.exe"),
        withenv=build("withenv.c", tools_dir / "withenv.exe"),
        double=double("3.22.3", 1),
        double_3_22_16=double("3.22.16", 0),
        double_unversioned=double(None, 1),
        double_32bit=double(None, 1, compiler=MINGW32) if MINGW32 else None,
    )
    yield base, env, tools
    stop(env)


@pytest.fixture
def pc(machine: tuple[Path, dict[str, str], Tools]) -> Iterator[PC]:
    base, env, tools = machine
    machine_pc = PC(base, env, tools)
    for folder in ("Desktop", "AppData/Roaming/Microsoft/Windows/Start Menu/Programs/StartUp"):
        place = machine_pc.profile / folder
        if place.is_symlink():  # a root prefix links Desktop to $HOME: a real folder keeps the test inside
            place.unlink()
        shutil.rmtree(place, ignore_errors=True)
        place.mkdir(parents=True)
    shutil.rmtree(machine_pc.profile / "AppData" / "Roaming" / "MicroSIP", ignore_errors=True)
    shutil.rmtree(machine_pc.profile / "AppData" / "Local" / "microsip-provisioner", ignore_errors=True)
    shutil.rmtree(machine_pc.exe_folder, ignore_errors=True)
    shutil.rmtree(base / "prefix" / "drive_c" / "MicroSIP", ignore_errors=True)
    machine_pc.exe_folder.mkdir(parents=True)
    machine_pc.use_double(tools.double)
    machine_pc.ini.parent.mkdir(parents=True)
    machine_pc.ini.write_bytes(microsip_written.utf16())
    machine_pc.register(FOLDER)
    for view in ("64", "32"):
        machine_pc.register(None, "HKLM", view)
    yield machine_pc
    machine_pc.exit_microsip()
    run(env, "taskkill", "/f", "/im", "microsip.exe")  # one the agent started again as the test ended
    machine_pc.uninstall_msis()


Publish = Callable[..., Path]


@pytest.fixture
def publish(tmp_path: Path, run_cli: RunCli) -> Publish:
    def publish_fleet(text: str | None = None, out: Path | None = None) -> Path:
        (tmp_path / "fleet.yaml").write_text(text or fleet_yaml(), encoding="utf-8")
        out = out or tmp_path / "share"
        result = run_cli("publish", str(tmp_path / "fleet.yaml"), "--out", str(out), env={"PW": "s3cret"})
        assert result.exit_code == 0, result.output
        return out

    return publish_fleet


@pytest.fixture
def share(publish: Publish) -> Path:
    return publish()


def status(share: Path) -> dict[str, str]:
    return ini.parse(ini.decode((share / "status" / "jdoe" / "jdoe@PC1.ini").read_bytes())[0]).as_dict()["status"]


KEYS = [
    ("Settings", "autoAnswer"),
    ("Settings", "cmdCallStart"),
    ("Account1", "displayName"),
    ("Account1", "password"),
    ("Settings", "mainX"),
    ("Calls", "0"),
    ("Dialed", "0"),
]


def test_agent_binary_is_the_reproducible_build(tmp_path: Path) -> None:
    """The committed exe is what `make -C agent` builds from agent/*.c, byte for byte."""
    out = tmp_path / "agent.exe"
    subprocess.run(["make", "-s", "-B", "-C", str(REPO / "agent"), f"OUT={out}"], check=True, timeout=300)
    assert out.read_bytes() == AGENT.read_bytes(), "rebuild the agent with `make agent` and commit it"


def test_the_agents_limits_are_the_publishers(tmp_path: Path) -> None:
    """agent/agent.h and provisioner/agent_limits.py say the same numbers."""
    header = (REPO / "agent" / "agent.h").read_text()
    names = ["MAX_PAYLOAD_BYTES", "MAX_FILE_BYTES", "MAX_KEYS", "MAX_LAUNCHERS", "MAX_FILES", "MAX_NAME_CHARS"]
    names.append("MAX_EXE_PATH_CHARS")
    for name in names:
        expression = re.search(rf"^#define {name} (.+?)(?:\s*/\*.*)?$", header, re.M)
        assert expression, name
        assert eval(expression.group(1), {}) == getattr(agent_limits, name), name


def test_help_exits_0(pc: PC) -> None:
    result = run(pc.env, str(AGENT), "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: provisioner-agent [--share DIR]")


def test_agent_applies_keeps_user_state_and_then_does_nothing_fast(pc: PC, share: Path) -> None:
    before = dict(zip(KEYS, pc.read(*KEYS), strict=True))
    first = pc.agent(share)
    assert first.returncode == 0, first.stderr
    after = dict(zip(KEYS, pc.read(*KEYS), strict=True))
    assert after[("Settings", "autoAnswer")] == "header"
    assert after[("Settings", "cmdCallStart")] == '"C:\\Tools\\crm.exe" --new'  # quotes survive the profile API
    assert after[("Account1", "displayName")] == "John Doe"
    assert after[("Account1", "password")] == before[("Account1", "password")]  # MicroSIP's encrypted one: kept
    for key in [("Settings", "mainX"), ("Calls", "0"), ("Dialed", "0")]:
        assert after[key] == before[key], key  # the user's state
    assert pc.ini.read_bytes().startswith(ini.BOM)
    assert (pc.profile / "Desktop" / "MicroSIP Office.lnk").read_bytes() == (
        share / "seats/jdoe/MicroSIP Office.lnk"
    ).read_bytes()
    # where Windows (Wine) says the Startup folder is, as SHGetKnownFolderPath answers the agent
    startup = pc.profile / "AppData/Roaming/Microsoft/Windows/Start Menu/Programs/StartUp/MicroSIP Office.lnk"
    assert startup.is_file()
    assert status(share)["result"] == "applied" and status(share)["generation"]
    assert list(pc.ini.parent.glob("*provisioner*")) == []  # no copy left behind

    ini_bytes = pc.ini.read_bytes()
    second = pc.agent(share)
    assert second.returncode == 0
    assert "current: generation" in second.stderr
    assert pc.ini.read_bytes() == ini_bytes
    pc.start()  # what MicroSIP itself then reads
    assert pc.log()[0] == "ini " + INSTALLED.format(user=pc.profile.name)
    assert "loaded Account1.displayName=John Doe" in pc.log() and "loaded autoAnswer=header" in pc.log()


# ---- 1. never end a call ---------------------------------------------------------------


def test_agent_closes_an_idle_microsip_after_its_save_and_starts_it_again(pc: PC, share: Path) -> None:
    pc.start()
    pc.drop("ui-change")  # the user moved the window: MicroSIP saves 5 s later, from memory
    pc.wait_log("window moved")
    result = pc.agent(share)
    assert result.returncode == 0, result.stderr
    log = pc.log()
    assert log.count("saved") == 1 and "exit" in log  # closed as /exit closes it: saved, then quit
    assert not any(line.startswith("hung up") for line in log)
    # MicroSIP's own save came first; the fleet's keys survive it, and its window position is kept
    assert pc.read(("Settings", "autoAnswer"), ("Settings", "mainX")) == ["header", "321"]
    assert pc.wait_log("started .*", 2) == ["started visible", "started visible"]  # as it was, no argument


@pytest.mark.parametrize("event", ["outgoing", "ringing"])
def test_agent_defers_while_a_call_is_in_progress_and_applies_after_it(pc: PC, share: Path, event: str) -> None:
    pc.set_ports(23000, 23010)
    pc.start()
    if event == "outgoing":
        pc.microsip("sip:100@example.com")  # dialled from a second instance, handed over with WM_COPYDATA
    else:
        pc.drop("incoming")  # the INVITE arrived: pjsua opens the media sockets before the call is answered
    pc.wait_log(f"call {event} 23000")
    report = deferred(pc, share)
    assert report["message"].startswith(
        "MicroSIP is in a call or one is ringing: UDP port 23000, in its media ports 23000-23011, is open by "
        "MicroSIP or by a process Windows does not name; nothing changed"
    )
    assert pc.running() and not any(line.startswith("hung up") for line in pc.log())  # the call goes on

    pc.drop("hangup")
    pc.wait_log("far end hung up 1 calls")
    after = pc.agent(share)
    assert after.returncode == 0, after.stderr
    assert pc.read(("Settings", "autoAnswer")) == ["header"]
    assert not any(line.startswith("hung up") for line in pc.log())


def test_agent_defers_on_pjsuas_default_media_port(pc: PC, share: Path) -> None:
    """rtpPortMin 0: pjsua's 4000, and a range without end; the RTP/RTCP pair tells the call."""
    pc.start()
    pc.microsip("100")
    port = int(pc.wait_log(r"call outgoing \d+")[0].split()[-1])
    assert port >= 4000 and port % 2 == 0
    result = pc.agent(share)
    assert result.returncode == 1, result.stderr
    assert f"UDP ports {port} and {port + 1} (RTP and RTCP) are open" in status(share)["message"]
    assert pc.running()
    pc.microsip("/hangupall")


def agent_beside_a_socket(pc: PC, share: Path, port: int) -> subprocess.CompletedProcess[str]:
    """The agent, run while another program holds a UDP socket on ``port`` (0: any free one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind(("127.0.0.1", port))
        return pc.agent(share)


def test_a_socket_whose_owner_cannot_be_told_counts_as_a_call(pc: PC, share: Path) -> None:
    """Wine 8 lists every UDP socket with owner 0: one in the media range may be a call."""
    pc.set_ports(23100, 23110)
    pc.start()
    result = agent_beside_a_socket(pc, share, 23105)
    assert result.returncode == 1, result.stderr
    assert "UDP port 23105, in its media ports 23100-23111" in status(share)["message"]


def test_a_lone_socket_outside_a_bounded_range_is_not_a_call(pc: PC, share: Path) -> None:
    """MicroSIP's SIP transport holds one socket on a random port (mainDlg.cpp 3218): not a call."""
    pc.start()
    result = agent_beside_a_socket(pc, share, 0)  # MicroSIP's SIP socket, say
    assert result.returncode == 0, result.stderr
    assert status(share)["result"] == "applied"


def test_with_ice_and_no_range_a_lone_socket_near_the_first_port_counts(pc: PC, share: Path) -> None:
    """ICE binds each socket anywhere in ten ports a call from the first port (pjsua_media.c 1140-1150)."""
    pc.ini.write_bytes(microsip_written.utf16(microsip_written.TEXT.replace("ICE=0", "ICE=1")))
    pc.start()
    result = agent_beside_a_socket(pc, share, 4199)
    assert result.returncode == 1, result.stderr
    assert "UDP port 4199, in its media ports 4000-4321" in status(share)["message"]


# ---- 2. restart without side effects -----------------------------------------------------


@pytest.mark.parametrize(("started_with", "again"), [((), "started visible"), (("/minimized",), "started hidden")])
def test_agent_starts_microsip_again_as_it_was_never_with_the_launchers_arguments(
    pc: PC, publish: Publish, started_with: tuple[str, ...], again: str
) -> None:
    share = publish(fleet_yaml(args="100"))  # a launcher that dials 100
    assert "100" in (share / "seats" / "jdoe" / "MicroSIP Office.lnk").read_bytes().decode("utf-16-le", "replace")
    pc.start(*started_with)
    result = pc.agent(share)
    assert result.returncode == 0, result.stderr
    assert pc.wait_log("started .*", 2)[-1] == again
    assert not any(line.startswith(("dialled", "command", "call")) for line in pc.log())


def test_agent_leaves_microsip_closed_when_it_was_not_running(pc: PC, share: Path) -> None:
    assert pc.agent(share).returncode == 0
    time.sleep(1)
    assert pc.log() == []


# ---- 3. write where MicroSIP reads -------------------------------------------------------


@pytest.mark.parametrize("appdata", ["APPDATA=", "APPDATA=C:\\no\\such\\folder"])
def test_agent_asks_the_shell_for_appdata_never_the_variable(pc: PC, share: Path, appdata: str) -> None:
    result = pc.agent(share, environment=(appdata,))
    assert result.returncode == 0, result.stderr
    assert pc.read(("Account1", "displayName")) == ["John Doe"]
    assert not (pc.base / "prefix" / "drive_c" / "MicroSIP").exists()
    assert not (pc.base / "prefix" / "drive_c" / "no").exists()
    pc.start()
    assert f"ini C:\\users\\{pc.profile.name}\\AppData\\Roaming\\MicroSIP\\microsip.ini" in pc.log()


# ---- 4. installed or portable, as MicroSIP decides -----------------------------------------


def where_microsip_reads(pc: PC) -> str:
    pc.start()
    line = pc.wait_log("ini .*")[0]
    pc.exit_microsip()
    return line[4:]


INSTALLED = "C:\\users\\{user}\\AppData\\Roaming\\MicroSIP\\microsip.ini"
PORTABLE = FOLDER + "\\microsip.ini"


@pytest.mark.parametrize(
    ("hkcu", "hklm", "expected"),
    [
        (FOLDER, None, INSTALLED),
        ("c:\\program files\\microsip", None, INSTALLED),  # compared ignoring case
        (FOLDER + "\\", None, PORTABLE),  # kept as stored: the trailing backslash makes it another folder
        (None, FOLDER, INSTALLED),  # HKCU has none: HKLM answers
        ("", FOLDER, INSTALLED),  # an empty HKCU value is none too
        ("C:\\Other\\MicroSIP", FOLDER, PORTABLE),  # HKCU answers, HKLM is not asked
        (None, None, PORTABLE),
    ],
)
def test_agent_writes_where_microsip_reads(
    pc: PC, share: Path, hkcu: str | None, hklm: str | None, expected: str
) -> None:
    pc.register(hkcu)
    pc.register(hklm, "HKLM", "64")
    pc.ini.unlink()
    result = pc.agent(share)
    assert result.returncode == 0, result.stderr
    path = expected.format(user=pc.profile.name)
    assert where_microsip_reads(pc) == path
    written = pc.portable_ini if path == PORTABLE else pc.ini
    assert pc.read(("Account1", "displayName"), path=written) == ["John Doe"]
    assert status(share)["ini"] == path
    if path == PORTABLE:
        assert "is not the registered install" in status(share)["message"]


@pytest.mark.parametrize(
    ("location", "double", "version", "expected"),
    [
        (FOLDER + "\\", "double", "3.22", INSTALLED),  # InstallLocation, trailing backslash trimmed
        (None, "double", "3.22", INSTALLED),  # a product without a location: the exe's own folder
        ("C:\\Elsewhere\\", "double", "3.22", PORTABLE),
        (FOLDER + "\\", "double_3_22_16", "3.22.16", PORTABLE),  # 3.22.16 never asks Windows Installer
        # no version resource: the fleet's word; both 3.21 rules ask Windows Installer when HKCU and HKLM are empty
        (FOLDER + "\\", "double_unversioned", "3.21", INSTALLED),
    ],
)
def test_windows_installer_decides_for_3_22_3_only(
    pc: PC, publish: Publish, location: str | None, double: str, version: str, expected: str
) -> None:
    if not WIXL:
        pytest.skip("needs wixl (msitools) to build a Windows Installer package")
    pc.register(None)
    pc.install_msi(location)
    pc.use_double(getattr(pc.tools, double))
    pc.ini.unlink()
    share = publish(fleet_yaml(version=version))
    result = pc.agent(share)
    assert result.returncode == 0, result.stderr
    path = expected.format(user=pc.profile.name)
    assert where_microsip_reads(pc) == path
    assert status(share)["ini"] == path


def test_agent_defers_when_the_fleets_releases_disagree(pc: PC, publish: Publish) -> None:
    """microsip "3.21": 3.21.3 asks Windows Installer only without a registry value, 3.21.6 also when it differs."""
    if not WIXL:
        pytest.skip("needs wixl (msitools) to build a Windows Installer package")
    pc.use_double(pc.tools.double_unversioned)
    pc.register("C:\\Other")
    pc.install_msi(FOLDER + "\\")
    share = publish(fleet_yaml(version="3.21"))
    before = pc.ini.read_bytes()
    result = pc.agent(share)
    assert result.returncode == 1, result.stderr
    assert pc.ini.read_bytes() == before and not pc.portable_ini.exists()
    assert status(share)["message"] == (
        "MicroSIP 3.21 releases differ on whether C:\\Program Files\\MicroSIP is its installed copy (a Windows "
        "Installer product named MicroSIP is registered) and microsip.exe has no version resource to tell the "
        "release by; nothing changed"
    )


def test_the_exes_version_resource_names_the_release(pc: PC, share: Path) -> None:
    """The fleet says 3.22, which may be 3.22.3 or later; the exe says 3.22.16, which never asks Windows Installer."""
    if not WIXL:
        pytest.skip("needs wixl (msitools) to build a Windows Installer package")
    pc.register(None)
    pc.install_msi(FOLDER + "\\")
    pc.use_double(pc.tools.double_3_22_16)
    result = pc.agent(share)
    assert result.returncode == 0, result.stderr
    assert where_microsip_reads(pc) == PORTABLE


@pytest.mark.parametrize(("view", "expected"), [("32", INSTALLED), ("64", PORTABLE)])
def test_a_32_bit_microsip_reads_hklm_in_the_32_bit_view(pc: PC, share: Path, view: str, expected: str) -> None:
    """The shipped MicroSIP is 32-bit (mainDlg.h 32 links the i386 pjproject): HKLM is WOW6432Node to it."""
    if not pc.tools.double_32bit:
        pytest.skip("needs gcc-mingw-w64-i686")
    pc.use_double(pc.tools.double_32bit)  # only its PE header is read: this Wine runs 64-bit programs
    pc.register(None)
    pc.register(FOLDER, "HKLM", view)
    pc.ini.unlink()
    result = pc.agent(share)
    assert result.returncode == 0, result.stderr
    assert status(share)["ini"] == expected.format(user=pc.profile.name)


# ---- 5. the phonebook survives ------------------------------------------------------------


USER_BOOK = (
    b'<?xml version="1.0"?>\r\n<contacts>\r\n'
    b'<contact name="Old Helpdesk" number="200" starred="1" comment="ask for Kim &amp; co" />\r\n'
    b'<contact name="Mum" number="555" starred="1" />\r\n'
    b"</contacts>\r\n"
)


def test_agent_merges_the_phonebook_by_apply_s_rule(pc: PC, share: Path, tmp_path: Path) -> None:
    contacts = pc.ini.parent / "Contacts.xml"
    contacts.write_bytes(USER_BOOK)  # the managed contact comes first
    result = pc.agent(share)
    assert result.returncode == 0, result.stderr
    merged = contacts.read_bytes()
    root = ET.fromstring(merged)
    assert merged.startswith(b'<?xml version="1.0"?>\r\n<contacts>\r\n')
    assert [c.attrib for c in root] == [
        {"name": "Helpdesk", "number": "200", "starred": "1", "comment": "ask for Kim & co"},
        {"name": "Mum", "number": "555", "starred": "1"},
    ]
    fleet_book = (share / "seats" / "jdoe" / "Contacts.xml").read_bytes()
    book = RenderedFile("Contacts.xml", fleet_book, kind="contacts")
    planned = contacts_file.plan(book, "Contacts.xml", Spot(Location(tmp_path), "x"), USER_BOOK, None, Judging())
    assert merged == planned.new  # apply's own merge, byte for byte


def test_agent_replaces_the_phonebook_in_replace_mode(pc: PC, publish: Publish) -> None:
    share = publish(fleet_yaml(contacts_mode="replace"))
    contacts = pc.ini.parent / "Contacts.xml"
    contacts.write_bytes(USER_BOOK)
    assert pc.agent(share).returncode == 0
    assert contacts.read_bytes() == (share / "seats" / "jdoe" / "Contacts.xml").read_bytes()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (("\ufeff" + USER_BOOK.decode()).encode("utf-16-le"), "UTF-16, not UTF-8"),
        (USER_BOOK.replace(b"</contacts>", b"<group name='x'/></contacts>"), "an element other than <contact>"),
        (b'<?xml version="1.0"?>\r\n<contacts>\r\n<contact name="Half', "an unterminated attribute value"),
    ],
    ids=["utf-16", "another element", "cut short"],
)
def test_agent_leaves_a_phonebook_it_cannot_merge_alone(pc: PC, share: Path, content: bytes, why: str) -> None:
    contacts = pc.ini.parent / "Contacts.xml"
    contacts.write_bytes(content)
    result = pc.agent(share)
    assert result.returncode == 0, result.stderr
    assert contacts.read_bytes() == content
    assert f"Contacts.xml as it is: the agent cannot merge it ({why})" in status(share)["message"]


# ---- 6. nothing cut short -------------------------------------------------------------------


def test_a_long_ini_key_is_written_whole(pc: PC, publish: Publish) -> None:
    key = "k" * 150
    share = publish(fleet_yaml(extra_ini={"Custom": {key: "v" * 250}}))
    result = pc.agent(share)
    assert result.returncode == 0, result.stderr
    assert pc.read(("Custom", key)) == ["v" * 250]
    assert pc.read(("Custom", key[:127])) == ["<missing>"]


def test_the_agent_puts_enforced_keys_back_as_apply_does(pc: PC, publish: Publish) -> None:
    """MicroSIP writes enableShortcuts=0 and its own accountId back on exit; both are the fleet's to keep
    (apply's side: tests/test_admin_day_two.py)."""
    fleet = yaml.safe_load(fleet_yaml())
    fleet["seats"][0] |= {"enforce": ["accountId"], "speed_dials": [{"label": "Reception", "number": "200"}]}
    share = publish(yaml.safe_dump(fleet))
    payload = ini.decode((share / "seats/jdoe/seat.ini").read_bytes())[0]
    written = payload.split("[Set Settings]\r\n", 1)[1].split("[", 1)[0].splitlines()
    assert {"accountId=1", "enableShortcuts=1"} <= set(written)  # set on every run, never only seeded
    assert pc.agent(share).returncode == 0
    text, _ = ini.decode(pc.ini.read_bytes())
    pc.ini.write_bytes(
        ini.encode(text.replace("enableShortcuts=1", "enableShortcuts=0").replace("accountId=1", "accountId=2"))
    )
    result = pc.agent(share)
    assert result.returncode == 0, result.stderr
    assert "current: generation" not in result.stderr  # the keys no longer hold: applied again
    assert pc.read(("Settings", "enableShortcuts"), ("Settings", "accountId")) == ["1", "1"]


def test_a_long_share_path_is_found_and_reported(pc: PC, publish: Publish, tmp_path: Path) -> None:
    deep = publish(out=tmp_path / ("d" * 120) / ("e" * 120) / "share")
    assert len(windows(deep)) > 260
    result = pc.agent(deep)
    assert result.returncode == 0, result.stderr
    assert status(deep)["result"] == "applied"


def test_a_failure_says_what_windows_said(pc: PC, share: Path) -> None:
    pc.register(None)  # portable now
    pc.portable_ini.mkdir()  # and a folder stands where its ini goes
    result = pc.agent(share)
    assert result.returncode == 3, result.stderr
    report = status(share)
    assert report["result"] == "failed"
    assert report["message"].startswith(f"cannot replace {PORTABLE} (")
    assert re.search(r" \(error \d+\)\)$", report["message"])  # Windows' words for it, then its code
    assert list(pc.exe_folder.glob("*provisioner*")) == []


def test_agent_defers_until_microsip_is_installed(pc: PC, share: Path) -> None:
    (pc.exe_folder / "microsip.exe").unlink()
    before = pc.ini.read_bytes()
    result = pc.agent(share)
    assert result.returncode == 1, result.stderr
    assert pc.ini.read_bytes() == before
    assert status(share)["message"] == (
        f"MicroSIP is not at {FOLDER}\\microsip.exe (not installed yet?); nothing changed, the agent tries again "
        "at its next run"
    )


@pytest.mark.parametrize("user", ["jdoe", "zoe.mueller"])
def test_the_golden_share_applies_through_the_agent(pc: PC, tmp_path: Path, user: str) -> None:
    """tests/golden/publish, as publish writes it, is what this agent applies (a conformance replay)."""
    share = tmp_path / "golden"
    shutil.copytree(REPO / "tests" / "golden" / "publish", share)
    (share / "agent").mkdir()
    shutil.copy(AGENT, share / "agent" / "provisioner-agent.exe")
    folder = next(p for p in (share / "seats").iterdir() if p.name.split("@")[0] == user)
    computer = folder.name.partition("@")[2] or "PC1"
    text = ini.decode((folder / "seat.ini").read_bytes())[0]
    body = ini.parse(text.partition("\r\n\r\n")[2])
    pc.ini.unlink()
    result = run(pc.env, str(AGENT), "--share", windows(share), "--user", user, "--computer", computer)
    assert result.returncode == 0, result.stderr
    wanted = [(s.name[4:], e.key, e.value) for s in body.sections if s.name.startswith("Set ") for e in s.entries]
    values = pc.read(*[(section, key) for section, key, _ in wanted])
    for (section, key, value), got in zip(wanted, values, strict=True):
        assert got == (value[1:-1] if value[:1] == value[-1:] == '"' and len(value) > 1 else value), (section, key)


def test_publish_refuses_a_seat_the_agent_cannot_hold(tmp_path: Path, run_cli: RunCli) -> None:
    text = fleet_yaml().replace("- accounts:", "- install: {exe: 'C:\\" + "x" * 260 + "\\microsip.exe'}\n  accounts:")
    (tmp_path / "fleet.yaml").write_text(text, encoding="utf-8")
    result = run_cli("publish", str(tmp_path / "fleet.yaml"), "--out", str(tmp_path / "share"), env={"PW": "s3cret"})
    assert result.exit_code == 2, result.output
    assert (
        "seats[jdoe]: install.exe is 276 characters long; MicroSIP reads at most 259 (the Windows agent could not apply it)"
        in result.stderr
    )
    assert not (tmp_path / "share").exists()


# ---- faults: two agents at once, a full disk, a bad backup (issue "Guests, round two") ----------


def sections(path: Path) -> dict[str, dict[str, str]]:
    return ini.parse(ini.decode(path.read_bytes())[0]).as_dict()


def test_two_agents_at_once_never_lose_a_section(pc: PC, share: Path) -> None:
    """A logon script and a logon task, two sessions, a manual run during logon: one agent a user at a time."""
    assert WINE is not None
    original = sections(pc.ini)
    command = [WINE, str(AGENT), "--share", windows(share), "--user", "jdoe", "--computer", "PC1"]
    for _ in range(50):
        pc.ini.write_bytes(microsip_written.utf16())
        shutil.rmtree(pc.profile / "AppData" / "Local" / "microsip-provisioner", ignore_errors=True)
        agents = [
            subprocess.Popen(command, env=pc.env, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(2)
        ]
        assert [agent.wait(timeout=120) for agent in agents] == [0, 0]
        after = sections(pc.ini)
        for name in ("account2", "calls", "dialed", "shortcuts"):  # as_dict() spells names in lower case
            assert after[name] == original[name], name
        assert after["settings"]["mainx"] == "412" and after["account1"]["displayname"] == "John Doe"
        assert list(pc.ini.parent.glob("*provisioner*")) == []


@pytest.fixture
def small_disk(pc: PC) -> Iterator[Path]:
    """The MicroSIP folder on a tmpfs of two pages: the ini fits, a copy of it too, and nothing more."""
    folder = pc.ini.parent
    shutil.rmtree(folder)
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        if os.environ.get("CI") == "true":  # never a silent skip in CI
            raise RuntimeError(f"CI=true but a tmpfs cannot be mounted: {mounted.stderr.decode()}")
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_never_installs_a_torn_ini(pc: PC, share: Path, small_disk: Path) -> None:
    pc.ini.write_bytes(microsip_written.utf16())  # 3,848 bytes: one page of the two
    result = pc.agent(share)
    assert result.returncode == 3, result.stderr
    assert pc.ini.read_bytes() == microsip_written.utf16()
    report = status(share)
    assert report["result"] == "failed"
    assert "(error 112)" in report["message"]  # ERROR_DISK_FULL, in Windows' words before it
    assert [p.name for p in small_disk.iterdir()] == ["microsip.ini"]


def test_the_backup_before_the_last_one_is_kept(pc: PC, publish: Publish) -> None:
    local = pc.profile / "AppData" / "Local" / "microsip-provisioner"
    first = publish(fleet_yaml())
    assert pc.agent(first).returncode == 0
    after_first = pc.ini.read_bytes()
    second = publish(fleet_yaml(settings={"autoAnswer": "all"}))
    assert pc.agent(second).returncode == 0
    assert (local / "ini.bak").read_bytes() == after_first
    assert (local / "ini.bak.previous").read_bytes() == microsip_written.utf16()


# ---- 8. tests leave nothing behind -----------------------------------------------------------


def test_wine_keeps_the_users_home_out_of_it(pc: PC) -> None:
    home = Path(pc.env["HOME"])
    assert home.is_relative_to(pc.base)
    assert (pc.profile / "Desktop").resolve().is_relative_to(pc.base)
    assert not (Path(pwd.getpwuid(os.getuid()).pw_dir) / "MicroSIP Office.lnk").exists()


@pytest.mark.parametrize("damage", ["cut", "flip"])
def test_agent_refuses_a_damaged_payload_then_applies_it_repaired(pc: PC, share: Path, damage: str) -> None:
    """A damaged seat.ini changes nothing; once repaired, the next run applies it and says so."""
    payload = share / "seats" / "jdoe" / "seat.ini"
    good = payload.read_bytes()
    assert pc.agent(share).returncode == 0  # applied once already
    data = bytearray(good)
    if damage == "cut":
        payload.write_bytes(bytes(data[: len(data) // 2]))
    else:
        data[-10] ^= 0x01
        payload.write_bytes(bytes(data))
    before = pc.ini.read_bytes()
    result = pc.agent(share)
    assert result.returncode == 2, result.stderr
    assert pc.ini.read_bytes() == before
    report = status(share)
    assert report["result"] == "damaged" and report["folder"] == "jdoe" and report["seat"] == ""
    payload.write_bytes(good)
    again = pc.agent(share)
    assert again.returncode == 0, again.stderr
    assert "already applied" in again.stderr  # nothing to write: the same generation holds
    report = status(share)
    assert (report["result"], report["seat"], report["format"]) == ("applied", "jdoe", "2")
    assert report["message"] == "ok (already applied)"


def test_a_seat_whose_launcher_has_not_arrived_is_deferred(pc: PC, share: Path) -> None:
    """DFS-R delivers seat.ini before its launcher: not damage, just early (exit 1, nothing changed)."""
    launcher = share / "seats" / "jdoe" / "MicroSIP Office.lnk"
    whole = launcher.read_bytes()
    launcher.write_bytes(b"an older shortcut")
    report = deferred(pc, share)
    assert report["message"] == (
        "MicroSIP Office.lnk of the seat does not match seat.ini yet; not fully replicated yet; nothing changed"
    )
    launcher.unlink()
    assert "is not there yet" in status_after(pc, share)["message"]
    launcher.write_bytes(whole)
    assert pc.agent(share).returncode == 0
    assert status(share)["result"] == "applied"


def deferred(pc: PC, share: Path) -> dict[str, str]:
    """Run the agent, which must defer with the ini untouched; its report."""
    before = pc.ini.read_bytes()
    result = pc.agent(share)
    assert result.returncode == 1, result.stderr
    assert pc.ini.read_bytes() == before
    report = status(share)
    assert report["result"] == "deferred"
    return report


def status_after(pc: PC, share: Path) -> dict[str, str]:
    assert pc.agent(share).returncode == 1
    return status(share)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("[Launchers]\r\n..\\..\\evil.lnk=desktop", "a launcher name or place the agent does not accept"),
        ("[Files]\r\nx\\y.lnk=" + "0" * 64, "a malformed [Files] line"),
        ("[Set Settings]\r\n=value", "an empty or malformed key"),
    ],
)
def test_agent_refuses_a_hostile_payload(pc: PC, share: Path, line: str, why: str) -> None:
    """A payload whose checksum holds but whose content reaches outside: refused as if hostile."""
    import hashlib

    payload = share / "seats" / "jdoe" / "seat.ini"
    header, _, body = ini.decode(payload.read_bytes())[0].partition("\r\n\r\n")
    body = body + line + "\r\n"
    data = body.encode("utf-16-le")
    header = re.sub(r"length=\d+", f"length={len(data)}", header)
    header = re.sub(r"checksum=\w+", f"checksum={hashlib.sha256(data).hexdigest()}", header)
    payload.write_bytes(ini.BOM + (header + "\r\n\r\n").encode("utf-16-le") + data)
    result = pc.agent(share)
    assert result.returncode == 2, result.stderr
    assert status(share)["message"].endswith(f"seat.ini: {why}; nothing changed")


def test_agent_rollback_restores_the_ini_before_the_apply(pc: PC, share: Path) -> None:
    before = pc.ini.read_bytes()
    assert pc.agent(share).returncode == 0
    assert pc.ini.read_bytes() != before
    assert pc.agent(share, "--rollback").returncode == 0
    assert pc.ini.read_bytes() == before


def test_no_seat_for_this_user_is_nothing_to_do(pc: PC, share: Path) -> None:
    result = run(pc.env, str(share / "agent" / "provisioner-agent.exe"), "--share", windows(share), "--user", "nobody")
    assert result.returncode == 0
    assert "no seat for nobody" in result.stderr


def test_agent_with_a_missing_share_does_nothing(pc: PC, tmp_path: Path) -> None:
    result = run(pc.env, str(AGENT), "--share", windows(tmp_path / "no-such-share"), "--user", "jdoe")
    assert result.returncode == 0
    assert "no seat for jdoe" in result.stderr
    assert pc.ini.read_bytes() == microsip_written.utf16()


def test_status_shows_the_rollout(pc: PC, share: Path, run_cli: RunCli) -> None:
    waiting = run_cli("status", str(share))
    assert waiting.exit_code == 1
    assert waiting.stdout.splitlines()[0].split() == ["never", "seen", "jdoe", "jdoe"]
    assert pc.agent(share).returncode == 0
    done = run_cli("status", str(share), "--format", "json")
    assert done.exit_code == 0, done.output
    assert '"state": "applied"' in done.stdout


def test_agent_keeps_a_launcher_it_did_not_place(pc: PC, share: Path) -> None:
    desktop = pc.profile / "Desktop" / "MicroSIP Office.lnk"
    desktop.write_bytes(b"the user's own shortcut")
    result = pc.agent(share)
    assert result.returncode == 0, result.stderr
    assert desktop.read_bytes() == b"the user's own shortcut"
    assert "not a launcher this agent placed" in result.stderr


def test_agent_on_a_pc_without_an_ini_creates_a_unicode_one(pc: PC, share: Path) -> None:
    """A file the profile API creates would be ANSI; the agent starts it as MicroSIP does, with a BOM."""
    pc.ini.unlink()
    result = pc.agent(share)
    assert result.returncode == 0, result.stderr
    assert pc.ini.read_bytes().startswith(ini.BOM)
    assert pc.read(("Account1", "displayName"), ("Account1", "password")) == ["John Doe", "s3cret"]


def test_a_read_only_ini_is_reported_once_then_left_alone(pc: PC, share: Path) -> None:
    """A read-only ini fails the seat with nothing changed, says so in one report, and is not retried at every logon."""
    before = pc.ini.read_bytes()
    pc.ini.chmod(0o444)  # Wine shows a file without write bits as FILE_ATTRIBUTE_READONLY
    first = pc.agent(share)
    assert first.returncode == 3, first.stderr
    report = status(share)
    assert report["result"] == "failed"
    assert report["message"].startswith("the ini is read-only, so MicroSIP cannot save to it either; nothing changed")
    (share / "status" / "jdoe" / "jdoe@PC1.ini").unlink()
    second = pc.agent(share)
    assert second.returncode == 3
    assert "is still read-only: reported once for generation" in second.stderr
    assert not (share / "status" / "jdoe" / "jdoe@PC1.ini").exists()  # no report at every logon
    assert pc.ini.read_bytes() == before
    pc.ini.chmod(0o644)
    third = pc.agent(share)
    assert third.returncode == 0, third.stderr
    assert status(share)["result"] == "applied"

"""The Windows agent, run for real under Wine against a published share.

A Wine prefix stands for the user's PC: MicroSIP registered the way its installer
does (``HKCU\\Software\\MicroSIP``), a stand-in ``microsip.exe`` (tests/fixtures/
fakesip.c) that answers ``/exit`` and saves its settings from memory when it closes,
and an ini MicroSIP itself wrote. Results are read back with Windows' own
``GetPrivateProfileStringW`` (tests/fixtures/inidump.c), not with our parser.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner import ini
from tests import microsip_written
from tests.conftest import REPO, RunCli

WINE = shutil.which("wine64") or shutil.which("wine")
MINGW = shutil.which("x86_64-w64-mingw32-gcc")
if os.environ.get("CI") == "true" and not (WINE and MINGW):  # never a silent skip in CI
    raise RuntimeError("CI=true but Wine or MinGW-w64 is missing: `make test` installs them as root")
pytestmark = pytest.mark.skipif(
    not (WINE and MINGW), reason="needs Wine and gcc-mingw-w64 (make test installs them when run as root)"
)
AGENT = REPO / "provisioner" / "data" / "agent" / "provisioner-agent.exe"
FLEET = """\
version: 1
name: office
defaults:
  account: {server: pbx.example.com, domain: example.com, transport: tls}
  settings: {autoAnswer: header, cmdCallStart: '"C:\\Tools\\crm.exe" --new'}
  launch: {name: MicroSIP Office, args: /minimized, shortcuts: [desktop, startup]}
  contacts: [{name: Helpdesk, number: "200"}]
seats:
  - id: jdoe
    accounts: [{username: "2001", displayName: John Doe, password: {env: PW}}]
"""


@dataclass
class PC:
    """A Wine prefix standing for one user's PC."""

    prefix: Path
    env: dict[str, str]
    tools: Path

    @property
    def profile(self) -> Path:
        return self.prefix / "drive_c" / "users" / pwd.getpwuid(os.getuid()).pw_name

    @property
    def ini(self) -> Path:
        return self.profile / "AppData" / "Roaming" / "MicroSIP" / "microsip.ini"

    @property
    def exe_folder(self) -> Path:
        return self.prefix / "drive_c" / "Program Files" / "MicroSIP"

    def wine(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a Windows program; its output goes through files, not pipes (a MicroSIP it starts
        would hold a pipe open long after it exited)."""
        assert WINE is not None
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run(
                [WINE, *args], env=self.env, cwd="/", stdout=out, stderr=err, timeout=timeout, check=False
            )
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(
                proc.args, proc.returncode, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
            )

    def agent(self, share: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.wine(
            str(share / "agent" / "provisioner-agent.exe"),
            "--share",
            windows(share),
            "--user",
            "jdoe",
            "--computer",
            "PC1",
            *extra,
        )

    def read(self, *pairs: tuple[str, str]) -> list[str]:
        """Values through Windows' own profile API."""
        args = [part for pair in pairs for part in pair]
        result = self.wine(str(self.tools / "inidump.exe"), windows(self.ini), *args)
        return result.stdout.splitlines()

    def start_microsip(self) -> None:
        (self.exe_folder / "running.txt").unlink(missing_ok=True)
        assert WINE is not None
        subprocess.Popen(
            [WINE, str(self.exe_folder / "microsip.exe")],
            env=self.env,
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.exe_folder / "running.txt")


def windows(path: Path) -> str:
    return "Z:" + str(path).replace("/", "\\")


def wait_for(path: Path, seconds: float = 30) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.1)


def build(source: str, out: Path, *flags: str) -> None:
    assert MINGW is not None
    subprocess.run(
        [MINGW, "-municode", "-O2", *flags, "-o", str(out), str(REPO / "tests" / "fixtures" / source)],
        check=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def wine_prefix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str], Path]]:
    """One prefix for the module (wineboot takes seconds); each test resets what it touches."""
    base = tmp_path_factory.mktemp("pc")
    prefix = base / "prefix"
    env = {k: v for k, v in os.environ.items() if k not in ("APPDATA", "LOCALAPPDATA", "USERPROFILE", "DISPLAY")}
    env.update(WINEPREFIX=str(prefix), WINEDEBUG="-all", HOME=str(base), WINEDLLOVERRIDES="winemenubuilder.exe=d")
    assert WINE is not None
    subprocess.run([WINE, "wineboot", "-i"], env=env, capture_output=True, timeout=300, check=False)
    subprocess.run(
        [WINE, "reg", "add", "HKCU\\Software\\MicroSIP", "/ve", "/d", "C:\\Program Files\\MicroSIP", "/f"],
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    tools = base / "tools"
    tools.mkdir()
    build("inidump.c", tools / "inidump.exe")
    build("fakesip.c", tools / "microsip.exe", "-mwindows")
    yield prefix, env, tools
    subprocess.run([WINE, "wineserver", "-k"], env=env, capture_output=True, timeout=60, check=False)


@pytest.fixture
def pc(wine_prefix: tuple[Path, dict[str, str], Path]) -> PC:
    prefix, env, tools = wine_prefix
    machine = PC(prefix, env, tools)
    for folder in ("Desktop", "AppData/Roaming/Microsoft/Windows/Start Menu/Programs/StartUp"):
        place = machine.profile / folder
        if place.is_symlink():  # Wine links Desktop to $HOME; a real folder keeps the test inside
            place.unlink()
        shutil.rmtree(place, ignore_errors=True)
        place.mkdir(parents=True)
    shutil.rmtree(machine.profile / "AppData" / "Roaming" / "MicroSIP", ignore_errors=True)
    shutil.rmtree(machine.profile / "AppData" / "Local" / "microsip-provisioner", ignore_errors=True)
    shutil.rmtree(machine.exe_folder, ignore_errors=True)
    machine.exe_folder.mkdir(parents=True)
    shutil.copy(tools / "microsip.exe", machine.exe_folder / "microsip.exe")
    machine.ini.parent.mkdir(parents=True)
    machine.ini.write_bytes(microsip_written.utf16())
    return machine


@pytest.fixture
def share(tmp_path: Path, run_cli: RunCli) -> Path:
    (tmp_path / "fleet.yaml").write_text(FLEET, encoding="utf-8")
    result = run_cli("publish", str(tmp_path / "fleet.yaml"), "--out", str(tmp_path / "share"), env={"PW": "s3cret"})
    assert result.exit_code == 0, result.output
    return tmp_path / "share"


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
    """The committed exe is what `make -C agent` builds from agent/agent.c, byte for byte."""
    out = tmp_path / "agent.exe"
    subprocess.run(["make", "-s", "-C", str(REPO / "agent"), f"OUT={out}"], check=True, timeout=300)
    assert out.read_bytes() == AGENT.read_bytes(), "rebuild the agent with `make agent` and commit it"


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
    assert b'number="200"' in (pc.ini.parent / "Contacts.xml").read_bytes()
    report = ini.parse(ini.decode((share / "status" / "jdoe@PC1.ini").read_bytes())[0]).as_dict()["status"]
    assert report["result"] == "applied" and report["generation"]

    ini_bytes = pc.ini.read_bytes()
    start = time.monotonic()
    second = pc.agent(share)
    assert second.returncode == 0
    assert "current: generation" in second.stderr
    assert pc.ini.read_bytes() == ini_bytes
    assert time.monotonic() - start < 20  # it only reads; Wine's own start-up is most of it


def test_agent_closes_microsip_applies_after_its_save_and_restarts_it(pc: PC, share: Path) -> None:
    pc.start_microsip()
    (pc.exe_folder / "running.txt").unlink()
    result = pc.agent(share)
    assert result.returncode == 0, result.stderr
    assert (pc.exe_folder / "exited.txt").exists()  # asked with /exit, it saved and quit
    values = pc.read(("Settings", "savedBy"), ("Settings", "autoAnswer"))
    assert values == ["fakesip", "header"]  # MicroSIP's save came first; the fleet's keys survive it
    wait_for(pc.exe_folder / "running.txt")
    time.sleep(0.5)  # created, then written
    assert (pc.exe_folder / "running.txt").read_bytes().decode("utf-16-le") == "/minimized"  # the seat's args
    pc.wine(str(pc.exe_folder / "microsip.exe"), "/exit")


def test_agent_defers_when_microsip_will_not_exit(pc: PC, share: Path) -> None:
    (pc.exe_folder / "stubborn").write_text("in a call")
    pc.start_microsip()
    before = pc.ini.read_bytes()
    result = pc.agent(share, "--wait", "2000")
    assert result.returncode == 1, result.stderr
    assert pc.ini.read_bytes() == before
    report = ini.parse(ini.decode((share / "status" / "jdoe@PC1.ini").read_bytes())[0]).as_dict()["status"]
    assert report["result"] == "deferred"
    (pc.exe_folder / "stubborn").unlink()
    pc.wine(str(pc.exe_folder / "microsip.exe"), "/exit")


@pytest.mark.parametrize("damage", ["cut", "flip", "lnk"])
def test_agent_refuses_a_damaged_payload(pc: PC, share: Path, damage: str) -> None:
    payload = share / "seats" / "jdoe" / "seat.ini"
    data = bytearray(payload.read_bytes())
    if damage == "cut":
        payload.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "flip":
        data[-10] ^= 0x01
        payload.write_bytes(bytes(data))
    else:
        (share / "seats" / "jdoe" / "MicroSIP Office.lnk").write_bytes(b"half a shortcut")
    before = pc.ini.read_bytes()
    result = pc.agent(share)
    assert result.returncode == 2, result.stderr
    assert pc.ini.read_bytes() == before
    report = ini.parse(ini.decode((share / "status" / "jdoe@PC1.ini").read_bytes())[0]).as_dict()["status"]
    assert report["result"] == "damaged"


def test_agent_rollback_restores_the_ini_before_the_apply(pc: PC, share: Path) -> None:
    before = pc.ini.read_bytes()
    assert pc.agent(share).returncode == 0
    assert pc.ini.read_bytes() != before
    assert pc.agent(share, "--rollback").returncode == 0
    assert pc.ini.read_bytes() == before


def test_no_seat_for_this_user_is_nothing_to_do(pc: PC, share: Path) -> None:
    result = pc.wine(str(share / "agent" / "provisioner-agent.exe"), "--share", windows(share), "--user", "nobody")
    assert result.returncode == 0
    assert "no seat for nobody" in result.stderr


def test_status_shows_the_rollout(pc: PC, share: Path, run_cli: RunCli) -> None:
    waiting = run_cli("status", str(share))
    assert waiting.exit_code == 1
    assert waiting.stdout.splitlines()[0].split() == ["never", "seen", "jdoe", "jdoe"]
    assert pc.agent(share).returncode == 0
    done = run_cli("status", str(share), "--format", "json")
    assert done.exit_code == 0, done.output
    assert '"state": "applied"' in done.stdout


def test_agent_keeps_a_launcher_it_did_not_place_and_merges_the_phonebook(pc: PC, share: Path) -> None:
    desktop = pc.profile / "Desktop" / "MicroSIP Office.lnk"
    desktop.write_bytes(b"the user's own shortcut")
    contacts = pc.ini.parent / "Contacts.xml"
    contacts.write_bytes(
        b'<?xml version="1.0"?>\r\n<contacts>\r\n<contact name="Mum" number="555" />\r\n'
        b'<contact name="Old Helpdesk" number="200" />\r\n</contacts>\r\n'
    )
    result = pc.agent(share)
    assert result.returncode == 0, result.stderr
    assert desktop.read_bytes() == b"the user's own shortcut"
    assert "not a launcher this agent placed" in result.stderr
    merged = contacts.read_bytes()
    assert b'name="Mum" number="555"' in merged  # the user's own contact stays
    assert b"Old Helpdesk" not in merged and merged.count(b'number="200"') == 1  # the fleet's replaces its number
    assert merged.rstrip().endswith(b"</contacts>")


def test_agent_warns_when_microsip_would_read_another_ini(pc: PC, share: Path) -> None:
    assert pc.wine("reg", "delete", "HKCU\\Software\\MicroSIP", "/f").returncode == 0
    try:
        result = pc.agent(share)
        assert result.returncode == 0, result.stderr
        assert "is not the registered install (none): it would run portable" in result.stderr
        report = ini.parse(ini.decode((share / "status" / "jdoe@PC1.ini").read_bytes())[0]).as_dict()["status"]
        assert "it would run portable" in report["message"]
    finally:
        pc.wine("reg", "add", "HKCU\\Software\\MicroSIP", "/ve", "/d", "C:\\Program Files\\MicroSIP", "/f")


def test_agent_with_a_missing_share_does_nothing(pc: PC, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-share"
    result = pc.wine(str(AGENT), "--share", windows(missing), "--user", "jdoe")
    assert result.returncode == 0
    assert "no seat for jdoe" in result.stderr
    assert pc.ini.read_bytes() == microsip_written.utf16()


def test_agent_on_a_pc_without_an_ini_creates_a_unicode_one(pc: PC, share: Path) -> None:
    """A file the profile API creates would be ANSI; the agent starts it with a BOM so Windows writes Unicode."""
    pc.ini.unlink()
    result = pc.agent(share)
    assert result.returncode == 0, result.stderr
    data = pc.ini.read_bytes()
    assert data.startswith(ini.BOM)
    assert pc.read(("Account1", "displayName"), ("Account1", "password")) == ["John Doe", "s3cret"]

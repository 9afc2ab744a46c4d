"""Launchers: the real command line, .lnk read back independently, .cmd, .desktop, legacy flags."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import LnkParse3
import pytest
import yaml

from provisioner.fleet import load_fleet
from provisioner.launchers import command_line, shortcuts
from provisioner.models import Launch
from tests.conftest import REPO, BuildTree, RunCli
from tests.wine import needs_wine, wine_env

GOLDEN = REPO / "tests" / "golden" / "example"
EXE = "C:\\Program Files\\MicroSIP\\microsip.exe"


# --- launch.args -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        "",
        "/minimized",
        "/exit",
        "/answer",
        "/hangupall",
        "/hangupcalling",
        "/hangupincoming",
        "/dtmf:123#",
        "/transfer:200",
        "/account:2",
        "/account:2 5551234",
        "5551234",
        "+4930123",
        "sip:alice@example.com",
        "tel:+4930123",
        "callto:bob",
    ],
)
def test_args_microsip_understands(args: str) -> None:
    assert command_line.check_args(args, "3.22") is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            "--user 101",
            "MicroSIP has no --user flag: it reads its whole command line as one string, so it "
            "would dial '--user' and send '101' to it as an instant message. Set accounts and settings in the "
            "fleet instead (`launch.legacy_flags` or `provisioner translate-flags` translate such flags)",
        ),
        (
            "--autoanswer",
            "MicroSIP has no --autoanswer flag: it reads its whole command line as one string, "
            "so it would dial '--autoanswer'. Set accounts and settings in the fleet instead "
            "(`launch.legacy_flags` or `provisioner translate-flags` translate such flags)",
        ),
        (
            "/minimized /exit",
            "MicroSIP takes one switch or one dial target; with a space it would dial "
            "'/minimized' and send '/exit' to it as an instant message. Use one of: " + command_line.ARGS_FORMS,
        ),
        (
            "/MINIMIZED",
            "'/MINIMIZED' is not a MicroSIP switch (switches match exactly and are case-sensitive); "
            "MicroSIP would try to dial it. Use one of: " + command_line.ARGS_FORMS,
        ),
        (
            "/account:1 /password:x",
            "'/password:' is refused: the password would be visible to every user in "
            "the process list; set `password` in the seat's accounts instead",
        ),
        ("/account:0", "/account:N counts accounts from 1"),
        (
            "alice bob",
            "MicroSIP takes one switch or one dial target; with a space it would dial 'alice' and "
            "send 'bob' to it as an instant message. Use one of: " + command_line.ARGS_FORMS,
        ),
    ],
)
def test_args_microsip_would_misread(args: str, message: str) -> None:
    assert command_line.check_args(args, "3.22") == message


def test_args_depend_on_the_version() -> None:
    assert (
        command_line.check_args("/hangupincoming", "3.20")
        == "/hangupincoming is not understood by MicroSIP 3.20 (it arrived in 3.21)"
    )
    assert (
        command_line.check_args("/account:1", "3.19")
        == "/account:N is not understood by MicroSIP 3.19 (it arrived in 3.21)"
    )


# --- .lnk ------------------------------------------------------------------------------------


def parsed(data: bytes) -> dict:  # type: ignore[type-arg]
    import io

    return LnkParse3.lnk_file(io.BytesIO(data)).get_json()  # type: ignore[no-any-return]


def test_lnk_reads_back_with_an_independent_parser() -> None:
    data = shortcuts.lnk_bytes(EXE, "/minimized", "MicroSIP (Reception)", minimized=True)
    lnk = parsed(data)
    assert lnk["link_info"]["local_base_path"] == EXE
    assert lnk["link_info"]["location_info"]["drive_type"] == "DRIVE_FIXED"
    assert lnk["data"] == {
        "description": "MicroSIP (Reception)",
        "working_directory": "C:\\Program Files\\MicroSIP",
        "command_line_arguments": "/minimized",
        "icon_location": EXE,
    }
    assert lnk["header"]["windowstyle"] == "SW_SHOWMINNOACTIVE"
    items = lnk["target"]["items"]
    assert [i["class"] for i in items] == [
        "Root Folder",
        "Volume Item",
        "File entry",
        "File entry",
        "File entry",
    ]
    assert items[0]["sort_index"] == "My Computer"
    assert [(i["primary_name"], i["flags"]) for i in items[2:]] == [
        ("Program Files", "Is directory"),
        ("MicroSIP", "Is directory"),
        ("microsip.exe", "Is file"),
    ]
    assert "HasLinkInfo" in lnk["header"]["link_flags"]


def test_lnk_is_reproducible_and_normal_window_without_minimized() -> None:
    one = shortcuts.lnk_bytes(EXE, "", "MicroSIP", minimized=False)
    assert one == shortcuts.lnk_bytes(EXE, "", "MicroSIP", minimized=False)
    lnk = parsed(one)
    assert lnk["header"]["windowstyle"] == "SW_SHOWNORMAL"
    assert "command_line_arguments" not in lnk["data"]


def test_golden_lnk_files_match_and_parse() -> None:
    golden = GOLDEN / "reception" / "Desktop" / "MicroSIP (Reception).lnk"
    assert golden.read_bytes() == shortcuts.lnk_bytes(EXE, "/minimized", "MicroSIP (Reception)", minimized=True)
    assert parsed(golden.read_bytes())["data"]["command_line_arguments"] == "/minimized"


@pytest.mark.parametrize(
    ("exe", "message"),
    [
        ("microsip.exe", "a shortcut needs the exe's full Windows path (C:\\...), got 'microsip.exe'"),
        (
            "C:\\Programme\\Müller\\microsip.exe",
            "'C:\\Programme\\Müller\\microsip.exe' has non-ASCII characters; "
            "a shortcut's LinkInfo block stores the path in the machine's ANSI code page, so install MicroSIP under an ASCII path",
        ),
    ],
)
def test_lnk_target_problems(exe: str, message: str) -> None:
    assert command_line.lnk_target_problem(exe) == message


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Micro/SIP", "'Micro/SIP' contains '/', which Windows file names cannot"),
        ("CON", "the launcher name 'CON' is a reserved device name on Windows (CON); choose another"),
        ("MicroSIP.", "'MicroSIP.' is not a usable file name (empty, or leading/trailing blanks or dots)"),
    ],
)
def test_launcher_names(name: str, message: str) -> None:
    assert command_line.name_problem(name) == message


@pytest.fixture(scope="module")
def wine_prefix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One Wine prefix for the module, its HOME inside the test tree too (wineboot takes seconds)."""
    return wine_env(tmp_path_factory.mktemp("wine"))


@needs_wine
def test_lnk_resolves_through_wines_shell_link_api(tmp_path: Path, wine_prefix: dict[str, str]) -> None:
    """Read back with Windows' own IShellLinkW (tests/fixtures/lnkdump.c), not with our writer."""
    path = tmp_path / "MicroSIP.lnk"
    path.write_bytes(shortcuts.lnk_bytes(EXE, "/minimized", "MicroSIP Zoë", minimized=True))
    reader = tmp_path / "lnkdump.exe"
    subprocess.run(
        [
            "x86_64-w64-mingw32-gcc",
            "-municode",
            "-O2",
            "-o",
            str(reader),
            str(REPO / "tests" / "fixtures" / "lnkdump.c"),
            "-lole32",
            "-luuid",
            "-lshell32",
        ],
        check=True,
        timeout=120,
    )
    wine = shutil.which("wine64") or shutil.which("wine") or "wine"
    proc = subprocess.run(
        [wine, str(reader), "Z:" + str(path).replace("/", "\\")],
        env=wine_prefix,
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        timeout=300,
        check=True,
    )
    target, id_list, arguments, working_dir, description, show = proc.stdout.decode("utf-8").splitlines()
    assert (target, id_list, arguments) == (EXE, EXE, "/minimized")
    assert working_dir == "C:\\Program Files\\MicroSIP"
    assert description == "MicroSIP Zoë"
    assert show == "7"  # Wine ignores it on load; the header holds it


# --- .cmd ------------------------------------------------------------------------------------


def test_cmd_launcher_text() -> None:
    data = shortcuts.cmd_bytes("MicroSIP-sales.exe", "/minimized")
    assert data == (
        b"@echo off\r\n"
        b"rem Starts MicroSIP from the folder this file is in (written by microsip-provisioner).\r\n"
        b'start "" /D "%~dp0." "%~dp0MicroSIP-sales.exe" /minimized\r\n'
    )


def test_cmd_escapes_what_cmd_would_interpret() -> None:
    data = shortcuts.cmd_bytes("microsip.exe", "sip:a&b@x%20y")
    assert data.splitlines()[2] == b'start "" /D "%~dp0." "%~dp0microsip.exe" sip:a^&b@x%%20y'


@pytest.mark.parametrize(
    ("args", "escaped"),
    [
        ('tel:1"2^&3', 'tel:1"2^&3'),  # after the quote cmd is in quoted mode: ^ and & are literal
        ('"q&w" a&b (x)', '"q&w" a^&b ^(x^)'),
        ("100% ^caret", "100%% ^^caret"),
        ('a"b"c|d', 'a"b"c^|d'),
    ],
)
def test_cmd_escaping_follows_cmds_quote_state(args: str, escaped: str) -> None:
    """cmd toggles a quote flag on every `"`: special characters need ^ only outside quotes."""
    assert shortcuts.cmd_escape(args) == escaped


def test_cmd_exe_name_percent_is_doubled() -> None:
    data = shortcuts.cmd_bytes("Micro%OS%sip.exe", "")
    assert data.splitlines()[2] == b'start "" /D "%~dp0." "%~dp0Micro%%OS%%sip.exe"'


@pytest.mark.parametrize("name", ["CON", "nul.txt", "COM1", "Lpt9.lnk", "com¹", "CONOUT$", "x.", "x "])
def test_reserved_windows_names_are_refused(name: str) -> None:
    assert command_line.reserved_problem(name) is not None
    assert command_line.name_problem(name) is not None


@pytest.mark.parametrize("name", ["Console", "COM10", "null", "LPT", "aux-desk"])
def test_ordinary_names_are_not_reserved(name: str) -> None:
    assert command_line.reserved_problem(name) is None


def test_cmd_refuses_non_ascii() -> None:
    assert command_line.cmd_problem("MicroSIP-Zoë.exe", "") == (
        "the exe name 'MicroSIP-Zoë.exe' has non-ASCII characters; a .cmd launcher is read in the console's "
        "OEM code page, which would garble them -- use an ASCII name"
    )


@needs_wine  # runs a .cmd
@pytest.mark.parametrize(
    ("exe_name", "args", "received"),
    [
        ("MicroSIP-sales.exe", "/minimized", "/minimized"),
        ("Micro%OS%sip.exe", "tel:1^&3|x", "tel:1^&3|x"),
        ("MicroSIP-sales.exe", "sip:a&b@x%20y (x) 100% ^c <d>", "sip:a&b@x%20y (x) 100% ^c <d>"),
        # Wine's `start` is a program that splits its arguments and joins them again (Windows'
        # cmd hands the rest of the line on as written): the argument survives as a command-line
        # parser reads it -- `tel:1"2^&3` is the one argument `tel:12^&3` -- and cmd corrupted nothing
        ("MicroSIP-sales.exe", 'tel:1"2^&3', "tel:12^&3"),
    ],
)
def test_cmd_starts_the_exe_beside_it_from_anywhere(
    tmp_path: Path, wine_prefix: dict[str, str], exe_name: str, args: str, received: str
) -> None:
    """Run under Wine's cmd: a stand-in exe reports the exact command line and folder it got."""
    folder = tmp_path / "USB Stick" / "Micro SIP (Sales)"
    folder.mkdir(parents=True)
    exe = folder / exe_name
    subprocess.run(
        [
            "x86_64-w64-mingw32-gcc",
            "-municode",
            "-O2",
            "-o",
            str(exe),
            str(REPO / "tests" / "fixtures" / "argdump.c"),
        ],
        check=True,
        timeout=120,
    )
    launcher = folder / "MicroSIP Sales.cmd"
    launcher.write_bytes(shortcuts.cmd_bytes(exe.name, args))
    windows = "Z:" + str(launcher).replace("/", "\\")
    wine = shutil.which("wine64") or shutil.which("wine") or "wine"
    env = {**wine_prefix, "OS": "Windows_NT"}
    subprocess.run([wine, "cmd", "/c", "call", windows], cwd="/", env=env, timeout=300, check=True, capture_output=True)
    for _ in range(100):  # `start` returns before the exe has written its file
        if (folder / "argdump.txt").exists() and (folder / "argdump.txt").read_text().count("\n") >= 2:
            break
        time.sleep(0.1)
    command_line, cwd = (folder / "argdump.txt").read_text(encoding="utf-8").splitlines()
    windows_folder = "Z:" + str(folder).replace("/", "\\")
    assert command_line == f'"{windows_folder}\\{exe_name}" {received}'
    assert cwd.rstrip("\\") == windows_folder


# --- .desktop --------------------------------------------------------------------------------


def unquote_exec(value: str) -> list[str]:
    """Read an Exec value back per the Desktop Entry spec (string escapes, then quoting)."""
    text = value.replace("\\\\", "\0").replace("\\s", " ").replace("\0", "\\")
    args, current, quoted, i = [], "", False, 0
    while i < len(text):
        ch = text[i]
        if quoted and ch == "\\" and i + 1 < len(text):
            current += text[i + 1]
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == " " and not quoted:
            args.append(current)
            current = ""
        else:
            current += ch
        i += 1
    args.append(current)
    return [a.replace("%%", "%") for a in args]


def test_desktop_exec_round_trips() -> None:
    prefix = "/home/kim/My Wine $HOME `x` 100%"
    data = shortcuts.desktop_bytes("MicroSIP (Kim)", prefix, EXE, "/minimized", "kim")
    lines = data.decode().splitlines()
    assert lines[0] == "[Desktop Entry]"
    exec_line = next(line for line in lines if line.startswith("Exec="))
    assert unquote_exec(exec_line[5:]) == ["env", f"WINEPREFIX={prefix}", "wine", EXE, "/minimized"]


@pytest.mark.skipif(
    not shutil.which("desktop-file-validate"),
    reason="desktop-file-validate (Debian desktop-file-utils) is not installed",
)
def test_desktop_file_validates(tmp_path: Path) -> None:
    path = tmp_path / "microsip-kim.desktop"
    path.write_bytes(shortcuts.desktop_bytes("MicroSIP (Kim)", "/home/kim/.wine", EXE, "/minimized", "kim"))
    proc = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout


# --- legacy flags ------------------------------------------------------------------------------


def test_translate_flags_command(run_cli: RunCli) -> None:
    result = run_cli(
        "translate-flags",
        "--",
        "--dn",
        "John Doe",
        "--user",
        "101",
        "--password",
        "secret123",
        "--autoanswer",
        "1",
        "--show",
        "minimized",
        "--log",
        "C:\\calls.csv",
    )
    assert result.exit_code == 0, result.output
    assert "secret123" not in result.output
    assert result.stdout == (
        "# translated from: --dn 'John Doe' --user 101 --password '********' --autoanswer 1 --show minimized "
        "--log 'C:\\calls.csv'\n"
        "settings:\n"
        "  autoAnswer: all\n"
        "account:\n"
        "  displayName: John Doe\n"
        "  username: '101'\n"
        "  password: {env: MICROSIP_PASSWORD}  # the password from the command line is not copied: set "
        "MICROSIP_PASSWORD, or use {file: path}\n"
        "launch:\n"
        "  args: /minimized\n"
    )
    assert result.stderr.splitlines() == [
        "warning: --password: the password is not copied; set it in the environment variable MICROSIP_PASSWORD "
        "(or use {file: path}) -- a password on a command line is visible to every user",
        "warning: --log C:\\calls.csv: MicroSIP has no CSV call log (call history stays in the ini's [Calls]); "
        "nothing was translated",
    ]
    layer = yaml.safe_load(result.stdout)
    assert layer["account"]["password"] == {"env": "MICROSIP_PASSWORD"}


def test_translated_yaml_validates_as_a_layer(run_cli: RunCli, build_tree: BuildTree) -> None:
    out = run_cli(
        "translate-flags",
        "--",
        "--dn",
        "Jo",
        "--domain",
        "pbx.example.com",
        "--stun",
        "stun.example.com",
        "--call",
        "5551234",
        "--setvolume",
        "80",
        "--debug",
        "C:\\x.log",
    )
    assert out.exit_code == 0
    indented = "".join(f"  {line}\n" for line in out.stdout.splitlines())
    build_tree(
        {
            "fleet.yaml": f"version: 1\nname: t\ndefaults:\n{indented}seats:\n  - id: s\n    accounts: [{{username: '1'}}]\n"
        }
    )
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--autoanswer", "2"], "error: --autoanswer takes 0 or 1, got '2'\n"),
        (
            ["--ini", "x"],
            "error: '--ini' is not one of the legacy flags (--dn, --user, --domain, --password, --proxy, "
            "--stun, --call, --autoanswer, --dialplan, --show, --debug, --log, --setvolume, --micvolume)\n",
        ),
        (["--user"], "error: --user needs a value\n"),
        (["--setvolume", "loud"], "error: --setvolume takes a volume from 0 to 100, got 'loud'\n"),
        (
            ["--call", "alice bob"],
            "error: launch.args: MicroSIP takes one switch or one dial target; with a space it "
            "would dial 'alice' and send 'bob' to it as an instant message. Use one of: "
            + command_line.ARGS_FORMS
            + "\n",
        ),
    ],
)
def test_translate_flags_errors(run_cli: RunCli, argv: list[str], message: str) -> None:
    result = run_cli("translate-flags", "--", *argv)
    assert result.exit_code == 2
    assert result.stderr == message


def test_legacy_flags_in_a_fleet(build_tree: BuildTree) -> None:
    build_tree(
        {
            "fleet.yaml": """\
        version: 1
        name: t
        defaults:
          account: {domain: example.com}
        seats:
          - id: s
            settings: {autoAnswer: header}
            launch: {legacy_flags: '--autoanswer 1 --dn "John Doe" --show minimized --log C:\\calls.csv'}
            accounts: [{username: "1"}]
        """
        }
    )
    fleet = load_fleet(Path("fleet.yaml"))
    seat = fleet.seat("s")
    assert seat.settings == {"autoAnswer": "header"}  # the layer's own key wins over the translation
    assert seat.accounts == [{"displayName": "John Doe", "domain": "example.com", "username": "1"}]
    assert seat.launch == Launch(args="/minimized")
    assert [str(w) for w in fleet.warnings] == [
        "fleet.yaml:8:28: warning: seats[s].launch.legacy_flags: --log C:\\calls.csv: MicroSIP has no CSV call "
        "log (call history stays in the ini's [Calls]); nothing was translated"
    ]


def test_bad_legacy_flags_in_a_fleet(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "fleet.yaml": "version: 1\nname: t\nseats:\n  - id: s\n    launch: {legacy_flags: '--autoanswer yes --user'}\n    accounts: [{domain: d}]\n"
        }
    )
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "fleet.yaml:5:28: seats[s].launch.legacy_flags: --autoanswer takes 0 or 1, got 'yes'",
        "fleet.yaml:5:28: seats[s].launch.legacy_flags: --user needs a value",
        "2 errors",
    ]

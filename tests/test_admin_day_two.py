"""An admin's day, round two: each stumble a new admin reproduced, and the behaviour that replaced it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from pytest import MonkeyPatch

from provisioner import ini, state
from tests.conftest import BuildTree, RunCli

#: A fleet of an office whose profiles are below users/.
HEAD = """\
version: 1
name: office
defaults:
  target: {type: appdata, root: users}
seats:
"""
OFFICE = (
    HEAD
    + """\
  - id: ana
    accounts: [{username: '100', domain: example.com, password: {env: ANA_PW}}]
  - id: ben
    target: {type: appdata, root: profiles}
    accounts: [{username: '101', domain: example.com, password: {env: BEN_PW}}]
  - id: usb
    install: {mode: portable}
    target: {type: portable, path: stick/MicroSIP}
    accounts: [{username: '102', domain: example.com}]
"""
)


# --- 1. validate --targets --secrets: every problem of every kind at once -----------------------------


def test_validate_reports_missing_roots_portable_folders_and_secrets_in_one_pass(
    build_tree: BuildTree, run_cli: RunCli
) -> None:
    build_tree({"fleet.yaml": OFFICE})
    result = run_cli("validate", "fleet.yaml", "--targets", "--secrets", env={"ANA_PW": None, "BEN_PW": None})
    assert result.exit_code == 2
    profiles_hint = (
        "create it, point the target at the folder that holds the user profiles (C:/Users on a Windows admin PC,"
        " a mounted //server/profiles share), or re-root a trial with --root DIR"
    )
    assert result.stderr.splitlines() == [
        f"fleet.yaml:4:33: seats[ana].target.root: the target root users does not exist; {profiles_hint}",
        "fleet.yaml:7:65: seats[ana].accounts[1].password: environment variable ANA_PW is not set (secret env:ANA_PW)",
        f"fleet.yaml:9:35: seats[ben].target.root: the target root profiles does not exist; {profiles_hint}",
        "fleet.yaml:10:65: seats[ben].accounts[1].password: environment variable BEN_PW is not set (secret env:BEN_PW)",
        "fleet.yaml:13:36: seats[usb].target.path: the portable folder stick/MicroSIP does not exist; plug in the"
        " drive that holds the portable MicroSIP (a USB stick keeps its folder), create the folder beside its exe"
        " (`provisioner bundle` builds one), or re-root a trial with --root DIR",
        "5 errors",
    ]


def test_validate_takes_root_as_plan_does(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": OFFICE})
    for folder in ("trial/users", "trial/profiles", "trial/stick/MicroSIP"):
        Path(folder).mkdir(parents=True)
    result = run_cli("validate", "fleet.yaml", "--targets", "--root", "trial")
    assert result.exit_code == 0, result.output
    assert run_cli("validate", "fleet.yaml", "--targets").exit_code == 2  # not below the current folder


# --- 2. an enforced key is put back on every apply, never a conflict -----------------------------------

SPEED_DIAL = (
    HEAD
    + """\
  - id: ana
    accounts: [{username: '100', domain: example.com}]
    enforce: [accountId]
    speed_dials: [{label: Reception, number: '200'}]
"""
)
ANA_INI = Path("users/ana/AppData/Roaming/MicroSIP/microsip.ini")


def microsip_exits_writing(changes: dict[str, str]) -> None:
    """MicroSIP writes its state back on exit: here enableShortcuts=0 and another account."""
    text, _ = ini.decode(ANA_INI.read_bytes())
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new)
    ANA_INI.write_bytes(ini.encode(text))


def test_enforced_keys_microsip_rewrote_are_put_back_without_a_conflict(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": SPEED_DIAL})
    Path("users/ana").mkdir(parents=True)
    assert run_cli("apply", "fleet.yaml").exit_code == 0
    microsip_exits_writing({"enableShortcuts=1": "enableShortcuts=0", "accountId=1": "accountId=2"})
    result = run_cli("apply", "fleet.yaml", "--verbose")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[3].startswith("  backup: .provisioner-state/targets/ana-") and lines[3].endswith(".1.bak")
    assert lines[:3] + lines[4:] == [
        f"update     ana                  {ANA_INI.as_posix()}",
        "  note: [Settings] accountId: set back to '1' ('2' on disk; the fleet enforces it on every apply)",
        "  note: [Settings] enableShortcuts: set back to '1' ('0' on disk; the fleet enforces it on every apply)",
        "apply: 1 seat written, 0 unchanged, 0 in conflict, 0 failed (of 1)",
    ]
    text, _ = ini.decode(ANA_INI.read_bytes())
    assert "enableShortcuts=1\r\n" in text and "accountId=1\r\n" in text
    assert run_cli("verify", "fleet.yaml").exit_code == 0


# --- 3. a stock Wine prefix: the Desktop link refuses that launcher alone ------------------------------

WINE = """\
version: 1
name: office
seats:
  - id: kim
    target: {type: wine, prefix: prefix, user: kim}
    accounts: [{username: '103', domain: example.com}]
    launch: {shortcuts: [desktop, start_menu]}
"""


def stock_prefix() -> None:
    """What wineboot makes: drive_c/users/<login>/Desktop is a link to $HOME."""
    Path("login").mkdir()
    Path("prefix/drive_c/users/kim").mkdir(parents=True)
    Path("prefix/drive_c/users/kim/Desktop").symlink_to(Path("login").resolve())
    Path("prefix/user.reg").write_text(
        'WINE REGISTRY Version 2\n\n[Software\\\\MicroSIP] 1700000000\n#time=1\n@="C:\\\\Program Files\\\\MicroSIP"\n'
    )


def test_a_wine_desktop_link_refuses_that_launcher_and_applies_the_rest(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": WINE})
    stock_prefix()
    result = run_cli("apply", "fleet.yaml")
    assert result.exit_code == 3
    users = Path("prefix/drive_c/users/kim")
    assert result.stdout.splitlines() == [
        f"create     kim                  {users}/AppData/Roaming/MicroSIP/microsip.ini",
        f"create     kim                  {users}/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/MicroSIP.lnk",
        "apply: 0 seats written, 0 unchanged, 0 in conflict, 1 with a refused file, 0 failed (of 1)",
    ]
    assert result.stderr.splitlines() == [
        f"refused    kim                  {users}/Desktop/MicroSIP.lnk",
        f"  why: {users}/Desktop: is a link or not a folder; refused: Wine links Desktop to $HOME (wineboot makes"
        " it so); drop `desktop` from `shortcuts`, or make Desktop a plain folder in the prefix (remove the link,"
        " then mkdir Desktop)",
    ]
    assert (users / "AppData/Roaming/MicroSIP/microsip.ini").is_file()
    assert (users / "AppData/Roaming/Microsoft/Windows/Start Menu/Programs/MicroSIP.lnk").is_file()
    assert list(Path("login").iterdir()) == []  # nothing written through the link
    document = json.loads(run_cli("plan", "fleet.yaml", "--format", "json").stdout)
    assert [(t["action"], t["path"]) for t in document["targets"]] == [
        ("unchanged", f"{users}/AppData/Roaming/MicroSIP/microsip.ini"),
        ("unchanged", f"{users}/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/MicroSIP.lnk"),
        ("refused", f"{users}/Desktop/MicroSIP.lnk"),
    ]
    assert document["summary"]["seats"]["partial"] == 1 and document["exit_code"] == 3
    verify = run_cli("verify", "fleet.yaml")
    assert verify.exit_code == 1
    assert verify.stdout.splitlines()[0].startswith(f"drift   kim: {users}/Desktop/MicroSIP.lnk: cannot be checked: ")


# --- 5. import: the output plans as it is wherever it is saved ----------------------------------------

FOUND = ini.encode(
    "[Settings]\r\naccountId=1\r\n[Account1]\r\nusername=100\r\ndomain=example.com\r\n"
    "server=sip:pbx.example.com\r\nproxy=sip:edge1.example.com sip:edge2.example.com:5070\r\npassword=Winter2026\r\n"
    "[Account2]\r\nusername=101\r\ndomain=example.com\r\npassword=3f2a9c41d07e6b5a8c1e2d3f4a5b6c7d\r\n"
)

PLAIN = ini.encode("[Settings]\r\naccountId=1\r\n[Account1]\r\nusername=100\r\ndomain=example.com\r\n")


def test_import_out_plans_from_another_folder(build_tree: BuildTree, run_cli: RunCli, monkeypatch: MonkeyPatch) -> None:
    build_tree({"pcs/Users/kim/AppData/Roaming/MicroSIP/microsip.ini": PLAIN})
    result = run_cli("import", "pcs/Users/kim/AppData/Roaming/MicroSIP/microsip.ini", "--out", "fleets/office.yaml")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert (
        result.stderr.splitlines()[-1]
        == "wrote fleets/office.yaml (1 seat); next: provisioner validate fleets/office.yaml"
    )
    saved = yaml.safe_load(Path("fleets/office.yaml").read_text(encoding="utf-8"))
    assert saved["seats"][0]["target"] == {"type": "appdata", "root": str(Path("pcs/Users").resolve())}  # not below it
    assert (
        run_cli(
            "import", "pcs/Users/kim/AppData/Roaming/MicroSIP/microsip.ini", "--out", "fleets/office.yaml"
        ).exit_code
        == 2
    )
    printed = run_cli("import", "pcs/Users/kim/AppData/Roaming/MicroSIP/microsip.ini").stdout
    Path("elsewhere").mkdir()
    Path("elsewhere/office.yaml").write_text(printed, encoding="utf-8")
    monkeypatch.chdir("elsewhere")
    for fleet in ("office.yaml", "../fleets/office.yaml"):
        plan = run_cli("plan", fleet)
        assert plan.exit_code == 0, plan.output
        assert plan.stdout == "plan: 1 seat: 0 to create, 0 to update, 1 unchanged, 0 in conflict\n", fleet


def test_import_strips_sip_from_server_and_says_which_password_was_plain(
    build_tree: BuildTree, run_cli: RunCli
) -> None:
    build_tree({"Users/kim/AppData/Roaming/MicroSIP/microsip.ini": FOUND})
    result = run_cli("import", "Users/kim/AppData/Roaming/MicroSIP/microsip.ini")
    assert result.exit_code == 0, result.output
    accounts = yaml.safe_load(result.stdout)["seats"][0]["accounts"]
    assert accounts[0]["server"] == "pbx.example.com"
    assert accounts[0]["proxy"] == "edge1.example.com edge2.example.com:5070"
    lines = [line.strip() for line in result.stdout.splitlines() if "password:" in line]
    assert lines == [
        'password: {env: "SIP_PASSWORD_KIM_1"}  # plain-text password not copied: set this variable',
        'password: {env: "SIP_PASSWORD_KIM_2"}  # MicroSIP\'s encrypted password was not copied: set this variable',
    ]


# --- 6. output scripts can rely on -----------------------------------------------------------------

TWO_ROOTS = """\
version: 1
name: office
seats:
  - id: ana
    target: {type: appdata, root: users}
    accounts: [{username: '100', domain: example.com}]
  - id: ben
    target: {type: appdata, root: gone}
    accounts: [{username: '101', domain: example.com}]
"""
BEN_FAILED = (
    "failed     ben: gone: the target root does not exist (seat ben); create it, point the target at the folder"
    " that holds the user profiles (C:/Users on a Windows admin PC, a mounted //server/profiles share), or re-root"
    " a trial with --root DIR"
)


def test_every_command_names_a_failed_seat_on_stderr_even_when_quiet(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": TWO_ROOTS})
    Path("users/ana").mkdir(parents=True)
    runs = [
        ("plan", (), "plan: 2 seats: 1 to create, 0 to update, 0 unchanged, 0 in conflict, 1 failed"),
        ("plan", ("-q",), "plan: 2 seats: 1 to create, 0 to update, 0 unchanged, 0 in conflict, 1 failed"),
        ("apply", (), "apply: 1 seat written, 0 unchanged, 0 in conflict, 1 failed (of 2)"),
        ("apply", ("-q",), "apply: 0 seats written, 1 unchanged, 0 in conflict, 1 failed (of 2)"),
        ("verify", (), "verify: 0 of 2 seats drifted, 1 failed"),
        ("verify", ("-q",), "verify: 0 of 2 seats drifted, 1 failed"),
    ]
    for command, level, last in runs:
        result = run_cli(command, "fleet.yaml", *level)
        assert result.exit_code == 3, (command, level)
        word = "failed  " if command == "verify" else "failed     "  # verify's column is narrower
        assert result.stderr.splitlines() == [word + BEN_FAILED.removeprefix("failed     ")], (command, level)
        assert result.stdout.splitlines()[-1] == last
        assert level == () or result.stdout.splitlines() == [last]


def test_json_summaries_count_seats_under_one_name(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": TWO_ROOTS})
    Path("users/ana").mkdir(parents=True)
    plan = json.loads(run_cli("plan", "fleet.yaml", "--format", "json").stdout)
    assert plan["summary"] == {
        "seats": {
            "total": 2,
            "create": 1,
            "update": 0,
            "unchanged": 0,
            "conflict": 0,
            "partial": 0,
            "waiting": 0,
            "failed": 1,
        }
    }
    verify = json.loads(run_cli("verify", "fleet.yaml", "--format", "json").stdout)
    assert verify["summary"] == {"seats": {"total": 2, "unchanged": 0, "drift": 1, "waiting": 0, "failed": 1}}


def test_explain_json_has_one_shape_for_one_seat_or_many(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": TWO_ROOTS})
    one = json.loads(run_cli("explain", "fleet.yaml", "--seat", "ana", "--format", "json").stdout)
    both = json.loads(run_cli("explain", "fleet.yaml", "--seat", "ana", "--seat", "ben", "--format", "json").stdout)
    assert set(one) == set(both) and "values" not in one
    assert [s["seat"] for s in one["seats"]] == ["ana"] and [s["seat"] for s in both["seats"]] == ["ana", "ben"]
    assert one["seats"][0] == both["seats"][0]


def test_a_forced_apply_says_it_overwrote(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": TWO_ROOTS.replace("root: gone", "root: users")})
    Path("users/ana").mkdir(parents=True)
    Path("users/ben").mkdir(parents=True)
    assert run_cli("apply", "fleet.yaml").exit_code == 0
    path = Path("users/ana/AppData/Roaming/MicroSIP/microsip.ini")
    path.write_bytes(ini.encode(ini.decode(path.read_bytes())[0].replace("username=100", "username=999")))
    document = json.loads(run_cli("apply", "fleet.yaml", "--force", "--format", "json").stdout)
    assert [(t["seat"], t["action"], t.get("result")) for t in document["targets"]] == [
        ("ana", "overwrite", "applied"),
        ("ben", "unchanged", "unchanged"),
    ]


# --- 7. messages ---------------------------------------------------------------------------------------

ESCAPE_HINT = (
    "in double quotes a backslash starts an escape (\\n, \\t, ...): write a Windows path in single quotes"
    " ('C:\\Program Files\\...') or with forward slashes (C:/Program Files/...)"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"C:\\Users"', f"fleet.yaml:5:40: YAML syntax error: did not find expected hexdecimal number; {ESCAPE_HINT}"),
        (
            '"D:\\x-files"',
            f"fleet.yaml:5:40: YAML syntax error: did not find expected hexdecimal number; {ESCAPE_HINT}",
        ),
        (
            '"D:\\Phone"',
            'fleet.yaml:5:35: in double quotes \\P became a paragraph separator, so "D:\\Phone" is not the path it'
            " looks like: write a Windows path in single quotes or with forward slashes",
        ),
    ],
)
def test_every_backslash_escape_in_a_double_quoted_path_gets_the_path_hint(
    build_tree: BuildTree, run_cli: RunCli, value: str, expected: str
) -> None:
    build_tree(
        {"fleet.yaml": f"version: 1\nname: t\nseats:\n  - id: a\n    target: {{type: appdata, root: {value}}}\n"}
    )
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [expected, "1 error"]
    assert not Path(".provisioner-state").exists()


def test_a_colon_in_a_plain_value_asks_for_quotes(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "fleet.yaml": "version: 1\nname: t\nseats:\n  - id: a\n    accounts:\n      - domain: d\n        displayName: Kim: Support\n"
        }
    )
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "fleet.yaml:7:25: YAML syntax error: mapping values are not allowed in this context; a value holding ': '"
        " must be quoted: displayName: 'Kim: Support'",
        "1 error",
    ]


def test_keys_and_explain_keep_their_columns_with_long_values(build_tree: BuildTree, run_cli: RunCli) -> None:
    listing = run_cli("keys").stdout.splitlines()[:-1]
    starts = {line.index(" 3.", 60) for line in listing[1:]}  # the versions column
    assert starts == {listing[0].index("versions") - 1}
    assert [re.split(r"\s{2,}", line)[3] for line in listing if line.startswith("audioCodecs ")] == [
        '"PCMA/8000/1 PCMU/8000/\u2026'
    ]  # cut in the list, whole in `keys audioCodecs`
    long_command = '"C:\\Program Files\\CRM Connector\\bin\\crm-popup.exe" --new-call --caller {number}'
    build_tree(
        {
            "fleet.yaml": "version: 1\nname: t\nseats:\n  - id: a\n    accounts: [{domain: d}]\n"
            f"    settings: {{cmdCallStart: '{long_command}', autoAnswer: header}}\n"
        }
    )
    rows = run_cli("explain", "fleet.yaml", "--seat", "a").stdout.splitlines()[1:]
    assert any(long_command in row for row in rows)
    assert len({row.index("fleet.yaml:") for row in rows if "fleet.yaml:" in row}) == 1


def test_help_keeps_every_summary_whole_and_ends_each_command_with_examples(run_cli: RunCli) -> None:
    from provisioner.cli import main

    top = " ".join(run_cli("--help").stdout.split())
    for name, command in main.commands.items():
        first = " ".join((command.help or "").split("\n\n")[0].split()).split(". ")[0]
        assert first.rstrip(".") in top, name
        lines = run_cli(name, "--help").stdout.rstrip("\n").splitlines()
        at = lines.index("  Examples:")
        examples = [line.strip() for line in lines[at + 1 :]]
        assert 1 <= len(examples) <= 2 and all(e.startswith(f"provisioner {name}") for e in examples), name


# --- 4. leavers: listed by plan and verify, retired by apply --prune --------------------------------

LEAVING = (
    HEAD
    + """\
  - id: ana
    accounts: [{username: '100', domain: example.com}]
  - id: ben
    accounts: [{username: '101', domain: example.com, displayName: Ben}]
    launch: {shortcuts: [desktop]}
    contacts: [{name: Helpdesk, number: '200'}]
"""
)
BEN = Path("users/ben")
BEN_INI = BEN / "AppData/Roaming/MicroSIP/microsip.ini"
BEN_LINK = BEN / "Desktop/MicroSIP.lnk"
BEN_BOOK = BEN / "AppData/Roaming/MicroSIP/Contacts.xml"
LEFT_LINE = "left       ben: left the fleet; its files stay until `apply --prune` takes back what the tool made"


def ben_left(build_tree: BuildTree, run_cli: RunCli) -> None:
    """Ana and Ben were applied; then Ben left: the admin took him out of the fleet."""
    build_tree({"fleet.yaml": LEAVING})
    for user in ("ana", "ben"):
        Path("users", user).mkdir(parents=True)
    assert run_cli("apply", "fleet.yaml").exit_code == 0
    text, _ = ini.decode(BEN_INI.read_bytes())  # MicroSIP ran: its own state, and Ben renamed himself
    BEN_INI.write_bytes(ini.encode(text.replace("displayName=Ben", "displayName=Benjamin") + "[Calls]\r\n0=200\r\n"))
    Path("fleet.yaml").write_text(LEAVING[: LEAVING.index("  - id: ben")], encoding="utf-8")


def test_plan_and_verify_list_a_seat_that_left_the_fleet(build_tree: BuildTree, run_cli: RunCli) -> None:
    ben_left(build_tree, run_cli)
    plan = run_cli("plan", "fleet.yaml")
    assert plan.exit_code == 0, plan.output
    assert plan.stdout.splitlines() == [
        LEFT_LINE,
        "plan: 1 seat: 0 to create, 0 to update, 1 unchanged, 0 in conflict, 1 seat left the fleet",
    ]
    verify = run_cli("verify", "fleet.yaml")
    assert verify.stdout.splitlines() == [LEFT_LINE, "verify: 0 of 1 seat drifted, 1 seat left the fleet"]
    document = json.loads(run_cli("plan", "fleet.yaml", "--format", "json").stdout)
    assert document["left"] == [
        {
            "seat": "ben",
            "files": [str(BEN_LINK), str(BEN_BOOK), str(BEN_INI)],  # in the order of the manifest's names
        }
    ]
    assert run_cli("plan", "fleet.yaml", "--seat", "ana").stdout.splitlines()[-1].endswith("in conflict")
    assert BEN_LINK.is_file() and BEN_BOOK.is_file()  # listing changes nothing


def test_apply_prune_takes_back_what_the_tool_made_and_nothing_else(build_tree: BuildTree, run_cli: RunCli) -> None:
    ben_left(build_tree, run_cli)
    dry = run_cli("apply", "fleet.yaml", "--prune", "--dry-run")
    assert dry.exit_code == 0 and BEN_LINK.is_file()
    result = run_cli("apply", "fleet.yaml", "--prune")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "retired    ben: left the fleet; took back what the tool made",
        f"  {BEN_LINK}: removed",
        f"  {BEN_BOOK}: removed",
        f"  {BEN_INI}: managed keys removed (2; 1 changed since, kept; MicroSIP's own state kept)",
        "apply: 0 seats written, 1 unchanged, 0 in conflict, 0 failed (of 1), 1 left the fleet (retired)",
    ]
    assert not BEN_LINK.exists() and not BEN_BOOK.exists()
    text, _ = ini.decode(BEN_INI.read_bytes())
    values = ini.parse(text).as_dict()
    assert values["account1"] == {"displayname": "Benjamin"}  # his own change stays
    assert values["calls"] == {"0": "200"} and values["settings"]["accountid"] == "1"
    backups = sorted(p.name.split(".2026")[0] for p in Path(".provisioner-state/targets").glob("ben-*/backups/*"))
    assert backups == ["Contacts.xml", "Desktop%MicroSIP.lnk", "microsip.ini"]  # each file's bytes before
    assert run_cli("plan", "fleet.yaml").stdout.splitlines() == [
        "plan: 1 seat: 0 to create, 0 to update, 1 unchanged, 0 in conflict"
    ]  # forgotten


def test_prune_keeps_a_phonebook_the_user_changed(build_tree: BuildTree, run_cli: RunCli) -> None:
    ben_left(build_tree, run_cli)
    BEN_BOOK.write_bytes(BEN_BOOK.read_bytes().replace(b"</contacts>", b'<contact name="Mum" number="5"/></contacts>'))
    result = run_cli("apply", "fleet.yaml", "--prune")
    assert result.exit_code == 0, result.output
    assert f"  {BEN_BOOK}: kept: changed since the last apply" in result.stdout.splitlines()
    assert b"Mum" in BEN_BOOK.read_bytes()


def test_prune_takes_the_whole_fleet(build_tree: BuildTree, run_cli: RunCli) -> None:
    ben_left(build_tree, run_cli)
    result = run_cli("apply", "fleet.yaml", "--prune", "--seat", "ana")
    assert result.exit_code == 2
    assert "--prune retires the seats that left the fleet: it takes the whole fleet, not --seat" in result.stderr
    assert BEN_LINK.is_file()


def test_a_manifest_without_spots_is_rewritten_once_and_a_leaver_without_them_is_not_retired(
    build_tree: BuildTree, run_cli: RunCli
) -> None:
    build_tree({"fleet.yaml": LEAVING})
    for user in ("ana", "ben"):
        Path("users", user).mkdir(parents=True)
    assert run_cli("apply", "fleet.yaml").exit_code == 0
    key = Path(".provisioner-state/key").read_bytes().strip()
    for path in Path(".provisioner-state/targets").glob("*/manifest.json"):  # as an older version wrote them
        document = json.loads(state.unseal(path.read_bytes(), key))
        for record in document["files"].values():
            del record["spot"]
        path.write_bytes(state.seal(json.dumps(document, separators=(",", ":")).encode(), key))
    ana = next(Path(".provisioner-state/targets").glob("ana-*/manifest.json"))
    again = run_cli("apply", "fleet.yaml", "--seat", "ana")
    assert again.stdout == "apply: 0 seats written, 1 unchanged, 0 in conflict, 0 failed (of 1)\n"
    assert all("spot" in r for r in json.loads(state.unseal(ana.read_bytes(), key))["files"].values())
    Path("fleet.yaml").write_text(LEAVING[: LEAVING.index("  - id: ben")], encoding="utf-8")
    result = run_cli("apply", "fleet.yaml", "--prune")
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        "failed     ben: left the fleet, cannot be retired: its manifest does not say where its files are (written"
        " by an older version of the tool); remove its launchers and ini keys by hand, or put the seat back in the"
        " fleet, apply once, then remove it"
    ]
    assert BEN_LINK.is_file()

"""Onboarding: import existing inis, seats from CSV, phonebooks and speed dials."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from provisioner import ini
from provisioner.fleet import load_fleet
from provisioner.render.renderer import render_fleet
from tests import microsip_written
from tests.conftest import BuildTree, RunCli, listing

JDOE = Path("users/jdoe/AppData/Roaming/MicroSIP/microsip.ini")


def read_values(data: bytes) -> dict[str, dict[str, str]]:
    return ini.parse(ini.decode(data)[0]).as_dict()


@pytest.fixture
def two_installs(build_tree: BuildTree) -> list[Path]:
    sales = microsip_written.TEXT.replace("username=2001", "username=2002").replace(
        "displayName=John Old", "displayName=Zoë"
    )
    build_tree(
        {
            str(JDOE): microsip_written.utf16(),
            "usb/MicroSIP-sales.ini": sales.replace("\n", "\r\n").encode("cp1252"),
        }
    )
    return [JDOE, Path("usb/MicroSIP-sales.ini")]


def test_import_round_trips_every_managed_value(two_installs: list[Path], run_cli: RunCli) -> None:
    result = run_cli("import", *map(str, two_installs), "--name", "office")
    assert result.exit_code == 0, result.output
    Path("fleet.yaml").write_text(result.stdout, encoding="utf-8")
    assert "9f3a6c1e0b7d4a2f8e5c1b3d7a9f0e2c" not in result.stdout  # encrypted passwords never copied
    env = {
        "SIP_PASSWORD_JDOE_1": "a",
        "SIP_PASSWORD_JDOE_2": "b",
        "SIP_PASSWORD_MICROSIP_SALES_1": "c",
        "SIP_PASSWORD_MICROSIP_SALES_2": "d",
    }
    fleet = load_fleet(Path("fleet.yaml"))
    assert [s.id for s in fleet.seats] == ["jdoe", "MicroSIP-sales"]
    rendered = {r.seat.id: r for r in render_fleet(fleet, environ=env)}
    assert rendered["MicroSIP-sales"].ini.name == "MicroSIP-sales.ini"
    for seat_id, path in zip(["jdoe", "MicroSIP-sales"], two_installs, strict=True):
        original = read_values(path.read_bytes())
        produced = read_values(rendered[seat_id].ini.data)
        compared = 0
        for section, keys in produced.items():
            for key, value in keys.items():
                if key == "password":
                    continue
                assert original[section].get(key, "") == value, (seat_id, section, key)  # missing = empty
                compared += 1
        assert compared >= 20
    jdoe = read_values(rendered["jdoe"].ini.data)
    assert "mainx" not in jdoe["settings"] and "calls" not in jdoe
    assert jdoe["shortcuts"]["0"] == "Reception;100;call;;1"


def test_import_reports_what_it_leaves_out(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "a/microsip.ini": "[Settings]\nautoAnswer=sometimes\nfancyKey=1\n[Account1]\ndomain=x\nusername=1\nAVPF=1\n[Calls]\n0=1;x;0;1;1;\n"
        }
    )
    result = run_cli("import", "a/microsip.ini")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "warning: a/microsip.ini: [Settings] autoAnswer: 'sometimes' is not one of \"\", button, header, all; left out",
        "warning: a/microsip.ini: [Settings] fancykey: not a key MicroSIP 3.22 reads; left out",
        "warning: a/microsip.ini: [Account1] avpf: not a key MicroSIP reads; left out",
    ]
    assert "  # left out: [Calls] (call history)\n" in result.stdout
    assert '  - id: "a"\n' in result.stdout


def test_import_refuses_files_that_are_not_ini(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"x.ini": b"\x00\x01binary\x00", "y.ini": "just some text\nno sections\n"})
    result = run_cli("import", "x.ini", "y.ini")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "x.ini:1:1: not an ini file MicroSIP could read (binary data (NUL bytes) in a file without a UTF-16 BOM)",
        "y.ini:1:1: not an ini file MicroSIP could read (no [section] in it)",
        "2 errors",
    ]


SEATS_FLEET = """\
version: 1
name: t
defaults:
  account: {domain: example.com, server: pbx.example.com}
profiles:
  agent: {settings: {autoAnswer: header}}
seat_files:
  - {path: seats.csv, profiles: [agent]}
seats:
  - id: boss
    accounts: [{username: "1"}]
"""


def test_seats_from_csv(build_tree: BuildTree) -> None:
    build_tree(
        {
            "fleet.yaml": SEATS_FLEET.replace(
                "agent: {settings: {autoAnswer: header}}",
                "agent: {settings: {autoAnswer: header}}\n  all: {settings: {autoAnswer: all}, launch: {shortcuts: [desktop, startup]}}",
            ),
            "seats.csv": "\ufeffid;user;profiles;accounts.1.username;accounts.1.displayName;accounts.1.password.env;contacts.1.name;contacts.1.number\r\n"
            "alice;;;1001;Alice Ünal;PW_1001;Reception;100\r\n"
            "bob;bobby;all;007;Bob;;;\r\n",
        }
    )
    fleet = load_fleet(Path("fleet.yaml"))
    seats = {s.id: s for s in fleet.seats}
    assert list(seats) == ["boss", "alice", "bob"]
    assert seats["alice"].settings == {"autoAnswer": "header"}  # from the seat file's profile
    assert seats["bob"].settings == {"autoAnswer": "all"}  # the profile the row names wins
    assert seats["bob"].user == "bobby" and seats["bob"].accounts[0]["username"] == "007"
    assert str(seats["alice"].accounts[0]["password"]) == "env:PW_1001"
    assert seats["bob"].launch.shortcuts == ["desktop", "startup"]
    assert seats["alice"].contacts == [{"name": "Reception", "number": "100"}]
    assert str(seats["bob"].account_loc(0, "username")) == "seats.csv:3:4"


#: What a seat file's author (often an HR export) must never reach: where files go, what runs.
YAML_ONLY_HEADERS = [
    ("target.path", "/etc/php"),
    ("target.type", "portable"),
    ("target.root", "/root"),
    ("target.prefix", "/root/.wine"),
    ("target.applications_dir", "/usr/share/applications"),
    ("install.exe", "C:\\evil.exe"),
    ("install.mode", "portable"),
    ("settings.cmdCallStart", "C:\\evil.exe"),
    ("settings.autoAnswer", "all"),
    ("launch.name", "..\\..\\x"),
    ("launch.args", "/minimized"),
    ("launch.shortcuts", "startup"),
    ("ini.Settings.cmdCallEnd", "calc"),
    ("speed_dials.1.number", "1"),
    ("contacts_file", "book.csv"),
    ("contacts_mode", "replace"),
    ("enforce", "true"),
    ("unmanage.1", "x"),
]


@pytest.mark.parametrize(("header", "value"), YAML_ONLY_HEADERS, ids=[h for h, _ in YAML_ONLY_HEADERS])
def test_seat_files_cannot_reach_files_or_code(build_tree: BuildTree, run_cli: RunCli, header: str, value: str) -> None:
    build_tree({"fleet.yaml": SEATS_FLEET, "seats.csv": f"id,accounts.1.username,{header}\nalice,1,{value}\n"})
    result = run_cli("render", "fleet.yaml", "--out", "out")
    assert result.exit_code == 2
    head = header.split(".")[0]
    assert result.stderr.splitlines() == [
        f"seats.csv:1:3: {header}: header '{header}': `{head}` comes only from the fleet's YAML, never from "
        "a seat file; put it in a profile and name the profile in a `profiles` column",
        "1 error; nothing was written",
    ]
    assert not Path("out").exists()


@pytest.mark.parametrize(
    ("csv", "expected"),
    [
        (
            "id,accounts.1.username\nalice,1,extra\n",
            ["seats.csv:2:3: this row has 3 cells, the header has 2; check the separators (',') and quotes"],
        ),
        (
            "id,accounts.1.usernam\nalice,1\n",
            [
                "seats.csv:1:2: accounts.1.usernam: header 'accounts.1.usernam': unknown key 'usernam' (did you mean 'username'?); `provisioner keys` lists them, `ini:` writes keys outside the catalogue"
            ],
        ),
        (
            "id,acount.domain\nalice,x\n",
            [
                "seats.csv:1:2: acount.domain: header 'acount.domain': 'acount' is not a seat field (did you mean 'account'?); headers are dotted paths like accounts.1.username"
            ],
        ),
        (
            b"id,accounts.1.username\nal\xe9,1\n",
            ['seats.csv:2:3: the file is not UTF-8 text; save it as "CSV UTF-8"'],
        ),
        (
            "id,accounts.1.username,accounts.1.transport\nalice,1,tsl\n",
            ["seats.csv:2:3: accounts.1.transport: 'tsl' is not one of udp, tcp, tls, \"\" (did you mean 'tls'?)"],
        ),
        (
            "id,accounts.1.username\nboss,1\n",
            [
                "seats.csv:2:1: seats[boss]: seat id 'boss' is used twice (first at fleet.yaml:10:9); seat ids must be unique"
            ],
        ),
        (
            "id,accounts.2.username\nalice,1\n",
            ["seats.csv:2:2: accounts.2.username: accounts.2.username is given, but not the columns before it"],
        ),
        ("user,accounts.1.username\nalice,1\n", ["seats.csv:1:1: id: a seat file needs an `id` column"]),
    ],
    ids=["ragged", "unknown-key", "unknown-field", "encoding", "bad-value", "duplicate-id", "gap", "no-id"],
)
def test_bad_seat_files(build_tree: BuildTree, run_cli: RunCli, csv: str | bytes, expected: list[str]) -> None:
    build_tree({"fleet.yaml": SEATS_FLEET, "seats.csv": csv})
    result = run_cli("render", "fleet.yaml", "--out", "out")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[:-1] == expected
    assert not Path("out").exists()


PHONEBOOK_FLEET = """\
version: 1
name: t
defaults:
  account: {domain: example.com}
  target: {type: appdata, root: users}
  contacts_file: phonebook.csv
  contacts:
    - {name: "Helpdesk <IT> & Co", number: "200", starred: true}
  speed_dials:
    - {label: Reception, number: "100"}
    - {label: Queue, number: "*45", type: dtmf, presence: true}
seats:
  - id: jdoe
    accounts: [{username: "1"}]
"""
CONTACTS = Path("users/jdoe/AppData/Roaming/MicroSIP/Contacts.xml")


def test_phonebook_and_speed_dials_render(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "fleet.yaml": PHONEBOOK_FLEET,
            "phonebook.csv": "name;number;email;presence\nAlice Ünal;101;alice@example.com;true\n",
        }
    )
    result = run_cli("render", "fleet.yaml", "--out", "out")
    assert result.exit_code == 0, result.output
    assert listing(Path("out")) == ["jdoe/Contacts.xml", "jdoe/microsip.ini"]
    assert (
        Path("out/jdoe/Contacts.xml").read_bytes()
        == (
            '<?xml version="1.0"?>\r\n<contacts>\r\n'
            '<contact name="Alice Ünal" number="101" email="alice@example.com" presence="1" />\r\n'
            '<contact name="Helpdesk &lt;IT&gt; &amp; Co" number="200" starred="1" />\r\n'
            "</contacts>\r\n"
        ).encode()
    )
    shortcuts = read_values(Path("out/jdoe/microsip.ini").read_bytes())["shortcuts"]
    assert shortcuts == {
        "0": "Reception;100;call;;0",
        "1": "Queue;*45;dtmf;;1",
        **{str(i): "" for i in range(2, 8)},
    }


def test_contacts_merge_keeps_the_users_own(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": PHONEBOOK_FLEET, "phonebook.csv": "name,number\nAlice,101\n"})
    Path("users/jdoe").mkdir(parents=True)
    assert run_cli("apply", "fleet.yaml").exit_code == 0
    text = CONTACTS.read_text(encoding="utf-8").replace(
        "</contacts>",
        '<contact name="Mum" number="555"/>\r\n<contact name="Alice (old)" number="101"/>\r\n</contacts>',
    )
    CONTACTS.write_text(text, encoding="utf-8")
    verify = run_cli("verify", "fleet.yaml")
    assert verify.exit_code == 0  # Alice's first entry is still the fleet's
    Path("phonebook.csv").write_text("name,number\nAlice Ünal,101\nBob,102\n", encoding="utf-8")
    result = run_cli("apply", "fleet.yaml")
    assert result.exit_code == 0, result.output
    assert "  note: contact 'Bob' (102): added" in result.stdout
    assert "  note: contact 'Alice Ünal' (101): updated" in result.stdout
    names = [line for line in CONTACTS.read_text(encoding="utf-8").splitlines() if "<contact " in line]
    assert any('name="Mum"' in n for n in names) and any('name="Bob"' in n for n in names)
    assert run_cli("apply", "fleet.yaml").stdout.endswith("1 unchanged, 0 in conflict, 0 failed (of 1)\n")
    Path("fleet.yaml").write_text(
        PHONEBOOK_FLEET.replace("contacts_file:", "contacts_mode: replace\n  contacts_file:"),
        encoding="utf-8",
    )
    assert run_cli("apply", "fleet.yaml").exit_code == 0
    assert "Mum" not in CONTACTS.read_text(encoding="utf-8")
    assert run_cli("rollback", "fleet.yaml", "--seat", "jdoe").exit_code == 0
    assert "Mum" in CONTACTS.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            '  contacts: [{name: "A\\u0007", number: "1"}]',
            "fleet.yaml:4:21: defaults.contacts[1].name: 'A\\x07' contains a control character (a tab or line break, say), which MicroSIP's "
            "files cannot hold: its phonebook reader decodes no such escape; remove it",
        ),
        (
            "  speed_dials: [" + ", ".join(f"{{label: a, number: '{i}'}}" for i in range(9)) + "]",
            "fleet.yaml:4:16: defaults.speed_dials: 9 speed dials; MicroSIP has 8 buttons",
        ),
        (
            "  speed_dials: [{label: a, number: '1', type: cal}]",
            "fleet.yaml:4:47: defaults.speed_dials[1].type: 'cal' is not a speed-dial type MicroSIP 3.22 knows: call, video, message, dtmf, transfer, attendedTransfer, conference, runBatch, callURL, popURL (did you mean 'call'?)",
        ),
        (
            "  speed_dials: [{label: 'a;b', number: '1'}]",
            "fleet.yaml:4:25: defaults.speed_dials[1].label: 'a;b' contains ';', which separates the fields of a speed dial",
        ),
        (
            "  contacts: [{name: a, number: '1'}, {name: b, number: '1'}]",
            "fleet.yaml:4:13: seats[s].contacts[2]: number '1' is listed twice (also entry 1); contacts are matched by number",
        ),
    ],
    ids=["control-chars", "nine-speed-dials", "unknown-type", "separator", "duplicate-number"],
)
def test_bad_phonebook_input(build_tree: BuildTree, run_cli: RunCli, extra: str, expected: str) -> None:
    build_tree(
        {"fleet.yaml": f"version: 1\nname: t\ndefaults:\n{extra}\nseats:\n  - id: s\n    accounts: [{{domain: d}}]\n"}
    )
    result = run_cli("render", "fleet.yaml", "--out", "out")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == expected
    assert not Path("out").exists()


def test_bad_contacts_file(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "fleet.yaml": "version: 1\nname: t\ndefaults:\n  contacts_file: book.csv\nseats:\n  - id: s\n    accounts: [{domain: d}]\n",
            "book.csv": "name,phonenumber\nA,1\n",
        }
    )
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith(
        "book.csv:1:2: phonenumber: 'phonenumber' is not a Contacts.xml attribute (did you mean 'number'?)"
    )


@pytest.mark.parametrize("brk", ["\n", "\r", "\r\n", "\x85", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c"])
def test_import_comments_cannot_be_steered_by_file_names(build_tree: BuildTree, run_cli: RunCli, brk: str) -> None:
    """A folder name with a line break would otherwise end the comment and inject YAML."""
    folder = f"x{brk}seats: []{brk}name: pwned{brk}"
    build_tree({f"{folder}/microsip.ini": "[Settings]\n[Account1]\ndomain=x\nusername=1\n"})
    result = run_cli("import", f"{folder}/microsip.ini")
    assert result.exit_code == 0, result.output
    comments = [line for line in result.stdout.splitlines() if "# from" in line]
    assert comments == ["  # from x?seats: []?name: pwned?/microsip.ini"] or brk == "\r\n"
    document = yaml.safe_load(result.stdout)
    assert document["name"] == "imported" and len(document["seats"]) == 1


def test_import_of_an_ini_the_fleet_format_refuses_is_bad_input(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"m.ini": "[Settings]\r\n[Account1]\r\nserver=pbx\r\ndomain=d\r\n"})
    result = run_cli("import", "m.ini")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "m.ini: cannot be imported as it is: accounts[1].username: the account has a `server` but no "
        "`username`; MicroSIP cannot register without one",
        "1 error",
    ]

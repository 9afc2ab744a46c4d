"""Every kind of bad input: exit code 2, one exact line per problem, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import BuildTree, RunCli

BASE = """\
version: 1
name: acme
defaults:
  account:
    server: pbx.example.com
    domain: example.com
seats:
  - id: alice
    accounts:
      - username: "1001"
        password: {env: PW_1001}
"""


def fleet(*extra_lines: str, base: str = BASE) -> str:
    """BASE with lines appended at the end of alice's seat (line 12 onwards)."""
    return base + "".join(line + "\n" for line in extra_lines)


CASES: list[tuple[str, dict[str, str | bytes], list[str]]] = [
    (
        "yaml syntax error",
        {"fleet.yaml": "version: 1\nname: [acme\n"},
        ["fleet.yaml:3:1: YAML syntax error: did not find expected ',' or ']'"],
    ),
    (
        "duplicate key",
        {"fleet.yaml": fleet("    user: bob", "    user: carol")},
        ["fleet.yaml:13:5: seats[1]: duplicate key 'user' (first defined on line 12); remove one of them"],
    ),
    (
        "unknown settings key with suggestion",
        {"fleet.yaml": fleet("    settings:", "      updateInterval: daily")},
        [
            "fleet.yaml:13:7: seats[alice].settings.updateInterval: unknown key 'updateInterval' "
            "(did you mean 'updatesInterval'?); `provisioner keys` lists them, `ini:` writes keys "
            "outside the catalogue"
        ],
    ),
    (
        "unknown structural key",
        {"fleet.yaml": fleet("    acounts: []")},
        [
            "fleet.yaml:12:5: seats[alice].acounts: unknown key 'acounts' (did you mean 'accounts'?); "
            "allowed here: install, target, launch, ini, speed_dials, contacts, contacts_file, contacts_mode, enforce, unmanage, "
            "settings, account, id, user, computer, profiles, accounts, active_account"
        ],
    ),
    (
        "wrong type",
        {"fleet.yaml": fleet("    settings: {volumeRing: loud}")},
        ["fleet.yaml:12:28: seats[alice].settings.volumeRing: 'loud' is not a whole number"],
    ),
    (
        "out of range",
        {"fleet.yaml": fleet("    settings: {volumeRing: 101}")},
        ["fleet.yaml:12:28: seats[alice].settings.volumeRing: 101 is out of range; allowed 0..100"],
    ),
    (
        "bad enum with suggestion",
        {"fleet.yaml": fleet("    account: {transport: tsl}")},
        [
            "fleet.yaml:12:26: seats[alice].account.transport: 'tsl' is not one of udp, tcp, tls, \"\" "
            "(did you mean 'tls'?)"
        ],
    ),
    (
        "bad enum in an account entry",
        {"fleet.yaml": BASE.replace('username: "1001"', 'username: "1001"\n        transport: tsl')},
        [
            "fleet.yaml:11:20: seats[alice].accounts[1].transport: 'tsl' is not one of udp, tcp, tls, \"\" "
            "(did you mean 'tls'?)"
        ],
    ),
    (
        "unknown codec",
        {"fleet.yaml": fleet("    settings: {audioCodecs: [opus/48000/2, G729/8000]}")},
        [
            "fleet.yaml:12:29: seats[alice].settings.audioCodecs: unknown codec 'G729/8000' "
            "(did you mean 'G729/8000/1'?); codecs are name/clock/channels, see `provisioner keys audioCodecs`"
        ],
    ),
    (
        "sip: prefix on server",
        {"fleet.yaml": BASE.replace("server: pbx.example.com", "server: sip:pbx.example.com")},
        [
            "fleet.yaml:5:13: defaults.account.server: 'sip:pbx.example.com' must not start with 'sip:'; "
            "MicroSIP adds it itself -- write 'pbx.example.com'"
        ],
    ),
    (
        "CR/LF injection",
        {"fleet.yaml": fleet('    account: {displayName: "Bob\\r\\n[Settings]\\r\\nautoAnswer=all"}')},
        [
            "fleet.yaml:12:28: seats[alice].account.displayName: value contains a carriage return (CR); "
            "an ini value is one line, so this would inject extra keys or sections -- remove it"
        ],
    ),
    (
        "over-long value",
        {"fleet.yaml": fleet(f"    account: {{label: {'x' * 256}}}")},
        ["fleet.yaml:12:22: seats[alice].account.label: value is 256 characters; MicroSIP reads at most 255"],
    ),
    (
        "leading blank",
        {"fleet.yaml": fleet('    account: {label: " Sales"}')},
        [
            "fleet.yaml:12:22: seats[alice].account.label: value has leading or trailing blanks, "
            "which Windows trims when reading; remove them"
        ],
    ),
    (
        "account without domain",
        {"fleet.yaml": BASE.replace("    domain: example.com\n", "")},
        [
            "fleet.yaml:9:9: seats[alice].accounts[1].domain: the account has no domain, and MicroSIP "
            "ignores an account without one; set `domain` here or in an `account:` layer"
        ],
    ),
    (
        "server without username",
        {"fleet.yaml": BASE.replace('      - username: "1001"\n        password', "      - password")},
        [
            "fleet.yaml:10:9: seats[alice].accounts[1].username: the account has a `server` but no "
            "`username`; MicroSIP cannot register without one"
        ],
    ),
    (
        "empty accounts",
        {"fleet.yaml": BASE.split("    accounts:")[0] + "    accounts: []\n"},
        ["fleet.yaml:9:15: seats[alice].accounts: a seat needs at least one account"],
    ),
    (
        "missing accounts",
        {"fleet.yaml": BASE.split("    accounts:")[0]},
        ["fleet.yaml:8:5: seats[alice]: required key 'accounts' is missing"],
    ),
    (
        "duplicate seat id",
        {"fleet.yaml": fleet("  - id: alice", "    accounts: [{username: '2'}]")},
        [
            "fleet.yaml:12:9: seats[alice]: seat id 'alice' is used twice (first at fleet.yaml:8:9); "
            "seat ids must be unique"
        ],
    ),
    (
        "bad seat id",
        {"fleet.yaml": BASE.replace("id: alice", "id: ali ce")},
        [
            "fleet.yaml:8:9: seats[1].id: 'ali ce' is not a valid id: 1-64 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        ],
    ),
    (
        "user with path separator",
        {"fleet.yaml": fleet("    user: ..\\admin")},
        [
            "fleet.yaml:12:11: seats[alice].user: '..\\admin' is not a Windows user name: no path "
            "separators, '..', or any of :*?\"<>|"
        ],
    ),
    (
        "unknown profile",
        {"fleet.yaml": fleet("    profiles: [agnet]").replace("seats:", "profiles:\n  agent: {}\nseats:")},
        ["fleet.yaml:14:16: seats[alice].profiles[1]: unknown profile 'agnet' (did you mean 'agent'?)"],
    ),
    (
        "extends cycle",
        {
            "fleet.yaml": fleet("    profiles: [a]").replace(
                "seats:", "profiles:\n  a: {extends: [b]}\n  b: {extends: [a]}\nseats:"
            )
        },
        ["fleet.yaml:9:17: profiles[b].extends[1]: extends cycle: a -> b -> a; remove one of the `extends`"],
    ),
    (
        "include escaping the fleet folder",
        {"fleet/fleet.yaml": "include: [../other.yaml]\n" + BASE, "other.yaml": "profiles: {}\n"},
        [
            "fleet/fleet.yaml:1:11: include[1]: '../other.yaml' is outside the fleet's folder "
            "{root}/fleet; includes must stay inside it"
        ],
    ),
    (
        "missing include",
        {"fleet.yaml": "include: [nope.yaml]\n" + BASE},
        ["fleet.yaml:1:11: include[1]: 'nope.yaml' does not exist (resolved to {root}/nope.yaml)"],
    ),
    (
        "include cycle",
        {
            "fleet.yaml": "include: [a.yaml]\n" + BASE,
            "a.yaml": "include: [b.yaml]\n",
            "b.yaml": "include: [a.yaml]\n",
        },
        [
            "b.yaml:1:11: include[1]: include cycle: fleet.yaml -> a.yaml -> b.yaml -> a.yaml; remove one of the includes"
        ],
    ),
    (
        "other top-level key in an include",
        {"fleet.yaml": "include: [a.yaml]\n" + BASE, "a.yaml": "defaults: {}\n"},
        [
            "a.yaml:1:1: defaults: 'defaults' is not allowed in an included file; included files hold "
            "only `profiles`, `seats` and `include`"
        ],
    ),
    (
        "profile defined in two files",
        {
            "fleet.yaml": "include: [a.yaml]\nprofiles:\n  agent: {}\n" + BASE,
            "a.yaml": "profiles:\n  agent: {}\n",
        },
        [
            "a.yaml:2:3: profiles[agent]: profile 'agent' is defined twice (first at fleet.yaml:3:3); rename or remove one"
        ],
    ),
    (
        "legacy key",
        {"fleet.yaml": fleet("    account: {passwordSize: 8}")},
        [
            "fleet.yaml:12:15: seats[alice].account.passwordSize: 'passwordSize' is a legacy key that "
            "current MicroSIP ignores or deletes; remove it"
        ],
    ),
    (
        "accountId under settings",
        {"fleet.yaml": fleet("    settings: {accountId: 2}")},
        [
            "fleet.yaml:12:16: seats[alice].settings.accountId: 'accountId' cannot be set here; set it "
            "with the seat's `active_account` (1-based)"
        ],
    ),
    (
        "key from a newer version",
        {
            "fleet.yaml": BASE.replace("name: acme", 'name: acme\nmicrosip: "3.19"')
            + "    settings: {autoAnswerCalls: all}\n"
        },
        [
            "fleet.yaml:13:16: seats[alice].settings.autoAnswerCalls: 'autoAnswerCalls' is not read by "
            "MicroSIP 3.19 (it is in 3.22, 3.22.16); remove it or set `microsip:` to a version that has it"
        ],
    ),
    (
        "wrong version",
        {"fleet.yaml": BASE.replace("version: 1", "version: 2")},
        ["fleet.yaml:1:10: version: 2 is not a fleet format version this tool reads; write `version: 1`"],
    ),
    (
        "unknown microsip version",
        {"fleet.yaml": BASE.replace("name: acme", 'name: acme\nmicrosip: "3.18"')},
        [
            "fleet.yaml:3:11: microsip: '3.18' is not a supported MicroSIP version; use one of 3.19, 3.20, 3.21, 3.22, 3.22.16 (quoted)"
        ],
    ),
    (
        "top level not a mapping",
        {"fleet.yaml": "- id: alice\n"},
        ["fleet.yaml:1:1: the top level must be a mapping (version, name, seats, ...), got a list"],
    ),
    (
        "empty file",
        {"fleet.yaml": ""},
        ["fleet.yaml:1:1: the file is empty; see `provisioner init`"],
    ),
    (
        "not UTF-8",
        {"fleet.yaml": b"version: 1\nname: caf\xe9\n"},
        ["fleet.yaml:2:10: the file is not UTF-8 text; save it as UTF-8"],
    ),
    (
        "billion laughs",
        {
            "fleet.yaml": "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
            + "".join(f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
        },
        [
            "fleet.yaml:1:12: the file expands to more than 100000 values through YAML aliases "
            "(an alias bomb?); write the values out or use profiles"
        ],
    ),
    (
        "install mode contradicts target",
        {"fleet.yaml": fleet("    install: {mode: portable}", "    target: {type: appdata, root: users}")},
        [
            "fleet.yaml:12:21: seats[alice].install.mode: install.mode 'portable' contradicts target type "
            "'appdata', which needs 'installed'"
        ],
    ),
    (
        "active_account out of range",
        {"fleet.yaml": fleet("    active_account: 2")},
        [
            "fleet.yaml:12:21: seats[alice].active_account: account 2 does not exist; the seat has 1 "
            "account (numbered from 1)"
        ],
    ),
    (
        "launch args MicroSIP would dial",
        {"fleet.yaml": fleet("    launch: {args: --user 1001}")},
        [
            "fleet.yaml:12:20: seats[alice].launch.args: MicroSIP has no --user flag: it reads its whole "
            "command line as one string, so it would dial '--user' and send '1001' to it as an instant "
            "message. Set accounts and settings in the fleet instead (`launch.legacy_flags` or "
            "`provisioner translate-flags` translate such flags)"
        ],
    ),
    (
        "launch args with a password",
        {"fleet.yaml": fleet("    launch: {args: '/account:1 /password:x'}")},
        [
            "fleet.yaml:12:20: seats[alice].launch.args: '/password:' is refused: the password would be "
            "visible to every user in the process list; set `password` in the seat's accounts instead"
        ],
    ),
    (
        "unknown shortcut place",
        {"fleet.yaml": fleet("    launch: {shortcuts: [desktop, taskbar]}")},
        ["fleet.yaml:12:35: seats[alice].launch.shortcuts[2]: 'taskbar' is not one of desktop, start_menu, startup"],
    ),
    (
        "YAML merge key",
        {"fleet.yaml": "base: &b {a: 1}\nother:\n  <<: *b\n"},
        [
            "fleet.yaml:3:3: YAML merge keys (`<<`) are not supported; share values with `profiles` "
            "and `extends` instead"
        ],
    ),
    (
        "malformed secret reference",
        {"fleet.yaml": BASE.replace("{env: PW_1001}", "{vault: x}")},
        [
            "fleet.yaml:11:19: seats[alice].accounts[1].password: a secret reference is {env: NAME} or "
            "{file: path}, got a mapping with vault"
        ],
    ),
    (
        "reserved user name",
        {"fleet.yaml": fleet("    user: CON")},
        [
            "fleet.yaml:12:11: seats[alice].user: the user name 'CON' is a reserved device name on Windows (CON); choose another"
        ],
    ),
    (
        "user name ending in a dot",
        {"fleet.yaml": fleet('    user: "bob."')},
        [
            "fleet.yaml:12:11: seats[alice].user: the user name 'bob.' ends in a dot or a space, which Windows "
            "drops from file and folder names"
        ],
    ),
    (
        "reserved exe name",
        {"fleet.yaml": fleet("    install: {mode: portable, exe: NUL.exe}")},
        [
            "fleet.yaml:12:36: seats[alice].install.exe: the exe name 'NUL.exe' is a reserved device name on "
            "Windows (NUL); choose another"
        ],
    ),
    (
        "reserved launcher name",
        {"fleet.yaml": fleet("    launch: {name: LPT1, shortcuts: [desktop]}")},
        [
            "fleet.yaml:12:20: seats[alice].launch.name: the launcher name 'LPT1' is a reserved device name on "
            "Windows (LPT1); choose another; the launcher's file is named after it"
        ],
    ),
    (
        "reserved seat id",
        {"fleet.yaml": BASE.replace("id: alice", "id: com1")},
        [
            "fleet.yaml:8:9: seats[com1].id: the seat id 'com1' is a reserved device name on Windows (COM1); choose another"
        ],
    ),
    (
        "impossible date",
        {"fleet.yaml": fleet("    settings: {ringingSound: 2020-02-30}")},
        [
            "fleet.yaml:12:30: '2020-02-30' is not a valid timestamp (day is out of range for month); "
            "put it in quotes to keep it as text"
        ],
    ),
    (
        "int tag on text",
        {"fleet.yaml": fleet("    settings: {ringingSound: !!int abc}")},
        [
            "fleet.yaml:12:30: 'abc' is not a valid int (invalid literal for int() with base 10: 'abc'); "
            "put it in quotes to keep it as text"
        ],
    ),
    (
        "timestamp tag on garbage",
        {"fleet.yaml": fleet("    settings: {ringingSound: !!timestamp 2020-13-45}")},
        [
            "fleet.yaml:12:30: '2020-13-45' is not a valid timestamp (month must be in 1..12); "
            "put it in quotes to keep it as text"
        ],
    ),
    (
        "4,400-digit number",
        {"fleet.yaml": fleet("    settings: {volumeRing: " + "9" * 4400 + "}")},
        [
            "fleet.yaml:12:28: 9999999999999999999999999999999999999999... (4400 characters) is not a valid int "
            "(too many digits); put it in quotes to keep it as text"
        ],
    ),
    (
        "NUL in a section name",
        {"fleet.yaml": fleet('    ini: {"Sec\\0x": {a: b}}')},
        [
            "fleet.yaml:12:10: seats[alice].ini: section 'Sec\\x00x' contains a line break or NUL, which would inject lines"
        ],
    ),
    (
        "ini escape hatch injection",
        {"fleet.yaml": fleet("    ini: {'Foo]': {a: 1}}")},
        ["fleet.yaml:12:10: seats[alice].ini: section 'Foo]' must not contain '[' or ']'"],
    ),
]


@pytest.mark.parametrize(("files", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_exact_line_and_writes_nothing(
    build_tree: BuildTree, run_cli: RunCli, files: dict[str, str | bytes], expected: list[str]
) -> None:
    root = build_tree(files)
    fleet_file = "fleet/fleet.yaml" if "fleet/fleet.yaml" in files else "fleet.yaml"
    result = run_cli("render", fleet_file, "--out", "out", env={"PW_1001": "pw"})
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if ": warning:" not in line][:-1]
    assert errors == [e.replace("{root}", str(root.resolve())) for e in expected]
    assert result.stderr.splitlines()[-1].endswith("; nothing was written")
    assert not (root / "out").exists()
    assert "Traceback" not in result.output


def test_missing_env_secret_names_seat_account_and_reference(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": BASE})
    result = run_cli("render", "fleet.yaml", "--out", "out", env={"PW_1001": None})
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "fleet.yaml:11:19: seats[alice].accounts[1].password: environment variable PW_1001 is not set "
        "(secret env:PW_1001)"
    )
    assert not Path("out").exists()


def test_missing_secret_file(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": BASE.replace("{env: PW_1001}", "{file: secrets/1001.txt}")})
    result = run_cli("validate", "fleet.yaml", "--secrets")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "fleet.yaml:11:19: seats[alice].accounts[1].password: secret file secrets/1001.txt does not "
        "exist (secret file:secrets/1001.txt)"
    )


def test_secret_value_with_line_break_is_refused_without_showing_it(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": BASE})
    result = run_cli("render", "fleet.yaml", "--out", "out", env={"PW_1001": "hunter2\r\n[Account9]"})
    assert result.exit_code == 2
    assert "hunter2" not in result.output
    assert "the secret's value contains a carriage return (CR)" in result.stderr


def test_all_problems_in_one_pass(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {"fleet.yaml": fleet("    settings: {volumeRing: 101, autoAnswer: hdr}", "    account: {transport: tsl}")}
    )
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 4  # three problems and the summary
    assert result.stderr.splitlines()[-1] == "3 errors"  # validate writes nothing, so it does not say so


def test_template_syntax_error_names_template_and_line(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "fleet.yaml": BASE.replace("name: acme", "name: acme\ntemplates: tpl"),
            "tpl/microsip.ini.j2": "[Settings]\n{% for k, v in settings %}\n{{ k }}={{ v }\n{% endfor %}\n",
        }
    )
    result = run_cli("render", "fleet.yaml", "--out", "out", env={"PW_1001": "pw"})
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith("tpl/microsip.ini.j2:3:1: template: syntax error: ")
    assert not Path("out").exists()


def test_template_undefined_variable_names_template_and_line(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "fleet.yaml": BASE.replace("name: acme", "name: acme\ntemplates: tpl"),
            "tpl/microsip.ini.j2": "[Settings]\n{{ nothing_here }}\n",
        }
    )
    result = run_cli("render", "fleet.yaml", "--out", "out", env={"PW_1001": "pw"})
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "tpl/microsip.ini.j2:2:1: seats[alice] (template): undefined variable: 'nothing_here' is undefined"
    )


def test_ini_account_section_beyond_the_accounts_is_refused(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": fleet("    ini: {account3: {x: 1}}")})
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "fleet.yaml:12:21: seats[alice].ini.Account3: the seat has 1 account; MicroSIP reads [Account1], "
        "[Account2], ... without gaps and would ignore [Account3] -- add an entry to `accounts` instead"
    )


def test_ini_sections_merge_whatever_their_spelling(build_tree: BuildTree, run_cli: RunCli) -> None:
    text = BASE.replace("defaults:\n", "defaults:\n  ini: {foo: {a: 1}}\n") + "    ini: {FOO: {b: 2}}\n"
    build_tree({"fleet.yaml": text})
    result = run_cli("explain", "fleet.yaml", "--seat", "alice")
    assert result.exit_code == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if "ini." in line]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("ini.foo.a", "1", "fleet.yaml:4:18"),
        ("ini.foo.b", "2", "fleet.yaml:13:20"),
    ]


@pytest.mark.parametrize("key", ["a=b", "x]", "[x", ";c", "#c"])
def test_ini_escape_hatch_keys_cannot_inject(build_tree: BuildTree, run_cli: RunCli, key: str) -> None:
    build_tree({"fleet.yaml": fleet(f"    ini: {{Foo: {{'{key}': 1}}}}")})
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"fleet.yaml:12:10: seats[alice].ini: key {key!r} must not contain '=', '[' or ']' nor start with ';' or '#'"
    )


@pytest.mark.parametrize("section", ["Account²", "Account٣", "AccountX"])
def test_section_names_with_other_digits_are_plain_sections(
    build_tree: BuildTree, run_cli: RunCli, section: str
) -> None:
    """Windows matches [Account2] by its ASCII spelling only: a superscript digit names another section."""
    build_tree({"fleet.yaml": fleet(f'    ini: {{"{section}": {{a: b}}}}')})
    result = run_cli("render", "fleet.yaml", "--out", "out", env={"PW_1001": "pw"})
    assert result.exit_code == 0, result.output
    assert f"[{section}]\r\na=b" in (Path("out/alice/microsip.ini").read_bytes().decode("utf-16-le"))


def test_non_utf8_environment_password_is_bad_input(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": BASE})
    result = run_cli("render", "fleet.yaml", "--out", "out", env={"PW_1001": "a\udcffb"})
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "fleet.yaml:11:19: seats[alice].accounts[1].password: environment variable PW_1001 is not valid UTF-8 "
        "text (secret env:PW_1001)"
    )


def test_a_fifo_given_as_the_fleet_file_is_refused_not_waited_on(tmp_path: Path) -> None:
    """Opened without blocking and refused before a byte is read (a real process: a hang fails the timeout)."""
    import subprocess
    import sys

    fifo = tmp_path / "fleet.yaml"
    os.mkfifo(fifo)
    proc = subprocess.run(
        [sys.executable, "-m", "provisioner", "validate", str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == "fleet.yaml: is not a regular file (a FIFO or a device?), not a YAML file"


HUGE = "9" * 5000


def test_a_nested_csv_header_is_bad_input(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "fleet.yaml": "version: 1\nname: t\nseat_files: [s.csv]\nseats: []\n",
            "s.csv": "id,accounts.1.username,accounts.1.username.x\na,1,2\n",
        }
    )
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "s.csv:1:3: accounts.1.username.x: header 'accounts.1.username.x' and column 2 (accounts.1.username) "
        "name a value and a part of it",
        "1 error",
    ]


@pytest.mark.parametrize(
    ("files", "args", "expected"),
    [
        (
            {},
            ["translate-flags", "--", "--setvolume", HUGE],
            f"error: --setvolume takes a volume from 0 to 100, got '{HUGE}'",
        ),
        ({}, ["translate-flags", "--", "--call", HUGE, "--autoanswer", HUGE], "error: --autoanswer takes 0 or 1"),
        (
            {
                "fleet.yaml": "version: 1\nname: t\nseat_files: [s.csv]\nseats: []\n",
                "s.csv": f"id,accounts.1.domain,accounts.1.username\na,d,{HUGE}\n",
            },
            ["validate", "fleet.yaml"],
            "s.csv:2:3: accounts.1.username: value is 5000 characters; MicroSIP reads at most 1040",
        ),
        (
            {
                "fleet.yaml": f"version: 1\nname: t\nseats:\n  - id: a\n    accounts: [{{domain: d}}]\n    settings: {{volumeRing: {HUGE}}}\n"
            },
            ["validate", "fleet.yaml"],
            "fleet.yaml:6:28: 9999999999999999999999999999999999999999... (5000 characters) is not a valid int",
        ),
    ],
    ids=["translate-volume", "translate-autoanswer", "csv-cell", "yaml"],
)
def test_a_number_of_thousands_of_digits_is_bad_input(
    build_tree: BuildTree, run_cli: RunCli, files: dict[str, str | bytes], args: list[str], expected: str
) -> None:
    build_tree(files)
    result = run_cli(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(expected)


def test_import_leaves_out_a_number_of_thousands_of_digits(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"m.ini": f"[Settings]\nvolumeRing={HUGE}\naccountId={HUGE}\n[Account1]\ndomain=d\n"})
    result = run_cli("import", "m.ini")
    assert result.exit_code == 0, result.output
    assert "volumeRing" not in result.stdout and HUGE not in result.output
    assert result.stderr == (
        "warning: m.ini: [Settings] volumeRing: '9999999999999999999999999999999999999999' is not a whole number "
        "MicroSIP reads; left out\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--pasword s3cretPW --user 100"],
        ["--pasword=s3cretPW"],
        ["--", "--pasword=", "s3cretPW"],
        ["--", "--pasword", "s3cretPW"],
        ["-password s3cretPW"],
        ["--", "--user", "100", "s3cretPW"],
    ],
)
def test_a_mistyped_flag_never_echoes_what_follows(run_cli: RunCli, argv: list[str]) -> None:
    result = run_cli("translate-flags", *argv)
    assert result.exit_code == 2
    assert "s3cretPW" not in result.output

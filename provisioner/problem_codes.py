"""The stable code of every kind of problem the tool reports, what it means, and an example of each.

A code names a kind of problem, never one message: the message may be reworded, the
code keeps its meaning for good once released (scripts, SARIF rules and CI baselines
key on it). A new kind of problem gets a new code; a code is never reused.
"""

from __future__ import annotations

from typing import NamedTuple


class Code(NamedTuple):
    """One code: what it means, and a line the tool printed for it (from the tests' inputs)."""

    summary: str
    example: str


CODES: dict[str, Code] = {
    # reading a file
    "file-missing": Code(
        "A file the fleet names does not exist.",
        "fleet.yaml: no such file",
    ),
    "not-a-file": Code(
        "A path the fleet names is a folder, a FIFO or a device, not a file.",
        "fleet.yaml: is a folder, not a YAML file",
    ),
    "file-too-large": Code(
        "A fleet file is larger than the tool reads.",
        "fleet.yaml: the file is 67108865 bytes; fleet files are limited to 64 MiB",
    ),
    "file-unreadable": Code(
        "A file exists but cannot be read (permissions, I/O).",
        "fleet.yaml: cannot read: Too many levels of symbolic links",
    ),
    "not-utf8": Code(
        "A file is not UTF-8 text (another code page, or UTF-16).",
        "fleet.yaml:2:10: the file is not UTF-8 text; save it as UTF-8",
    ),
    "empty-file": Code(
        "A fleet file is empty.",
        "fleet.yaml:1:1: the file is empty; see `provisioner init`",
    ),
    "yaml-syntax": Code(
        "The YAML cannot be parsed.",
        "fleet.yaml:3:1: YAML syntax error: did not find expected ',' or ']'",
    ),
    "yaml-refused": Code(
        "YAML the tool refuses: tags, merge keys, alias bombs, self-referring aliases, deep nesting.",
        "fleet.yaml:2:7: unsupported YAML tag '!custom'; fleet files use plain values (use `include:` to split a fleet)",
    ),
    "double-quoted-path": Code(
        "A Windows path in double quotes, whose backslashes YAML reads as escapes.",
        'fleet.yaml:5:20: in double quotes \\n became a line feed and \\t a tab, so "C:\\temp\\new.exe" is not the path it looks like: write a Windows path in single quotes or with forward slashes',
    ),
    "unquoted-value": Code(
        "A plain YAML value that reads as a number or date it cannot be; quote it.",
        "fleet.yaml:6:11: '2026-02-30' is not a valid timestamp (day is out of range for month); put it in quotes to keep it as text",
    ),
    "duplicate-key": Code(
        "The same key twice in one mapping (ini keys compare without case).",
        "fleet.yaml:3:1: duplicate key 'name' (first defined on line 2); remove one of them",
    ),
    "top-level": Code(
        "The file's top level is not a mapping.",
        "fleet.yaml:1:1: the top level must be a mapping (version, name, seats, ...), got a list",
    ),
    # seat files (CSV)
    "csv-malformed": Code(
        "A CSV file's rows do not parse, or it has no header row.",
        "seats.csv:2:3: this row has 3 cells, the header has 2; check the separators (',') and quotes",
    ),
    "csv-header": Code(
        "A CSV header names no field, names one twice, or lacks the `id` column.",
        "seats.csv:1:1: id: a seat file needs an `id` column",
    ),
    # the file format
    "unknown-key": Code(
        "A key the fleet format (or MicroSIP's catalogue, for ini keys) does not have.",
        "fleet.yaml:5:5: seats[s].dispayName: unknown key 'dispayName'; allowed here: install, target, launch, ini, speed_dials, contacts, contacts_file, contacts_mode, enforce, unmanage, settings, account, id, user, computer, profiles, accounts, active_account",
    ),
    "missing-key": Code(
        "A required key is missing.",
        "fleet.yaml:4:5: seats[1]: required key 'id' is missing",
    ),
    "not-one-of": Code(
        "A value is not one of the values allowed there.",
        "fleet.yaml:5:39: seats[s].accounts[1].transport: 'tsl' is not one of udp, tcp, tls, \"\" (did you mean 'tls'?)",
    ),
    "wrong-type": Code(
        "A value of the wrong kind: text where a list belongs, and the like.",
        "fleet.yaml:5:15: seats[s].profiles: expected a list of profile names",
    ),
    "bad-name": Code(
        "A name that cannot be used: a seat id, a Windows user or file name, SECTION.KEY.",
        "fleet.yaml:4:9: seats[1].id: 'bad id' is not a valid id: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
    ),
    "reserved-name": Code(
        "A name Windows reserves (CON, NUL, COM1, ...).",
        "fleet.yaml:5:11: seats[s].user: the user name 'CON' is a reserved device name on Windows (CON); choose another",
    ),
    "out-of-range": Code(
        "A number or a count outside what MicroSIP allows.",
        "fleet.yaml:5:28: seats[s].settings.volumeRing: 500 is out of range; allowed 0..100",
    ),
    "invalid-value": Code(
        "A value MicroSIP could not use, for a reason the message gives.",
        "fleet.yaml:5:21: seats[s].active_account: 0 is not an account number; use 1 for the first account",
    ),
    "empty-value": Code(
        "A value that must not be empty: a speed dial's label, a contact's number.",
        "fleet.yaml:5:34: seats[s].contacts[1].number: a contact needs a number: MicroSIP drops a phonebook entry without one when it loads",
    ),
    "sip-prefix": Code(
        "A host written with `sip:`, which MicroSIP adds itself.",
        "fleet.yaml:5:49: seats[s].accounts[1].server: 'sip:pbx.example' must not start with 'sip:'; MicroSIP adds it itself -- write 'pbx.example'",
    ),
    "bad-args": Code(
        "Launcher arguments MicroSIP would not read as intended.",
        "fleet.yaml:5:20: seats[s].launch.args: MicroSIP has no --password flag: it reads its whole command line as one string, so it would dial '--password' and send 'x' to it as an instant message. Set accounts and settings in the fleet instead (`launch.legacy_flags` or `provisioner translate-flags` translate such flags)",
    ),
    "unsafe-text": Code(
        "Text MicroSIP cannot read back as one ini value: a line break, too long, blanks.",
        "fleet.yaml:5:41: seats[s].accounts[1].displayName: value contains a line feed (LF); an ini value is one line, so this would inject extra keys or sections -- remove it",
    ),
    "unsupported-version": Code(
        "A fleet format or MicroSIP version this tool does not know.",
        "fleet.yaml:1:10: version: 2 is not a fleet format version this tool reads; write `version: 1`",
    ),
    "needs-newer-microsip": Code(
        "A field the fleet's MicroSIP version does not have.",
        "fleet.yaml:6:51: seats[s].speed_dials[1].label2: a second label (`label2`) needs MicroSIP 3.22.16; MicroSIP 3.22 has no such field",
    ),
    # secrets
    "plaintext-password": Code(
        "A password written in the fleet file instead of a secret reference.",
        "fleet.yaml:5:51: warning: seats[s].accounts[1].password: plain-text password in the fleet file; use {env: NAME} or {file: path}",
    ),
    "bad-secret-reference": Code(
        "A secret reference that is not `{env: NAME}` or `{file: path}`, or not allowed.",
        "fleet.yaml:5:38: seats[s].accounts[1].password: a secret reference is {env: NAME} or {file: path}, got a mapping with vault",
    ),
    "secret-missing": Code(
        "A secret that cannot be resolved: an unset variable; a missing, unreadable or escaping file.",
        "fleet.yaml:5:51: seats[s].accounts[1].password: environment variable PROVISIONER_TEST_UNSET is not set (secret env:PROVISIONER_TEST_UNSET)",
    ),
    "secret-exposed": Code(
        "A secret file that others can read.",
        "fleet.yaml:5:51: warning: seats[s].accounts[1].password: secret file pw.txt can be read by group or others (mode 0644); run: chmod 600 /srv/fleets/pw.txt",
    ),
    # profiles, seats and their merge
    "unknown-profile": Code(
        "A profile name that no profile has.",
        "fleet.yaml:5:16: seats[s].profiles[1]: unknown profile 'nope'",
    ),
    "duplicate-profile": Code(
        "Two profiles with the same name.",
        "more.yaml:1:12: profiles[p]: profile 'p' is defined twice (first at fleet.yaml:2:12); rename or remove one",
    ),
    "extends-cycle": Code(
        "Profiles that extend each other in a circle.",
        "fleet.yaml:1:45: profiles[b].extends[1]: extends cycle: a -> b -> a; remove one of the `extends`",
    ),
    "duplicate-seat-id": Code(
        "Two seats with the same id.",
        "fleet.yaml:6:9: seats[s]: seat id 's' is used twice (first at fleet.yaml:4:9); seat ids must be unique",
    ),
    "no-seats": Code(
        "The fleet has no seats.",
        "fleet.yaml:1:1: warning: seats: the fleet has no seats",
    ),
    "unknown-seat": Code(
        "A `--seat` that the fleet does not have.",
        "fleet.yaml: no seat with id 'x'",
    ),
    "no-account": Code(
        "A seat without any account.",
        "fleet.yaml:5:15: seats[s].accounts: a seat needs at least one account",
    ),
    "no-domain": Code(
        "An account without a domain, which MicroSIP ignores.",
        "fleet.yaml:5:16: seats[s].accounts[1].domain: the account has no domain, and MicroSIP ignores an account without one; set `domain` here or in an `account:` layer",
    ),
    "no-username": Code(
        "An account with a server but no username.",
        "fleet.yaml:5:16: seats[s].accounts[1].username: the account has a `server` but no `username`; MicroSIP cannot register without one",
    ),
    "no-such-account": Code(
        "A reference to an account number the seat does not have.",
        "fleet.yaml:5:21: seats[s].active_account: account 3 does not exist; the seat has 1 account (numbered from 1)",
    ),
    "account-gap": Code(
        "An [AccountN] section MicroSIP would never read.",
        "fleet.yaml:5:21: seats[s].ini.Account3: the seat has 1 account; MicroSIP reads [Account1], [Account2], ... without gaps and would ignore [Account3] -- add an entry to `accounts` instead",
    ),
    "duplicate-contact": Code(
        "Two contacts with the same number.",
        "fleet.yaml:5:15: seats[s].contacts[2]: number '1' is listed twice (also entry 1); contacts are matched by number",
    ),
    "shortcuts-twice": Code(
        "Both `speed_dials` and `ini: {Shortcuts: ...}` write [Shortcuts].",
        "fleet.yaml:5:18: seats[s].speed_dials: both `speed_dials` and `ini: {Shortcuts: ...}` write [Shortcuts]; keep one",
    ),
    "volatile-key": Code(
        "A key MicroSIP rewrites while it runs, so the fleet only seeds it.",
        "fleet.yaml:5:23: warning: seats[s].settings.mainX: MicroSIP rewrites 'mainX' while it runs; the fleet's value is only a starting point",
    ),
    "catalogue-key-in-ini": Code(
        "A catalogue key written under `ini:`, where it would not be checked.",
        "fleet.yaml:5:22: seats[s].ini.Settings.autoAnswer: 'autoAnswer' is a catalogue key; set it under `settings` so it is checked",
    ),
    "unlisted-key": Code(
        "A key under `ini:` that MicroSIP's catalogue does not list, written as it is.",
        "fleet.yaml:5:22: warning: seats[s].ini.Settings.fancyKey: written verbatim to [Settings]; MicroSIP's catalogue does not list this key",
    ),
    "seed-flags": Code(
        "Command-line flags (the seed document's) that `translate-flags` cannot carry over.",
        "fleet.yaml:5:28: seats[s].launch.legacy_flags: '--colour' is not one of the legacy flags (--dn, --user, --domain, --password, --proxy, --stun, --call, --autoanswer, --dialplan, --show, --debug, --log, --setvolume, --micvolume)",
    ),
    # targets and launchers
    "no-target": Code(
        "A seat without a `target`, which deploying needs.",
        "fleet.yaml:4:5: seats[s].target: the seat has no `target`; plan, apply, verify and rollback need one (appdata, portable or wine)",
    ),
    "target-field": Code(
        "A target field missing, or one that does not apply to the target's type.",
        "fleet.yaml:5:20: seats[s].target.path: a portable target needs `path`",
    ),
    "mode-mismatch": Code(
        "The install mode (`install.mode`) contradicts the target's type.",
        "fleet.yaml:5:21: seats[s].install.mode: install.mode 'installed' contradicts target type 'portable', which needs 'portable'",
    ),
    "bad-launcher": Code(
        "A launcher that cannot be written: a `.cmd` needs ASCII, a `.lnk` a full path.",
        "fleet.yaml:5:36: seats[s].install.exe: the exe name 'Mícro.exe' has non-ASCII characters; a .cmd launcher is read in the console's OEM code page, which would garble them -- use an ASCII name",
    ),
    "ignored-for-portable": Code(
        "A launcher setting a portable seat does not use.",
        "fleet.yaml:6:25: warning: seats[s].launch.shortcuts: ignored for a portable seat: it gets a .cmd launcher beside its exe, which works from any drive letter (shortcuts apply to installed and Wine seats)",
    ),
    "missing-root": Code(
        "A target root, portable folder or Wine prefix that does not exist here.",
        "fleet.yaml:5:36: seats[s].target.path: the portable folder usb does not exist; plug in the drive that holds the portable MicroSIP (a USB stick keeps its folder), create the folder beside its exe (`provisioner bundle` builds one), or re-root a trial with --root DIR",
    ),
    "exposed-folder": Code(
        "A folder others can write to, who could plant files the tool would trust.",
        "fleet/fleet.yaml:1:1: warning: the fleet's folder /srv/fleets/fleet is writable by others: they may replace its files or plant a state folder there; chmod go-w /srv/fleets/fleet",
    ),
    "target-note": Code(
        "Something about a target the admin should know.",
        "fleet.yaml:6:13: warning: seats[s].target: MicroSIP is not registered in the Wine prefix /srv/fleets/wine (no Software\\MicroSIP in user.reg or system.reg): an unregistered copy runs portable and reads the ini beside its exe, not this one",
    ),
    "shared-file": Code(
        "Two seats that would write the same file.",
        "fleet.yaml:8:5: seats[t]: /srv/fleets/Users/jdoe/AppData/Roaming/MicroSIP/microsip.ini is also a file of seat s (fleet.yaml:4:5); two seats cannot share a file: give each its own user, folder or launcher name",
    ),
    # paths, includes and templates
    "bad-include": Code(
        "An `include` that is not a path, cannot be resolved, is missing, lies outside the fleet's folder or forms a cycle.",
        "fleet.yaml:1:11: include[1]: 'more.yaml' does not exist (resolved to /srv/fleets/more.yaml)",
    ),
    "path-outside": Code(
        "A data file outside the fleet's folder.",
        "fleet.yaml:5:20: seats[s].contacts_file: '../phonebook.csv' is outside the fleet's folder /srv/fleets; data files must stay inside it",
    ),
    "bad-path": Code(
        "A path with a NUL, or one that cannot be resolved.",
        "fleet.yaml:5:20: seats[s].contacts_file: 'loop.csv' cannot be resolved (Symlink loop from '/srv/fleets/loop.csv')",
    ),
    "not-a-folder": Code(
        "A path that should be a folder is not one.",
        "fleet.yaml:1:12: templates: 'tpl' is not a folder",
    ),
    "template-syntax": Code(
        "A Jinja template with a syntax error.",
        "tpl/microsip.ini.j2:1:1: template: syntax error: Expected an expression, got 'end of statement block'",
    ),
    "template-error": Code(
        "A template that fails while it renders a seat.",
        "tpl/microsip.ini.j2:1:1: seats[s] (template): undefined variable: 'nothing' is undefined",
    ),
    "template-output": Code(
        "A template whose output is not an ini the seat may have.",
        "tpl/microsip.ini.j2: seats[s] (template): output line 1 is neither a [section] nor key=value",
    ),
    # publishing and importing
    "share-collision": Code(
        "Two seats that publish to the same folder of the share.",
        "fleet.yaml:7:5: seats[t]: publishes to seats/jdoe like seat s (fleet.yaml:4:5); give one of them another user, or a `computer`",
    ),
    "agent-unsupported": Code(
        "A seat the Windows agent could not apply.",
        "fleet.yaml:6:15: seats[s]: computer 'PPPPPPPPPPPPPPPP' is 16 characters long; Windows gives the agent the NetBIOS name, at most 15 characters (the Windows agent could not apply it)",
    ),
    "not-an-ini": Code(
        "A file to import that MicroSIP could not read as its ini.",
        "m.ini:1:1: not an ini file MicroSIP could read (no [section] in it)",
    ),
    "import-refused": Code(
        "An imported ini that cannot become a fleet as it is.",
        "m.ini: cannot be imported as it is: accounts[1].username: the account has a `server` but no `username`; MicroSIP cannot register without one",
    ),
}


#: What plan and verify find about deployed targets, what check-registration finds about accounts,
#: and a command that fails as a whole, as the CI formats name it; with :data:`CODES`, every rule a
#: SARIF report can hold.
TARGET_CODES: dict[str, str] = {
    "pending": "A file `apply` would create or update (a note: `plan --exit-code` makes it a gate).",
    "conflict": "A managed key someone changed since the last apply; `apply` leaves the target alone without `--force`.",
    "refused": "A file the tool will not reach safely (a link, another owner); the seat's other files go on.",
    "drift": "A deployed file that differs from what the fleet makes, found by `verify`.",
    "waiting": "A seat whose user has not logged on yet, so there is no profile folder to write into.",
    "seat-failed": "A seat that could not be planned or verified (I/O, permissions).",
    "command-failed": "The command failed as a whole: a lock held, a folder it cannot read or write.",
    "incorrect-password": "The registrar refused the account's credentials (401 or 403 after them): MicroSIP's Incorrect Password.",
    "unknown-user": "The registrar does not know the account (404).",
    "proxy-authentication": "A proxy asked for credentials (407) and did not take the account's.",
    "unreachable": "The registrar did not answer: no reply in time, the connection refused, or a name that does not resolve.",
    "certificate-problem": "The registrar's TLS certificate does not verify (an unknown CA, another name, expired).",
    "registration-failed": "The registrar answered the REGISTER with another failure; the finding names its status line.",
    "not-checked": "An account not asked: its server refused five sets of credentials in a row before it.",
}


def summary_of(code: str) -> str:
    """What ``code`` means, whichever table holds it."""
    return CODES[code].summary if code in CODES else TARGET_CODES[code]

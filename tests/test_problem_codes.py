"""Every problem code: real input that yields it, and the line the docs show for it (issue 25, point 1).

Each case writes a small fleet (or a file to import) into the test's folder and runs
the public API the way the command does. The problem it reports must carry the
case's code, and its printed line must be the registry's example, word for word: the
docs' examples are what the tool prints, and a reworded message shows up here.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from provisioner import api
from provisioner.errors import FleetError, Problem
from provisioner.problem_codes import CODES

PROVISIONER = Path(__file__).resolve().parent.parent / "provisioner"

FLEET = "version: 1\nname: t\nseats:\n"
ONE = FLEET + "  - id: s\n    accounts: [{domain: d}]\n"


def seat(*lines: str, accounts: str = "[{domain: d}]") -> str:
    """A fleet of one seat ``s`` with ``lines`` added to it."""
    return FLEET + "  - id: s\n" + "".join(f"    {line}\n" for line in lines) + f"    accounts: {accounts}\n"


TEMPLATES = "templates: tpl\n"


@dataclass
class Case:
    """Input that yields ``code``; ``run`` is how the command reaches it."""

    code: str
    files: dict[str, str | bytes | int]
    run: str = "validate"
    modes: dict[str, int] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)


CASES = [
    Case("file-missing", {}),
    Case("not-a-file", {"fleet.yaml/inside.yaml": ONE}),
    Case("file-too-large", {"fleet.yaml": 64 * 1024 * 1024 + 1}),
    Case("file-unreadable", {}, links={"fleet.yaml": "fleet.yaml"}),
    Case("not-utf8", {"fleet.yaml": b"version: 1\nname: caf\xe9\n"}),
    Case("empty-file", {"fleet.yaml": ""}),
    Case("yaml-syntax", {"fleet.yaml": "version: 1\nname: [t\n"}),
    Case("yaml-refused", {"fleet.yaml": "version: 1\nname: !custom t\n"}),
    Case("double-quoted-path", {"fleet.yaml": seat('install: {exe: "C:\\temp\\new.exe"}')}),
    Case("unquoted-value", {"fleet.yaml": ONE + "    user: 2026-02-30\n"}),
    Case("duplicate-key", {"fleet.yaml": "version: 1\nname: t\nname: u\nseats: []\n"}),
    Case("top-level", {"fleet.yaml": "- a\n- b\n"}),
    Case(
        "csv-malformed",
        {"fleet.yaml": FLEET + "  []\nseat_files: [{path: seats.csv}]\n", "seats.csv": "id,user\na,b,c\n"},
    ),
    Case("csv-header", {"fleet.yaml": FLEET + "  []\nseat_files: [{path: seats.csv}]\n", "seats.csv": "user\nb\n"}),
    Case("unknown-key", {"fleet.yaml": seat("dispayName: x")}),
    Case("missing-key", {"fleet.yaml": FLEET + "  - accounts: [{domain: d}]\n"}),
    Case("not-one-of", {"fleet.yaml": seat(accounts="[{domain: d, transport: tsl}]")}),
    Case("wrong-type", {"fleet.yaml": seat("profiles: {a: 1}")}),
    Case("bad-name", {"fleet.yaml": FLEET + "  - id: bad id\n    accounts: [{domain: d}]\n"}),
    Case("reserved-name", {"fleet.yaml": seat("user: CON")}),
    Case("out-of-range", {"fleet.yaml": seat("settings: {volumeRing: 500}")}),
    Case("invalid-value", {"fleet.yaml": seat("active_account: 0")}),
    Case("unsafe-text", {"fleet.yaml": seat(accounts='[{domain: d, displayName: "two\\nlines"}]')}),
    Case("unsupported-version", {"fleet.yaml": ONE.replace("version: 1", "version: 2")}),
    Case(
        "needs-newer-microsip",
        {
            "fleet.yaml": seat("speed_dials: [{label: a, number: '1', label2: b}]").replace(
                "name: t", "name: t\nmicrosip: '3.22'"
            )
        },
    ),
    Case("empty-value", {"fleet.yaml": seat("contacts: [{name: a, number: ''}]")}),
    Case("sip-prefix", {"fleet.yaml": seat(accounts="[{domain: d, username: u, server: 'sip:pbx.example'}]")}),
    Case("bad-args", {"fleet.yaml": seat("launch: {args: --password x}")}),
    Case("bad-secret-reference", {"fleet.yaml": seat(accounts="[{domain: d, password: {vault: x}}]")}),
    Case("plaintext-password", {"fleet.yaml": seat(accounts="[{domain: d, username: u, password: hunter2}]")}),
    Case(
        "secret-missing",
        {"fleet.yaml": seat(accounts="[{domain: d, username: u, password: {env: PROVISIONER_TEST_UNSET}}]")},
        run="secrets",
    ),
    Case(
        "secret-exposed",
        {"fleet.yaml": seat(accounts="[{domain: d, username: u, password: {file: pw.txt}}]"), "pw.txt": "s3cret"},
        run="secrets",
        modes={"pw.txt": 0o644},
    ),
    Case(
        "duplicate-profile",
        {
            "fleet.yaml": "include: [more.yaml]\nprofiles: {p: {}}\n" + ONE,
            "more.yaml": "profiles: {p: {}}\n",
        },
    ),
    Case("unknown-profile", {"fleet.yaml": seat("profiles: [nope]")}),
    Case("extends-cycle", {"fleet.yaml": "profiles: {a: {extends: [b]}, b: {extends: [a]}}\n" + seat("profiles: [a]")}),
    Case("duplicate-seat-id", {"fleet.yaml": ONE + "  - id: s\n    accounts: [{domain: d}]\n"}),
    Case("no-seats", {"fleet.yaml": FLEET + "  []\n"}),
    Case("unknown-seat", {"fleet.yaml": ONE}, run="render"),
    Case("no-account", {"fleet.yaml": seat(accounts="[]")}),
    Case("no-domain", {"fleet.yaml": seat(accounts="[{username: u}]")}),
    Case("no-username", {"fleet.yaml": seat(accounts="[{domain: d, server: pbx}]")}),
    Case("no-such-account", {"fleet.yaml": seat("active_account: 3")}),
    Case("account-gap", {"fleet.yaml": seat("ini: {Account3: {domain: x}}")}),
    Case("duplicate-contact", {"fleet.yaml": seat("contacts: [{name: a, number: '1'}, {name: b, number: '1'}]")}),
    Case(
        "shortcuts-twice",
        {"fleet.yaml": seat("speed_dials: [{label: a, number: '1'}]", "ini: {Shortcuts: {'0': 'a;1;1;0;0'}}")},
    ),
    Case("volatile-key", {"fleet.yaml": seat("settings: {mainX: 10}")}),
    Case("catalogue-key-in-ini", {"fleet.yaml": seat("ini: {Settings: {autoAnswer: button}}")}),
    Case("unlisted-key", {"fleet.yaml": seat("ini: {Settings: {fancyKey: '1'}}")}),
    Case("seed-flags", {"fleet.yaml": seat("launch: {legacy_flags: '--user 1000 --colour red'}")}),
    Case("no-target", {"fleet.yaml": ONE}, run="plan"),
    Case("target-field", {"fleet.yaml": seat("target: {type: portable}")}),
    Case("mode-mismatch", {"fleet.yaml": seat("install: {mode: installed}", "target: {type: portable, path: usb}")}),
    Case(
        "bad-launcher",
        {"fleet.yaml": seat("install: {mode: portable, exe: Mícro.exe}", "target: {type: portable, path: usb}")},
    ),
    Case(
        "ignored-for-portable",
        {"fleet.yaml": seat("target: {type: portable, path: usb}", "launch: {shortcuts: [desktop]}")},
    ),
    Case("missing-root", {"fleet.yaml": seat("target: {type: portable, path: usb}")}, run="targets"),
    Case(
        "exposed-folder",
        {"fleet/fleet.yaml": seat("target: {type: portable, path: usb}"), "fleet/usb/MicroSIP.exe": ""},
        run="targets",
        modes={"fleet": 0o777},
    ),
    Case(
        "target-note",
        {"fleet.yaml": seat("user: jdoe", "target: {type: wine, prefix: wine}"), "wine/system.reg": ""},
        run="plan",
    ),
    Case(
        "shared-file",
        {
            "fleet.yaml": seat("user: jdoe", "target: {type: appdata, root: Users}")
            + "  - id: t\n    user: jdoe\n    target: {type: appdata, root: Users}\n    accounts: [{domain: d}]\n",
            "Users/jdoe/": "",
        },
        run="plan",
    ),
    Case("bad-include", {"fleet.yaml": "include: [more.yaml]\n" + ONE}),
    Case("path-outside", {"fleet.yaml": seat("contacts_file: ../phonebook.csv")}),
    Case("bad-path", {"fleet.yaml": seat("contacts_file: loop.csv")}, links={"loop.csv": "loop.csv"}),
    Case("not-a-folder", {"fleet.yaml": TEMPLATES + ONE, "tpl": ""}),
    Case("template-syntax", {"fleet.yaml": TEMPLATES + ONE, "tpl/microsip.ini.j2": "{% if %}\n"}, run="secrets"),
    Case(
        "template-error", {"fleet.yaml": TEMPLATES + ONE, "tpl/microsip.ini.j2": "{{ nothing.here }}\n"}, run="secrets"
    ),
    Case("template-output", {"fleet.yaml": TEMPLATES + ONE, "tpl/microsip.ini.j2": "not an ini line\n"}, run="secrets"),
    Case(
        "share-collision",
        {"fleet.yaml": seat("user: jdoe") + "  - id: t\n    user: jdoe\n    accounts: [{domain: d}]\n"},
        run="publish",
    ),
    Case("agent-unsupported", {"fleet.yaml": seat("user: jdoe", "computer: " + "P" * 16)}, run="publish"),
    Case("not-an-ini", {"m.ini": "just some text\n"}, run="import"),
    Case("import-refused", {"m.ini": "[Settings]\r\n[Account1]\r\nserver=pbx\r\ndomain=d\r\n"}, run="import"),
]


def _write(folder: Path, case: Case) -> None:
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            path.mkdir(exist_ok=True)
        elif isinstance(content, int):
            with path.open("wb") as handle:
                handle.truncate(content)  # sparse: no disk spent
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
    for name, target in case.links.items():
        (folder / name).symlink_to(target)
    for name, mode in case.modes.items():
        (folder / name).chmod(mode)


RUNS: dict[str, Callable[[Path], object]] = {
    "validate": lambda fleet: api.validate(fleet),
    "secrets": lambda fleet: api.validate(fleet, secrets=True),
    "targets": lambda fleet: api.validate(fleet, check_targets=True),
    "render": lambda fleet: api.render(fleet, fleet.parent / "out", seat_ids=["x"]),
    "plan": lambda fleet: api.plan(fleet),
    "publish": lambda fleet: api.publish(fleet, fleet.parent / "share"),
}


def problems_of(folder: Path, case: Case) -> list[Problem]:
    """Every problem the case's command reports, errors and warnings."""
    _write(folder, case)
    fleet = next((folder / n for n in case.files if n.endswith("fleet.yaml")), folder / "fleet.yaml")
    try:
        if case.run == "import":
            api.import_inis([Path("m.ini")])
            return []
        result = RUNS[case.run](fleet)
    except FleetError as exc:
        return [*exc.errors, *exc.warnings]
    return list(getattr(result, "warnings", []))


def shown(problem: Problem, folder: Path) -> str:
    """The problem's line with the test's folder as the docs show it."""
    return str(problem).replace(str(folder), "/srv/fleets")


@pytest.mark.parametrize("case", CASES, ids=[case.code for case in CASES])
def test_the_input_yields_its_code_and_the_documented_line(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("PROVISIONER_TEST_UNSET", raising=False)
    found = problems_of(folder, case)
    lines = [shown(p, folder) for p in found if p.code == case.code]
    assert lines, [(p.code, str(p)) for p in found]
    assert CODES[case.code].example == lines[0]


def test_every_code_has_a_case_and_every_case_a_code() -> None:
    assert sorted(case.code for case in CASES) == sorted(CODES)


def _codes_written_in_the_source() -> set[str]:
    """Every code the source passes as ``code=...`` or as ``fail()``'s first argument."""
    found: set[str] = set()
    for path in PROVISIONER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                    found.add(str(keyword.value.value))
            name = getattr(node.func, "id", None)
            if name in ("fail", "_Refused") and len(node.args) >= 2 + (name == "_Refused"):
                argument = node.args[0 if name == "fail" else 2]
                if isinstance(argument, ast.Constant):
                    found.add(str(argument.value))
    return found


def test_the_source_uses_only_registered_codes() -> None:
    used = _codes_written_in_the_source()
    assert used - set(CODES) == set()
    assert len(used) > 50  # the scan found the call sites


def test_a_warning_refused_by_strict_keeps_its_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fleet.yaml").write_text(seat(accounts="[{domain: d, username: u, password: hunter2}]"))
    with pytest.raises(FleetError) as caught:
        api.validate(tmp_path / "fleet.yaml", strict=True)
    assert [(p.code, p.warning) for p in caught.value.errors] == [("plaintext-password", False)]
    assert caught.value.errors[0].message.endswith("(refused by --strict)")


def test_codes_are_words_and_summaries_sentences() -> None:
    for code, entry in CODES.items():
        assert code.replace("-", "").isalnum() and code == code.lower(), code
        assert entry.summary.endswith(".") and entry.summary[0].isupper(), code

"""A bounded fuzz test: mutated fleets, profiles and CSV files never crash the tool.

Each case copies the example fleet, mutates one of its files (the fleet, an
included profile, the phonebook, or a seat CSV) with byte- and token-level edits
chosen to hit the parsers' corners (YAML tags and dates, huge numbers, NUL and
other control characters, Unicode line separators, superscript digits, long
paths, ``..``), then runs validate, render, apply and verify. Every run must end
with one of the contract's exit codes for input problems or results (0-3) and
never print a traceback or an internal error: exit 4 is a failure. The seed is
fixed, so a failure names the case that reproduces it.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, RunCli

CASES = 240
SEED = 20261127
TOKENS = [
    "\x00",
    "\x85",
    "\u2028",
    "\u2029",
    "\r",
    "\n",
    "\t",
    "\x1b",
    "²",
    "٣",
    "!!int abc",
    "!!float x",
    "!!binary @@",
    "!!timestamp 2020-13-45",
    "2020-02-30",
    "9" * 4400,
    "-" * 3,
    "..",
    "../../..",
    "/",
    "\\",
    "C:\\",
    "a" * 5000,
    "{",
    "}",
    "[",
    "]",
    ":",
    ": ",
    "- ",
    "&a",
    "*a",
    "<<: *a",
    "'",
    '"',
    "#",
    "%",
    ";",
    ",",
    "{env: X}",
    "{file: ../../x}",
    "{file: /dev/zero}",
    "null",
    "~",
    "true",
    "0x1F",
    "1e999",
    ".inf",
    "CON",
    "NUL.txt",
    "\U0001f600" * 300,
    "accounts.1.password.file",
    "accounts.9.username",
]
SEAT_CSV = (
    "id,user,profiles,accounts.1.username,accounts.1.domain,accounts.1.password.env,contacts.1.name,contacts.1.number\n"
    "csv-1,anna,quiet,3001,acme.example,PW_CSV,Desk,100\n"
    "csv-2,,,3002,acme.example,PW_CSV,,\n"
)


def _mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 4)):
        if not text:
            text = rng.choice(TOKENS)
            continue
        at = rng.randrange(len(text))
        move = rng.randrange(6)
        if move == 0:
            text = text[:at] + rng.choice(TOKENS) + text[at:]
        elif move == 1:
            end = min(len(text), at + rng.randint(1, 12))
            text = text[:at] + text[end:]
        elif move == 2:  # replace a value after a colon
            colon = text.find(": ", at)
            if colon != -1:
                eol = text.find("\n", colon)
                eol = len(text) if eol == -1 else eol
                text = text[: colon + 2] + rng.choice(TOKENS) + text[eol:]
        elif move == 3:  # duplicate a line
            lines = text.split("\n")
            index = rng.randrange(len(lines))
            lines.insert(index, lines[index])
            text = "\n".join(lines)
        elif move == 4:  # swap two lines
            lines = text.split("\n")
            a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
        else:
            text = (
                text[:at]
                + chr(rng.choice([0, 1, 0x7F, 0xA0, 0xFEFF, 0xD7FF, 0x10FFFF, rng.randrange(32, 0x3000)]))
                + text[at:]
            )
    return text


def _files(root: Path) -> dict[str, Path]:
    return {
        "fleet": root / "fleet.yaml",
        "profile": root / "profiles" / "office.yaml",
        "phonebook": root / "phonebook.csv",
        "seats": root / "seats.csv",
    }


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    root = tmp_path / "fleet"
    shutil.copytree(EXAMPLE.parent, root)
    for secret in (root / "secrets").glob("*.txt"):
        secret.chmod(0o600)
    text = (root / "fleet.yaml").read_text(encoding="utf-8")
    (root / "fleet.yaml").write_text(
        text.replace("\nseats:\n", "\nseat_files: [seats.csv]\nseats:\n", 1), encoding="utf-8"
    )
    (root / "seats.csv").write_text(SEAT_CSV, encoding="utf-8")
    return root


@pytest.mark.slow
def test_mutated_inputs_never_crash(example_copy: Path, run_cli: RunCli, tmp_path: Path) -> None:
    pristine = {name: path.read_bytes() for name, path in _files(example_copy).items()}
    assert run_cli("validate", str(example_copy / "fleet.yaml"), env={"PW_CSV": "x"}).exit_code == 0
    rng = random.Random(SEED)
    kinds = sorted(pristine)
    failures = []
    for case in range(CASES):
        kind = kinds[case % len(kinds)]
        path = _files(example_copy)[kind]
        for name, data in pristine.items():
            _files(example_copy)[name].write_bytes(data)
        text = _mutate(pristine[kind].decode("utf-8"), rng)
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        out = tmp_path / f"out{case}"
        fleet = str(example_copy / "fleet.yaml")
        for args in (
            ["validate", fleet, "--secrets"],
            ["render", fleet, "--out", str(out)],
            ["apply", fleet, "--root", str(tmp_path / f"tree{case}")],
            ["verify", fleet, "--root", str(tmp_path / f"tree{case}")],
        ):
            result = run_cli(*args, env={"PW_CSV": "x"})
            if (
                result.exit_code not in (0, 1, 2, 3)
                or "Traceback" in result.output
                or "internal error" in result.output
            ):
                failures.append(f"case {case} ({kind}), {args[0]}: exit {result.exit_code}: {result.output[-400:]!r}")
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(tmp_path / f"tree{case}", ignore_errors=True)
    assert not failures, "\n".join(failures[:10])


def test_mutated_inis_never_crash_import(run_cli: RunCli, tmp_path: Path) -> None:
    from tests import microsip_written

    rng = random.Random(SEED)
    failures = []
    for case in range(CASES):
        text = _mutate(microsip_written.TEXT, rng)
        data = microsip_written.utf16(text) if case % 2 else text.encode("utf-8", "surrogatepass")
        if case % 7 == 0:
            data = data[: rng.randrange(len(data) + 1)]  # torn
        path = tmp_path / f"in{case}" / "microsip.ini"
        path.parent.mkdir()
        path.write_bytes(data)
        result = run_cli("import", str(path))
        if result.exit_code not in (0, 2) or "Traceback" in result.output:
            failures.append(f"case {case}: exit {result.exit_code}: {result.output[-300:]!r}")
    assert not failures, "\n".join(failures[:10])


def test_damaged_zips_never_crash_bundle(run_cli: RunCli, tmp_path: Path) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("MicroSIP/microsip.exe", b"MZ" + bytes(range(256)) * 40)
        archive.writestr("MicroSIP/langpack.ini", "x=1\n" * 200)
    pristine = buffer.getvalue()
    (tmp_path / "fleet.yaml").write_text(
        "version: 1\nname: t\nseats:\n  - id: a\n    accounts: [{domain: d}]\n", encoding="utf-8"
    )
    rng = random.Random(SEED)
    failures = []
    for case in range(CASES // 2):
        data = bytearray(pristine)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data))
            data[at : at + rng.randint(1, 8)] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 8)))
        source = tmp_path / f"dist{case}.zip"
        source.write_bytes(bytes(data))
        result = run_cli(
            "bundle",
            str(tmp_path / "fleet.yaml"),
            "--seat",
            "a",
            "--microsip",
            str(source),
            "--out",
            str(tmp_path / f"b{case}.zip"),
        )
        if result.exit_code not in (0, 2, 3) or "Traceback" in result.output:
            failures.append(f"case {case}: exit {result.exit_code}: {result.output[-300:]!r}")
    assert not failures, "\n".join(failures[:10])

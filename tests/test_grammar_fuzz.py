"""A grammar-aware fuzzer: inputs built from the formats' own grammar, through every command that reads them.

Where ``test_fuzz`` mutates bytes of good files, this one writes files that parse as
far as their grammar goes and then carry what breaks programs: CSV headers that are
dotted paths of any shape (fields only YAML may set, nested and empty parts, list
positions of thousands of digits) and cells with quotes, line breaks, secret
references and huge numbers; YAML with numbers of thousands of digits, nesting
hundreds deep, anchors and tags; secret files that are FIFOs, links (to
``/dev/zero``, in a loop) or folders; inis in MicroSIP's encodings; legacy flag
command lines. Each case runs through validate, render, plan, publish, import or
translate-flags, in-process with an alarm: exit 4, a traceback or a run that does not
finish within the alarm is a failure. ``FUZZ_CASES`` sets the number of cases a test.
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.launchers.seed_flags import LEGACY_TABLE
from tests.conftest import RunCli

CASES = int(os.environ.get("FUZZ_CASES", "100"))
#: Seconds a single command may take before the case counts as a hang.
ALARM = 20
FUZZ = settings(
    max_examples=CASES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

HUGE = ["9" * 5000, "-" + "9" * 4400, "1" + "0" * 400, "0x" + "f" * 300, "1e99999", ".nan", "007"]
WEIRD = ["", " ", '"', '""', "'", ",", ";", "\n", "\r\n", "\x00", "\x1b[2J", "\u2028", "é", "\U0001f600" * 40]
SECRETS = ["{file: pw}", "{file: ../pw}", "{file: /dev/zero}", "{env: PW}", "{env: }", "{file:", "{}"]

HEADS = st.sampled_from(
    [
        *("id", "user", "computer", "profiles", "active_account", "target", "install", "launch", "settings", "ini"),
        *("contacts_file", "speed_dials", "enforce", "unmanage", "accounts", "account", "contacts", "", "Id", ".."),
    ]
)
PARTS = st.one_of(
    st.sampled_from(["1", "2", "0", "username", "password", "domain", "file", "env", "name", "number", "path"]),
    st.sampled_from(["exe", "cmdCallStart", "autoAnswer", "shortcuts", "Settings", "", "x" * 300, *HUGE[:3]]),
)
HEADER = st.builds(lambda head, parts: ".".join([head, *parts]), HEADS, st.lists(PARTS, max_size=4))
CELL = st.one_of(st.sampled_from(HUGE + WEIRD + SECRETS), st.text(max_size=30))


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',;"\r\n') else text


#: Headers a seat file may have: with them, a case gets past the header to its cells and secrets.
GOOD_HEADER = st.sampled_from(
    [
        *("user", "computer", "profiles", "accounts.1.username", "accounts.1.password.file", "accounts.1.domain"),
        *("accounts.1.displayName", "accounts.2.username", "account.label", "contacts.1.name", "contacts.1.number"),
    ]
)


@st.composite
def seat_files(draw: st.DrawFn, header_cells: st.SearchStrategy[str] = HEADER) -> str:
    """A CSV seat file: a header of dotted paths, rows of cells, either separator, with or without BOM."""
    header = draw(st.lists(header_cells, min_size=1, max_size=6, unique=True))
    if draw(st.booleans()) or header_cells is GOOD_HEADER:
        header = ["id", *header]
    sep = draw(st.sampled_from([",", ";"]))
    rows: list[list[str]] = draw(st.lists(st.lists(CELL, min_size=len(header), max_size=len(header)), max_size=4))
    short: bool = draw(st.booleans())
    if rows and short:
        rows[-1] = rows[-1][:-1]  # a short row
    lines = [sep.join(_csv_cell(c) for c in row) for row in [header, *rows]]
    return ("\ufeff" if draw(st.booleans()) else "") + "\r\n".join(lines) + "\r\n"


SCALAR = st.one_of(
    st.sampled_from(HUGE + SECRETS + ["~", "null", "true", "!!binary @@", "!!python/object:os.system x"]),
    st.integers(),
    st.text(max_size=12),
)


def _nested(depth: int, leaf: str) -> str:
    return "[" * depth + leaf + "]" * depth


@st.composite
def fleets(draw: st.DrawFn) -> str:
    """A fleet document: the real top-level shape, with huge numbers, deep nesting, anchors and tags in its values."""
    value = draw(
        st.one_of(
            SCALAR.map(str),
            st.builds(_nested, st.integers(1, 400), SCALAR.map(str)),
            st.just("&a [*a]"),
            st.just("{<<: *b}"),
            st.builds(lambda n: "{" + "a: {" * n + "b: 1" + "}" * (n + 1), st.integers(1, 300)),
        )
    )
    place = draw(
        st.sampled_from(
            [
                "  settings: {volumeRing: {v}}\n",
                "  settings: {rtpPortMin: {v}}\n",
                "  account: {password: {v}}\n",
                "  launch: {args: {v}}\n",
                "  speed_dials: {v}\n",
                "  contacts: {v}\n",
                "  ini: {Settings: {x: {v}}}\n",
                "  target: {v}\n",
            ]
        )
    )
    seats = draw(
        st.sampled_from(
            ["seats: [{id: a, accounts: [{domain: d}]}]\n", "seats: {v}\n", "seats: []\nseat_files: [seats.csv]\n"]
        )
    )
    return (
        "version: 1\nname: fuzz\ndefaults:\n  target: {type: appdata, root: users}\n  account: {domain: d}\n"
        + place.replace("{v}", value)
        + seats.replace("{v}", value)
    )


@contextmanager
def alarm(seconds: int, what: str) -> Iterator[None]:
    """Fail the case when ``what`` does not finish in time (a read blocked on a FIFO, a loop)."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"{what}: did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _check(run_cli: RunCli, *args: str, env: dict[str, str] | None = None) -> None:
    with alarm(ALARM, " ".join(args[:1])):
        result = run_cli(*args, env=env or {"PW": "s3cret"})
    assert result.exit_code in (0, 1, 2, 3), f"{args[0]}: exit {result.exit_code}: {result.output[-600:]}"
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output[-600:]


def _secret(folder: Path, kind: str) -> None:
    """The seat's secret file ``pw`` as something hostile."""
    path = folder / "pw"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        path.symlink_to("/dev/zero")
    elif kind == "loop":
        path.symlink_to(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "latin1":
        path.write_bytes(b"caf\xe9\n")
    else:
        path.write_bytes(b"")


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="the hang alarm is POSIX")
@FUZZ
@given(
    csv=st.one_of(seat_files(), seat_files(GOOD_HEADER)),
    secret=st.sampled_from(["fifo", "zero", "loop", "folder", "latin1", "empty"]),
)
def test_seat_files_and_secret_files(run_cli: RunCli, csv: str, secret: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "users" / "a").mkdir(parents=True)
        fleet = "version: 1\nname: f\ndefaults:\n  target: {type: appdata, root: users}\n  account: {domain: d}\n"
        seats = "seats: [{id: s, user: a, accounts: [{username: '1', password: {file: pw}}]}]\n"
        (folder / "fleet.yaml").write_text(fleet + "seat_files: [seats.csv]\n" + seats, encoding="utf-8")
        (folder / "seats.csv").write_text(csv, encoding="utf-8", errors="surrogatepass")
        _secret(folder, secret)
        path = str(folder / "fleet.yaml")
        _check(run_cli, "validate", path, "--secrets")
        _check(run_cli, "render", path, "--out", str(folder / "out"))
        _check(run_cli, "plan", path)
        _check(run_cli, "publish", path, "--out", str(folder / "share"))


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="the hang alarm is POSIX")
@FUZZ
@given(text=fleets(), csv=seat_files())
def test_fleets_with_huge_numbers_and_deep_nesting(run_cli: RunCli, text: str, csv: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "users" / "a").mkdir(parents=True)
        (folder / "fleet.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        (folder / "seats.csv").write_text(csv, encoding="utf-8", errors="surrogatepass")
        (folder / "pw").write_text("s3cret\n", encoding="utf-8")
        path = str(folder / "fleet.yaml")
        _check(run_cli, "validate", path, "--strict")
        _check(run_cli, "render", path, "--out", str(folder / "out"))
        _check(run_cli, "plan", path)
        _check(run_cli, "publish", path, "--out", str(folder / "share"))


INI_VALUE = st.one_of(st.sampled_from(HUGE + WEIRD + ["0", "1", "-1", "4294967296"]), st.text(max_size=20))
INI_KEY = st.sampled_from(["volumeRing", "accountId", "rtpPortMin", "autoAnswer", "domain", "password", "0", "", "x=y"])
INI_SECTION = st.sampled_from(["Settings", "Account1", "Account0", "Account" + "9" * 5000, "Shortcuts", "Calls", ""])


@st.composite
def inis(draw: st.DrawFn) -> bytes:
    """An ini as MicroSIP or a person writes it: sections and keys, in UTF-16LE, UTF-8 or ANSI."""
    lines = []
    for _ in range(draw(st.integers(1, 5))):
        lines.append(f"[{draw(INI_SECTION)}]")
        lines.extend(f"{draw(INI_KEY)}={draw(INI_VALUE)}" for _ in range(draw(st.integers(0, 5))))
    text = "\r\n".join(lines) + "\r\n"
    encoding = draw(st.sampled_from(["utf-16", "utf-8-sig", "utf-8", "cp1252"]))
    return text.encode(encoding, errors="replace")


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="the hang alarm is POSIX")
@FUZZ
@given(data=inis())
def test_import(run_cli: RunCli, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "microsip.ini"
        path.write_bytes(data)
        _check(run_cli, "import", str(path))


FLAG = st.one_of(
    st.sampled_from(list(LEGACY_TABLE)),
    st.sampled_from(["--pasword", "-password", "--user=", "--password=", "/minimized", "/account:" + "9" * 5000, "--"]),
)
FLAG_VALUE = st.one_of(st.sampled_from(HUGE + WEIRD + ["s3cretPW", "sip:100@pbx", "1", "0"]), st.text(max_size=15))


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="the hang alarm is POSIX")
@FUZZ
@given(argv=st.lists(st.one_of(FLAG, FLAG_VALUE), max_size=8), one_string=st.booleans())
def test_translate_flags(run_cli: RunCli, argv: list[str], one_string: bool) -> None:
    args = [" ".join(argv)] if one_string else ["--", *argv]
    with alarm(ALARM, "translate-flags"):
        result = run_cli("translate-flags", *args)
    assert result.exit_code in (0, 2), result.output[-600:]
    assert "Traceback" not in result.output and "internal error" not in result.output
    after = [argv[i - 1] if i else "" for i, token in enumerate(argv) if token == "s3cretPW"]
    if after and all(flag.startswith("-") and flag.split("=")[0] not in LEGACY_TABLE for flag in after):
        assert "s3cretPW" not in result.output  # what follows a mistyped option is never echoed

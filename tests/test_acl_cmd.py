"""acl.cmd as cmd.exe runs it (under Wine), for the names people have.

cmd.exe reads a batch file in the console's code page, so acl.cmd holds no user name: it
takes each from the share's ``status\\<user>\\`` folders. A stand-in for icacls.exe
(``tests/fixtures/icaclsdump.c``) on the PATH records what cmd handed it, as UTF-8.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.wine import boot, build, needs_wine, run, stop, windows, wine_env

pytestmark = needs_wine

USERS = ["jürgen.müller", "o'brien", "anna maria", "Łukasz & co", "x%PATH%y", "a)b", "Дмитрий"]
FLEET = (
    "version: 1\nname: names\ndefaults:\n  account: {domain: example.com}\nseats:\n"
    + "".join(
        f'  - id: s{i}\n    user: "{name}"\n    accounts: [{{username: "{i}"}}]\n' for i, name in enumerate(USERS)
    )
    + '  - id: pc\n    user: "jürgen.müller"\n    computer: PC1\n    accounts: [{username: "9"}]\n'
)
ADMINS = '"*S-1-5-32-544:(OI)(CI)F" "*S-1-5-18:(OI)(CI)F"'


def test_acl_cmd_grants_every_user_by_name_and_groups_by_sid(tmp_path: Path, run_cli: RunCli) -> None:
    (tmp_path / "fleet.yaml").write_text(FLEET, encoding="utf-8")
    share = tmp_path / "share"
    result = run_cli("publish", str(tmp_path / "fleet.yaml"), "--out", str(share))
    assert result.exit_code == 0, result.output
    assert (share / "acl.cmd").read_bytes().isascii()
    env = wine_env(tmp_path / "wine")
    boot(env)
    tools = tmp_path / "tools"
    tools.mkdir()
    build("icaclsdump.c", tools / "icacls.exe")
    env["WINEPATH"] = windows(tools)
    try:
        done = run(env, "cmd", "/c", windows(share / "acl.cmd"))
    finally:
        stop(env)
    assert done.returncode == 0, done.stderr
    lines = (tools / "icacls.log").read_text("utf-8").splitlines()
    where = windows(share)
    domain = lines[0].split('"')[0]  # the program's own name, as cmd started it
    calls = [line[len(domain) :] for line in lines]
    assert calls[:4] == [
        f'"{where}\\." /inheritance:r /grant:r {ADMINS} "*S-1-5-11:RX"',
        f'"{where}\\agent" /inheritance:e',
        f'"{where}\\seats" /inheritance:r /grant:r {ADMINS} "*S-1-5-11:(NP)RX"',
        f'"{where}\\status" /inheritance:r /grant:r {ADMINS} "*S-1-5-11:(NP)X"',
    ]
    user_domain = calls[4].rsplit("\\", 1)[0].rsplit('"', 1)[1]
    expected = []
    for user in sorted(USERS, key=lambda name: name.encode("utf-16-le")):
        who = f'"{user_domain}\\{user}'
        expected += [
            f'"{where}\\status\\{user}" /inheritance:r /grant:r {ADMINS} {who}:(OI)(CI)M"',
            f'"{where}\\seats\\{user}" /inheritance:r /grant:r {ADMINS} {who}:(OI)(CI)RX"',
            f'"{where}\\seats\\{user}@*" /inheritance:r /grant:r {ADMINS} {who}:(OI)(CI)RX"',
        ]
    assert sorted(calls[4:]) == sorted(expected)
    assert (share / "seats" / "jürgen.müller@PC1" / "seat.ini").is_file()  # matched by seats\jürgen.müller@*


@pytest.mark.parametrize("user", ["jürgen.müller", "n.schröder", "o'brien", "anna maria"])
def test_publish_takes_the_names_windows_accepts(tmp_path: Path, run_cli: RunCli, user: str) -> None:
    (tmp_path / "fleet.yaml").write_text(
        f'version: 1\nname: t\nseats:\n  - id: a\n    user: "{user}"\n    accounts: [{{domain: d}}]\n', encoding="utf-8"
    )
    result = run_cli("publish", str(tmp_path / "fleet.yaml"), "--out", str(tmp_path / "share"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "share" / "seats" / user / "seat.ini").is_file()
    assert (tmp_path / "share" / "status" / user).is_dir()

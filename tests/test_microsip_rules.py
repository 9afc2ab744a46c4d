"""What MicroSIP really does with the files, encoded as rules the fleet is held to.

Each test names the MicroSIP behaviour it encodes (from MicroSIP's source, 3.22.3,
as recorded in the README's "How MicroSIP treats its ini").
"""

from __future__ import annotations

import json
from pathlib import Path

from provisioner import ini
from tests.conftest import BuildTree, RunCli

INI = Path("users/ana/AppData/Roaming/MicroSIP/microsip.ini")


def fleet(extra: str = "", account: str = "", seat_extra: str = "") -> str:
    return (
        "version: 1\nname: rules\n"
        "defaults:\n  target: {type: appdata, root: users}\n"
        f"{extra}"
        "seats:\n"
        "  - id: ana\n"
        f"    accounts: [{{username: '100', domain: example.com{account}}}, {{username: '200', domain: example.com}}]\n"
        f"{seat_extra}"
    )


def values(path: Path) -> dict[str, dict[str, str]]:
    """The ini as MicroSIP's reader would see it: UTF-16LE decoded and parsed back."""
    text, _ = ini.decode(path.read_bytes())
    out: dict[str, dict[str, str]] = {}
    for (section, key), value in ini.raw_values(text).items():
        out.setdefault(section.lower(), {})[key.lower()] = ini.read_value(value)
    return out


DIALS = "    speed_dials: [{label: Desk, number: '200'}]\n"


def test_speed_dials_turn_on_the_buttons_microsip_would_otherwise_hide(build_tree: BuildTree, run_cli: RunCli) -> None:
    """MicroSIP builds the speed-dial buttons only when [Settings] enableShortcuts=1 (its default is 0).

    MicroSIP writes every setting back on exit, so an existing ini always holds
    enableShortcuts=0: the key is managed (not only seeded) for a seat with speed dials.
    """
    build_tree({"fleet.yaml": fleet(seat_extra=DIALS)})
    INI.parent.mkdir(parents=True)
    INI.write_bytes(ini.encode("[Settings]\r\nenableShortcuts=0\r\n"))
    assert run_cli("apply", "fleet.yaml").exit_code == 0
    assert values(INI)["settings"]["enableshortcuts"] == "1"
    explained = run_cli("explain", "fleet.yaml", "--seat", "ana").output
    assert "implied by speed_dials: MicroSIP shows speed-dial buttons only with enableShortcuts=1" in explained


def test_an_explicit_enable_shortcuts_is_the_fleets_word(build_tree: BuildTree, run_cli: RunCli) -> None:
    """A fleet that sets enableShortcuts itself keeps its value (the buttons stay hidden, as asked)."""
    build_tree({"fleet.yaml": fleet(extra="  settings: {enableShortcuts: false}\n", seat_extra=DIALS)})
    INI.parent.mkdir(parents=True)
    assert run_cli("apply", "fleet.yaml").exit_code == 0
    assert values(INI)["settings"]["enableshortcuts"] == "0"


def test_switching_accounts_in_microsip_is_not_drift(build_tree: BuildTree, run_cli: RunCli) -> None:
    """MicroSIP's account menu and ``/account:N`` rewrite [Settings] accountId: it is seeded, then the user's."""
    build_tree({"fleet.yaml": fleet()})
    INI.parent.mkdir(parents=True)
    assert run_cli("apply", "fleet.yaml").exit_code == 0
    assert values(INI)["settings"]["accountid"] == "1"
    text, _ = ini.decode(INI.read_bytes())
    INI.write_bytes(ini.encode(text.replace("accountId=1", "accountId=2")))  # the user picked account 2
    for command in ("plan", "apply", "verify"):
        result = run_cli(command, "fleet.yaml", "--format", "json")
        assert result.exit_code == 0, (command, result.output)
        document = json.loads(result.stdout)
        assert [t["action"] for t in document["targets"]] == ["unchanged"], (command, document)
        assert not any(t.get("conflicts") or t.get("drift") for t in document["targets"])
    assert values(INI)["settings"]["accountid"] == "2"


def test_enforce_keeps_a_key_microsip_rewrites(build_tree: BuildTree, run_cli: RunCli) -> None:
    """``enforce: [accountId]`` makes apply put the fleet's active account back, as a managed key."""
    build_tree({"fleet.yaml": fleet(seat_extra="    enforce: [accountid]\n")})
    INI.parent.mkdir(parents=True)
    assert run_cli("apply", "fleet.yaml").exit_code == 0
    text, _ = ini.decode(INI.read_bytes())
    INI.write_bytes(ini.encode(text.replace("accountId=1", "accountId=2")))
    result = run_cli("verify", "fleet.yaml", "--format", "json")
    assert result.exit_code == 1
    assert "accountId" in json.dumps(json.loads(result.stdout))
    assert run_cli("apply", "fleet.yaml", "--force").exit_code == 0
    assert values(INI)["settings"]["accountid"] == "1"


def test_enforce_names_only_keys_microsip_rewrites(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": fleet(seat_extra="    enforce: [autoAnswer]\n")})
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "fleet.yaml:8:14: seats[ana].enforce: 'autoAnswer' is not a key MicroSIP rewrites while it runs; "
        "every other key is enforced already, and `enforce` takes only those MicroSIP rewrites "
        "(accountId, enableShortcuts, ...)"
    )

"""What MicroSIP really does with the files, encoded as rules the fleet is held to.

Each test names the MicroSIP behaviour it encodes (from MicroSIP's source, 3.22.3,
as recorded in docs/microsip.md, "How MicroSIP reads its ini").
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


def first_error(build_tree: BuildTree, run_cli: RunCli, text: str) -> str:
    build_tree({"fleet.yaml": text})
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 2, result.output
    return str(result.stderr.splitlines()[0])


def test_account_switch_beyond_the_seats_accounts_is_refused(build_tree: BuildTree, run_cli: RunCli) -> None:
    """``/account:N`` with no [AccountN]: MicroSIP finds no such account and only brings its window forward."""
    line = first_error(build_tree, run_cli, fleet(seat_extra="    launch: {args: '/account:3'}\n"))
    assert line == (
        "fleet.yaml:8:20: seats[ana].launch.args: /account:3 names an account the seat does not have: "
        "it has 2 accounts (numbered from 1); MicroSIP would find no such account and only bring its window forward"
    )
    build_tree({"fleet.yaml": fleet(seat_extra="    launch: {args: '/account:2 sip:200'}\n")})
    assert run_cli("validate", "fleet.yaml").exit_code == 0


def test_sips_is_not_a_prefix_microsip_strips(build_tree: BuildTree, run_cli: RunCli) -> None:
    """MicroSIP's dial handler strips tel:, sip:, callto:, dialpad: and dial: -- not sips: (it would dial sip:sips:)."""
    line = first_error(build_tree, run_cli, fleet(seat_extra="    launch: {args: 'sips:200@example.com'}\n"))
    assert line.endswith(
        "MicroSIP does not strip 'sips:' from 'sips:200@example.com': it would dial sip:sips:200@example.com. "
        "Write '200@example.com' (or sip:200@example.com); for an encrypted call set the account's transport to tls"
    )
    for accepted in ("tel:200", "callto:200", "dialpad:200", "dial:200", "SIP:200@example.com"):
        build_tree({"fleet.yaml": fleet(seat_extra=f"    launch: {{args: '{accepted}'}}\n")})
        assert run_cli("validate", "fleet.yaml").exit_code == 0, accepted


def test_contact_fields_hold_only_what_microsip_decodes(build_tree: BuildTree, run_cli: RunCli) -> None:
    """MicroSIP's XML reader decodes only &lt; &amp; &gt; &apos; &quot; &#39;: a TAB would come back as '&#9;'."""
    line = first_error(build_tree, run_cli, fleet(seat_extra='    contacts: [{name: "A\\tB", number: "1"}]\n'))
    assert line == (
        "fleet.yaml:8:23: seats[ana].contacts[1].name: 'A\\tB' contains a control character (a tab or line break, "
        "say), which MicroSIP's files cannot hold: its phonebook reader decodes no such escape; remove it"
    )
    line = first_error(build_tree, run_cli, fleet(seat_extra='    contacts: [{name: "Desk", number: ""}]\n'))
    assert line.endswith("a contact needs a number: MicroSIP drops a phonebook entry without one when it loads")


def test_speed_dial_fields_follow_microsips_editor(build_tree: BuildTree, run_cli: RunCli) -> None:
    """MicroSIP's editor drops buttons without a label; transfer/conference act on the current call (no number)."""
    line = first_error(build_tree, run_cli, fleet(seat_extra="    speed_dials: [{label: '', number: '200'}]\n"))
    assert line.endswith("a speed dial needs a label: MicroSIP's own editor drops buttons without one")
    line = first_error(build_tree, run_cli, fleet(seat_extra="    speed_dials: [{label: Desk}]\n"))
    assert line.endswith(
        "a 'call' button needs a number (only transfer, attendedTransfer, conference buttons act on the current "
        "call without one)"
    )
    build_tree({"fleet.yaml": fleet(seat_extra="    speed_dials: [{label: Conf, type: conference}]\n")})
    assert run_cli("validate", "fleet.yaml").exit_code == 0
    line = first_error(
        build_tree, run_cli, fleet(seat_extra="    speed_dials: [{label: Web, number: x, type: popURL}]\n")
    )
    assert line.endswith(
        "'popURL' buttons only show \"not available in the free version\" in MicroSIP 3.22; use one of call, video, "
        "message, dtmf, transfer, attendedTransfer, conference"
    )


def test_import_reads_a_file_without_bom_as_microsip_does(build_tree: BuildTree, run_cli: RunCli) -> None:
    """Windows' profile API reads an ini without a BOM in the ANSI code page; import says so and does the same."""
    body = "[Settings]\nringingSound={}\n[Account1]\nusername=100\ndomain=example.com\n"
    build_tree({"a/microsip.ini": body.format("звонок.wav").encode("cp1251")})
    result = run_cli("import", "a/microsip.ini", "--code-page", "1251")
    assert result.exit_code == 0, result.output
    assert 'ringingSound: "звонок.wav"' in result.stdout and "ansi_code_page: 1251" in result.stdout
    assert (
        "warning: a/microsip.ini: no BOM, so read in the ANSI code page cp1251, as MicroSIP reads it" in result.stderr
    )
    build_tree({"b/microsip.ini": body.format("Klingelton ä.wav").encode("utf-8")})
    result = run_cli("import", "b/microsip.ini")
    assert result.exit_code == 0, result.output
    assert 'ringingSound: "Klingelton Ã¤.wav"' in result.stdout
    assert "the file is UTF-8, which MicroSIP shows as mojibake ('Ã¤' for 'ä')" in result.stderr


def test_import_brings_back_only_the_buttons_microsip_showed(build_tree: BuildTree, run_cli: RunCli) -> None:
    """MicroSIP reads [Shortcuts] 0, 1, ... up to the first empty slot; later entries never show."""
    shortcuts = "[Shortcuts]\r\n0=Desk;200;call;;0\r\n1=\r\n2=Boss;300;call;;0\r\n"
    body = "[Settings]\r\n" + shortcuts + "[Account1]\r\nusername=100\r\ndomain=example.com\r\n"
    build_tree({"a/microsip.ini": ini.encode(body)})
    result = run_cli("import", "a/microsip.ini")
    assert result.exit_code == 0, result.output
    assert "Desk" in result.stdout and "Boss" not in result.stdout
    assert (
        "warning: a/microsip.ini: [Shortcuts] 2: left out, as MicroSIP never shows them (it stops reading at the "
        "empty slot 1)"
    ) in result.stderr


def fleet_3_22_16(seat_extra: str, version: str = "3.22.16") -> str:
    return fleet(seat_extra=seat_extra).replace("name: rules\n", f'name: rules\nmicrosip: "{version}"\n')


def test_3_22_16_writes_its_own_speed_dials_and_caller_id(build_tree: BuildTree, run_cli: RunCli) -> None:
    """3.22.16 (settings.cpp ShortcutDecode) reads a sixth field, label2; hideCID is '', soft or hard."""
    dials = (
        "    speed_dials: [{label: Desk, number: '200', type: callOrBT, label2: Transfer}]\n"
        "    account: {hideCID: soft}\n"
    )
    build_tree({"fleet.yaml": fleet_3_22_16(dials)})
    result = run_cli("render", "fleet.yaml", "--out", "out")
    assert result.exit_code == 0, result.output
    written = values(Path("out/ana/microsip.ini"))
    assert written["shortcuts"]["0"] == "Desk;200;callOrBT;;0;Transfer"
    assert written["account1"]["hidecid"] == "soft"


def test_3_22_3_refuses_what_only_3_22_16_has(build_tree: BuildTree, run_cli: RunCli) -> None:
    line = first_error(
        build_tree, run_cli, fleet_3_22_16("    speed_dials: [{label: D, number: '2', label2: x}]\n", "3.22")
    )
    assert line.endswith("a second label (`label2`) needs MicroSIP 3.22.16; MicroSIP 3.22 has no such field")
    line = first_error(
        build_tree, run_cli, fleet_3_22_16("    speed_dials: [{label: D, number: '2', type: callOrBT}]\n", "3.22")
    )
    assert "'callOrBT' is not a speed-dial type MicroSIP 3.22 knows" in line
    line = first_error(build_tree, run_cli, fleet_3_22_16("    speed_dials: [{label: D, number: x, type: runBatch}]\n"))
    assert "'runBatch' is not a speed-dial type MicroSIP 3.22.16 knows" in line
    line = first_error(build_tree, run_cli, fleet_3_22_16("    settings: {checkUpdatesTime: 5}\n"))
    assert line.endswith(
        "MicroSIP 3.22.16 keeps 'checkUpdatesTime' in [Global] and writes it itself (it is state, not configuration); "
        "remove it"
    )


def test_account_strings_are_as_long_as_microsip_reads(build_tree: BuildTree, run_cli: RunCli) -> None:
    """AccountLoad reads displayName (and the server, user, ... strings) into 1,041 wide characters."""
    build_tree({"fleet.yaml": fleet(account=", displayName: " + "a" * 1040)})
    assert run_cli("validate", "fleet.yaml").exit_code == 0
    line = first_error(build_tree, run_cli, fleet(account=", displayName: " + "a" * 1041))
    assert "1040" in line

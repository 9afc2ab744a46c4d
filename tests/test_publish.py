"""publish: the share Windows PCs read at logon (the agent itself is tested in test_agent.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from provisioner import ini
from tests.conftest import EXAMPLE, BuildTree, RunCli, listing

FLEET = """\
version: 1
name: office
defaults:
  account: {server: pbx.example.com, domain: example.com}
  settings: {autoAnswer: header}
  launch: {name: MicroSIP Office, shortcuts: [desktop]}
seats:
  - id: jdoe
    accounts: [{username: "2001", password: {env: PW}}]
  - id: kiosk
    user: front
    computer: FRONT-PC1
    accounts: [{username: "2002", password: {env: PW}}]
  - id: usb
    install: {mode: portable, exe: MicroSIP-usb.exe}
    target: {type: portable, path: stick}
    accounts: [{username: "2003"}]
  - id: tools
    install: {mode: portable, exe: 'C:\\Tools\\MicroSIP\\microsip.exe'}
    accounts: [{username: "2004"}]
"""
ENV = {"PW": "s3cret-pw"}


def payload(path: Path) -> tuple[dict[str, str], dict[str, dict[str, str]], bytes]:
    """(header, body sections, body bytes) of a seat.ini, read as the agent reads it."""
    data = path.read_bytes()
    assert data.startswith(ini.BOM)
    text = data[2:].decode("utf-16-le")
    head, _, body = text.partition("\r\n\r\n")
    header = ini.parse(head).as_dict()["provisioner"]
    return header, ini.parse(body).as_dict(), body.encode("utf-16-le")


def test_publish_writes_the_share(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET})
    result = run_cli("publish", "fleet.yaml", "--out", "share", env=ENV)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "seat usb: skipped, a portable copy needs its fixed path on the PC (install.exe: C:\\...\\MicroSIP-usb.exe); "
        "got 'MicroSIP-usb.exe' (use bundle for USB sticks)",
        "published 3 seats to share (10 files written, the rest unchanged)",
    ]
    assert listing(Path("share")) == [
        "README.txt",
        "acl.cmd",
        "agent/provisioner-agent.exe",
        "logon.cmd",
        "publish.json",
        "seats/front@FRONT-PC1/MicroSIP Office.lnk",
        "seats/front@FRONT-PC1/seat.ini",
        "seats/jdoe/MicroSIP Office.lnk",
        "seats/jdoe/seat.ini",
        "seats/tools/seat.ini",
    ]
    assert sorted(p.name for p in Path("share/status").iterdir()) == ["front", "jdoe", "tools"]  # empty, for reports
    header, body, raw = payload(Path("share/seats/jdoe/seat.ini"))
    assert header["checksum"] == hashlib.sha256(raw).hexdigest()
    assert int(header["length"]) == len(raw)
    assert header["generation"] == header["checksum"][:16]
    assert (header["exe"], header["folder"], header["mode"], header["ini"]) == (
        "microsip.exe",
        "C:\\Program Files\\MicroSIP",
        "installed",
        "microsip.ini",
    )
    assert body["set settings"]["autoanswer"] == "header"
    assert body["seed account1"]["password"] == "s3cret-pw"  # seeded, as apply seeds it
    assert "password" not in body["set account1"]
    assert body["launchers"]["microsip office.lnk"] == "desktop"
    lnk = Path("share/seats/jdoe/MicroSIP Office.lnk").read_bytes()
    assert body["files"]["microsip office.lnk"] == hashlib.sha256(lnk).hexdigest()
    tools, _, _ = payload(Path("share/seats/tools/seat.ini"))
    assert (tools["mode"], tools["folder"]) == ("portable", "C:\\Tools\\MicroSIP")
    document = json.loads(Path("share/publish.json").read_text())
    assert [(s["seat"], s["folder"]) for s in document["seats"]] == [
        ("jdoe", "seats/jdoe"),
        ("kiosk", "seats/front@FRONT-PC1"),
        ("tools", "seats/tools"),
    ]
    # a seat folder holds a plain-text password: private to its owner here, and acl.cmd for the server
    assert Path("share/seats/jdoe/seat.ini").stat().st_mode & 0o777 == 0o600
    assert Path("share/seats/jdoe").stat().st_mode & 0o777 == 0o700
    acl = Path("share/acl.cmd").read_bytes()
    assert acl.isascii() and b"jdoe" not in acl  # names come from the share's folders (tests/test_acl_cmd.py)
    assert "plain-text password" in Path("share/README.txt").read_text()
    assert Path("share/logon.cmd").read_bytes().endswith(b'"%~dp0agent\\provisioner-agent.exe" --share "%~dp0."\r\n')
    assert "s3cret-pw" not in result.output


def test_publish_is_reproducible(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET})
    for out in ("a", "b"):
        assert run_cli("publish", "fleet.yaml", "--out", out, env=ENV).exit_code == 0
    assert {n: Path("a", n).read_bytes() for n in listing(Path("a"))} == {
        n: Path("b", n).read_bytes() for n in listing(Path("b"))
    }


def test_republish_removes_keys_the_fleet_dropped_and_seats_it_lost(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET})
    assert run_cli("publish", "fleet.yaml", "--out", "share", env=ENV).exit_code == 0
    first, _, _ = payload(Path("share/seats/jdoe/seat.ini"))
    lighter = FLEET.replace("  settings: {autoAnswer: header}\n", "").split("  - id: tools")[0]
    Path("fleet.yaml").write_text(lighter, encoding="utf-8")
    result = run_cli("publish", "fleet.yaml", "--out", "share", env=ENV)
    assert result.exit_code == 0, result.output
    assert "removed seats/tools (no longer in the fleet)" in result.stdout
    assert not Path("share/seats/tools").exists()
    header, body, _ = payload(Path("share/seats/jdoe/seat.ini"))
    assert body["remove settings"] == {"autoanswer": ""}  # the agent takes it out of the user's ini
    assert header["generation"] != first["generation"]


def test_no_passwords_leaves_them_out(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET})
    result = run_cli("publish", "fleet.yaml", "--out", "share", "--no-passwords")
    assert result.exit_code == 0, result.output
    _, body, _ = payload(Path("share/seats/jdoe/seat.ini"))
    assert "seed account1" not in body
    assert "types their password into MicroSIP once" in Path("share/README.txt").read_text()


def test_two_seats_in_one_folder_are_bad_input(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET.replace("    user: front\n    computer: FRONT-PC1\n", "    user: jdoe\n")})
    result = run_cli("publish", "fleet.yaml", "--out", "share", env=ENV)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "fleet.yaml:10:5: seats[kiosk]: publishes to seats/jdoe like seat jdoe (fleet.yaml:8:5); give one of them "
        "another user, or a `computer`"
    )
    assert not Path("share").exists()


def test_example_fleet_publishes(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("publish", str(EXAMPLE), "--out", str(tmp_path / "share"))
    assert result.exit_code == 0, result.output
    assert "seat linux-desk: skipped, its target is a Wine prefix, not a Windows PC (use apply)" in result.stdout


def test_status_without_a_publish_is_bad_input(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("status", str(tmp_path))
    assert result.exit_code == 2
    assert "no publish.json here" in result.stderr


GOLDEN = Path(__file__).resolve().parent / "golden" / "publish"


def test_example_fleet_publishes_the_golden_bytes(run_cli: RunCli, tmp_path: Path) -> None:
    """Every file of the example's share but the agent (checked by its own rebuild test), byte for byte."""
    assert run_cli("publish", str(EXAMPLE), "--out", str(tmp_path / "share")).exit_code == 0
    produced = [name for name in listing(tmp_path / "share") if not name.startswith("agent/")]
    assert produced == listing(GOLDEN)
    for name in produced:
        assert (tmp_path / "share" / name).read_bytes() == (GOLDEN / name).read_bytes(), name


def _share_bytes(share: Path) -> dict[str, bytes]:
    return {name: (share / name).read_bytes() for name in listing(share)}


def test_a_publish_that_fails_changes_nothing(build_tree: BuildTree, run_cli: RunCli) -> None:
    """Something planted where a file goes stops publish before any file is replaced, naming it."""
    build_tree({"fleet.yaml": FLEET})
    assert run_cli("publish", "fleet.yaml", "--out", "share", env=ENV).exit_code == 0
    before = _share_bytes(Path("share"))
    (Path("share") / "logon.cmd").unlink()
    (Path("share") / "logon.cmd").mkdir()
    Path("fleet.yaml").write_text(FLEET.replace("header", "all"), encoding="utf-8")  # every seat changes
    result = run_cli("publish", "fleet.yaml", "--out", "share", env=ENV)
    assert result.exit_code == 3
    assert result.stderr.splitlines()[-1] == (
        "error: share/logon.cmd: is not a file (a folder or link was put there); nothing was changed"
    )
    after = _share_bytes(Path("share"))
    assert after == {name: data for name, data in before.items() if name != "logon.cmd"}
    assert not [p for p in Path("share").rglob(".provisioner-tmp-*")]


def test_publish_keeps_the_modes_of_folders_it_did_not_make(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET})
    Path("share/status").mkdir(parents=True)
    Path("share").chmod(0o711)
    Path("share/status").chmod(0o1733)
    assert run_cli("publish", "fleet.yaml", "--out", "share", env=ENV).exit_code == 0
    assert (Path("share").stat().st_mode & 0o7777, Path("share/status").stat().st_mode & 0o7777) == (0o711, 0o1733)
    assert Path("share/agent").stat().st_mode & 0o777 == 0o755  # made by publish
    assert list(Path("share/status/jdoe").iterdir()) == []  # nothing of the tool's where users write


TWO_SEATS = """\
version: 1
name: office
defaults:
  account: {server: pbx.example.com, domain: example.com}
seats:
  - id: jdoe
    accounts: [{username: "2001"}]
  - id: jdoe-lab
    user: jdoe
    computer: LAB-PC
    accounts: [{username: "2009"}]
"""


def _report(share: Path, name: str, **values: str) -> None:
    text = "\ufeff[status]\r\n" + "".join(f"{k}={v}\r\n" for k, v in values.items())
    (share / "status" / "jdoe" / name).write_bytes(text.encode("utf-16-le"))


def test_status_matches_reports_by_seat_and_shows_warnings(build_tree: BuildTree, run_cli: RunCli) -> None:
    """A user with a user-wide seat and a user@PC seat: each report counts for the seat it names."""
    build_tree({"fleet.yaml": TWO_SEATS})
    assert run_cli("publish", "fleet.yaml", "--out", "share").exit_code == 0
    share = Path("share")
    generation = {e["seat"]: e["generation"] for e in json.loads((share / "publish.json").read_text())["seats"]}
    _report(
        share, "jdoe@PC1.ini", seat="jdoe", format="2", generation=generation["jdoe"], result="applied", message="ok"
    )
    warning = "MicroSIP is not registered at C:\\Program Files\\MicroSIP: it reads the ini beside the exe"
    _report(
        share, "jdoe@LAB-PC.ini", seat="jdoe-lab", generation=generation["jdoe-lab"], result="applied", warning=warning
    )
    _report(share, "jdoe@OLD-PC.ini", generation=generation["jdoe"], result="failed", message="older agent")
    result = run_cli("status", "share")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "applied     jdoe                 jdoe",
        "applied     jdoe-lab             jdoe@LAB-PC",
        f"  LAB-PC: applied (warning: {warning})",
        "status: 2 applied (1 with a warning)",
    ]
    assert result.stderr == "warning: a report from OLD-PC names no seat (an agent older than its share); ignored\n"
    document = json.loads(run_cli("status", "share", "--format", "json").stdout)
    assert [(s["seat"], s["state"], s["warnings"]) for s in document["seats"]] == [
        ("jdoe", "applied", []),
        ("jdoe-lab", "applied", [warning]),
    ]


def test_a_damaged_payloads_report_counts_by_its_folder(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": TWO_SEATS})
    assert run_cli("publish", "fleet.yaml", "--out", "share").exit_code == 0
    _report(Path("share"), "jdoe@LAB-PC.ini", folder="jdoe@LAB-PC", result="damaged", message="seat.ini: cut short")
    document = json.loads(run_cli("status", "share", "--format", "json").stdout)
    assert [(s["seat"], s["state"]) for s in document["seats"]] == [("jdoe", "never seen"), ("jdoe-lab", "failed")]


def _stamps(share: Path) -> dict[str, int]:
    return {name: (share / name).stat().st_mtime_ns for name in listing(share)}


def test_republishing_writes_only_what_changed(build_tree: BuildTree, run_cli: RunCli) -> None:
    """An unchanged fleet writes nothing (a replicated share ships nothing); one changed seat, its files."""
    import os
    import time

    build_tree({"fleet.yaml": FLEET})
    assert run_cli("publish", "fleet.yaml", "--out", "share", env=ENV).exit_code == 0
    share = Path("share")
    past = time.time_ns() - 10**10
    for name in listing(share):
        os.utime(share / name, ns=(past, past))
    before = _stamps(share)
    again = run_cli("publish", "fleet.yaml", "--out", "share", env=ENV)
    assert "(0 files written, the rest unchanged)" in again.stdout
    assert _stamps(share) == before
    Path("fleet.yaml").write_text(FLEET.replace('username: "2001"', 'username: "2011"'), encoding="utf-8")
    changed = run_cli("publish", "fleet.yaml", "--out", "share", env=ENV)
    assert "(2 files written, the rest unchanged)" in changed.stdout
    after = _stamps(share)
    assert sorted(name for name in after if after[name] != before[name]) == ["publish.json", "seats/jdoe/seat.ini"]
    assert not [p for p in share.rglob("*") if p.name.startswith(("~", ".provisioner-tmp"))]


def test_a_killed_publish_leaves_only_what_dfs_r_skips(build_tree: BuildTree, run_cli: RunCli) -> None:
    """Temporary files on the share are named ~provisioner-*.tmp (DFS-R's default filter: ~*, *.tmp);
    the next publish removes those a killed run left."""
    build_tree({"fleet.yaml": FLEET})
    assert run_cli("publish", "fleet.yaml", "--out", "share", env=ENV).exit_code == 0
    left = Path("share/seats/jdoe/~provisioner-killed.tmp")
    left.write_bytes(b"half a file")
    Path("fleet.yaml").write_text(FLEET.replace('username: "2001"', 'username: "2011"'), encoding="utf-8")
    assert run_cli("publish", "fleet.yaml", "--out", "share", env=ENV).exit_code == 0
    assert not left.exists()


TASK = "{http://schemas.microsoft.com/windows/2004/02/mit/task}"


def test_share_path_adds_a_task_that_retries(build_tree: BuildTree, run_cli: RunCli) -> None:
    """task.xml: at logon, unlock and every 2 hours, for the Users group, least privilege, bounded."""
    import xml.etree.ElementTree as ET

    build_tree({"fleet.yaml": FLEET})
    result = run_cli("publish", "fleet.yaml", "--out", "share", "--share-path", "\\\\fs1\\micro sip\\", env=ENV)
    assert result.exit_code == 0, result.output
    data = Path("share/task.xml").read_bytes()
    assert data.startswith(b"\xff\xfe")  # UTF-16 with a BOM, as Task Scheduler exports tasks
    text = data.decode("utf-16")
    assert text.startswith('<?xml version="1.0" encoding="UTF-16"?>')
    task = ET.fromstring(text.split("?>", 1)[1])
    assert (task.tag, task.get("version")) == (f"{TASK}Task", "1.3")
    triggers = [t.tag.removeprefix(TASK) for t in task.find(f"{TASK}Triggers") or []]
    assert triggers == ["LogonTrigger", "SessionStateChangeTrigger", "TimeTrigger"]
    assert task.findtext(f"{TASK}Triggers/{TASK}SessionStateChangeTrigger/{TASK}StateChange") == "SessionUnlock"
    assert task.findtext(f"{TASK}Triggers/{TASK}TimeTrigger/{TASK}Repetition/{TASK}Interval") == "PT2H"
    assert task.find(f"{TASK}Triggers/{TASK}LogonTrigger/{TASK}UserId") is None  # any user who logs on
    principal = task.find(f"{TASK}Principals/{TASK}Principal")
    assert principal is not None
    assert principal.findtext(f"{TASK}GroupId") == "S-1-5-32-545"
    assert principal.findtext(f"{TASK}RunLevel") == "LeastPrivilege"
    assert task.findtext(f"{TASK}Settings/{TASK}ExecutionTimeLimit") == "PT10M"
    assert (
        task.findtext(f"{TASK}Actions/{TASK}Exec/{TASK}Command")
        == "%ProgramFiles%\\microsip-provisioner\\provisioner-agent.exe"  # where the installer puts it
    )
    assert task.findtext(f"{TASK}Actions/{TASK}Exec/{TASK}Arguments") == '--share "\\\\fs1\\micro sip"'
    again = run_cli("publish", "fleet.yaml", "--out", "share", "--share-path", "\\\\fs1\\micro sip", env=ENV)
    assert "(0 files written" in again.stdout  # same share path, same bytes


def test_task_xml_is_valid_by_microsofts_schema(build_tree: BuildTree, run_cli: RunCli) -> None:
    """Validated against Microsoft's published XSD (Wine's schtasks drops triggers: no oracle)."""
    import xmlschema

    schema = xmlschema.XMLSchema10(Path(__file__).parent / "fixtures" / "task-scheduler.xsd")
    build_tree({"fleet.yaml": FLEET})
    assert (
        run_cli("publish", "fleet.yaml", "--out", "share", "--share-path", "\\\\fs1\\R&D müller's", env=ENV).exit_code
        == 0
    )
    text = Path("share/task.xml").read_bytes().decode("utf-16")
    assert [error.reason for error in schema.iter_errors(text)] == []
    # The oracle can fail: a trigger's children out of the schema's order, an older version.
    moved = text.replace("<Enabled>true</Enabled>\r\n      <StartBoundary>", "<StartBoundary>", 1)
    assert not schema.is_valid(moved.replace("</StartBoundary>", "</StartBoundary><Enabled>true</Enabled>", 1))
    assert not schema.is_valid(text.replace('version="1.3"', 'version="1.2"'))


def test_share_path_must_be_a_share(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET})
    result = run_cli("publish", "fleet.yaml", "--out", "share", "--share-path", "C:\\Shares\\x", env=ENV)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --share-path 'C:\\Shares\\x': give the share as the PCs reach it, like \\\\server\\share\n"
    )
    assert not Path("share").exists()
    assert run_cli("publish", "fleet.yaml", "--out", "plain", env=ENV).exit_code == 0
    assert not Path("plain/task.xml").exists()  # no share path, no task

"""api.merge_seat: apply's merge of one seat's ini from bytes in memory (issue 25, point 6).

Each test compares the pure merge with what ``apply`` itself writes for the same
bytes on disk and the same record, so an engine that delivers the file its own way
gets exactly apply's result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provisioner import api, ini
from provisioner.errors import FleetError, UsageError
from tests.conftest import read_manifest

FLEET = (
    "version: 1\nname: t\nseats:\n"
    "  - id: desk\n    target: {type: portable, path: usb}\n    install: {mode: portable}\n"
    "    settings: {autoAnswer: button}\n"
    "    accounts: [{domain: d, username: u, password: {env: PW}}]\n"
)
ENV = {"PW": "s3cret"}


def utf16(text: str) -> bytes:
    return ini.encode(text)


def text_of(data: bytes) -> str:
    return ini.decode(data)[0]


def ini_record(folder: Path) -> dict[str, Any]:
    (path,) = (folder / ".provisioner-state" / "targets").glob("*/manifest.json")
    record: dict[str, Any] = read_manifest(path)["files"]["microsip.ini"]
    return record


@pytest.fixture
def office(tmp_path: Path) -> Path:
    (tmp_path / "fleet.yaml").write_text(FLEET, encoding="utf-8")
    (tmp_path / "usb").mkdir()
    return tmp_path / "fleet.yaml"


def test_a_first_merge_creates_what_apply_writes(office: Path) -> None:
    merged = api.merge_seat(office, "desk", None, None, environ=ENV)
    assert merged.action == "create" and merged.conflicts == ()
    api.apply(office, environ=ENV)
    written = (office.parent / "usb" / "microsip.ini").read_bytes()
    assert merged.data == written
    assert merged.record["managed"] == ini_record(office.parent)["managed"]
    assert merged.record["sha256"] == ini_record(office.parent)["sha256"]
    assert "s3cret" not in merged.diff and "password=********" in merged.diff


def test_a_later_merge_keeps_microsips_own_state_as_apply_does(office: Path) -> None:
    api.apply(office, environ=ENV)
    ini_path = office.parent / "usb" / "microsip.ini"
    record = ini_record(office.parent)
    ran = text_of(ini_path.read_bytes()).replace("password=s3cret", "password=ENCRYPTED")
    ran += "[Calls]\r\n0=1000;Reception;1;1700000000;12;\r\n"
    ini_path.write_bytes(utf16(ran))
    office.write_text(FLEET.replace("autoAnswer: button", "autoAnswer: all"), encoding="utf-8")
    merged = api.merge_seat(office, "desk", ini_path.read_bytes(), record, environ=ENV)
    assert merged.action == "update"
    assert "[Calls]" in text_of(merged.data) and "password=ENCRYPTED" in text_of(merged.data)
    api.apply(office, environ=ENV)
    assert merged.data == ini_path.read_bytes()
    assert merged.record["managed"] == ini_record(office.parent)["managed"]
    again = api.merge_seat(office, "desk", merged.data, merged.record, environ=ENV)
    assert (again.action, again.data, again.diff) == ("unchanged", merged.data, "")


def test_a_user_edit_to_a_managed_key_is_apply_s_conflict(office: Path) -> None:
    api.apply(office, environ=ENV)
    ini_path = office.parent / "usb" / "microsip.ini"
    ini_path.write_bytes(utf16(text_of(ini_path.read_bytes()).replace("autoAnswer=button", "autoAnswer=header")))
    merged = api.merge_seat(office, "desk", ini_path.read_bytes(), ini_record(office.parent), environ=ENV)
    assert merged.action == "conflict"
    report = api.plan(office, environ=ENV).seats[0]
    assert report.plan is not None
    change = next(c for c in report.plan.files if c.name == "microsip.ini")
    assert merged.conflicts == tuple(change.conflicts)
    assert merged.conflicts[0].startswith("[Settings] autoAnswer: changed since the last apply: 'header' on disk")
    api.apply(office, environ=ENV, force=True)
    assert merged.data == ini_path.read_bytes()  # what --force writes


def test_the_merge_reads_no_file_of_the_target(office: Path) -> None:
    (office.parent / "usb").rmdir()  # the target's folder is not even there
    merged = api.merge_seat(office, "desk", utf16("[Settings]\r\nmainX=7\r\n"), None, environ=ENV)
    assert merged.action == "update"
    assert "mainX=7" in text_of(merged.data) and "autoAnswer=button" in text_of(merged.data)
    assert not (office.parent / "usb").exists() and not (office.parent / ".provisioner-state").exists()


def test_keep_user_and_rotate_passwords_are_apply_s(office: Path) -> None:
    existing = utf16("[Settings]\r\nautoAnswer=header\r\n[Account1]\r\ndomain=d\r\nusername=u\r\npassword=OLD\r\n")
    record = api.merge_seat(office, "desk", None, None, environ=ENV).record  # as if the tool had written it
    kept = api.merge_seat(office, "desk", existing, record, keep_user=["Settings.autoAnswer"], environ=ENV)
    assert kept.action == "update" and "autoAnswer=header" in text_of(kept.data)
    assert "password=OLD" in text_of(kept.data)
    rotated = api.merge_seat(
        office, "desk", existing, record, keep_user=["Settings.autoAnswer"], rotate_passwords=True, environ=ENV
    )
    assert "password=s3cret" in text_of(rotated.data)


def test_bad_names_are_bad_input(office: Path) -> None:
    with pytest.raises(FleetError) as caught:
        api.merge_seat(office, "nobody", None, environ=ENV)
    assert [p.code for p in caught.value.errors] == ["unknown-seat"]
    with pytest.raises(UsageError) as refused:
        api.merge_seat(office, "desk", None, keep_user=["autoAnswer"], environ=ENV)
    assert str(refused.value) == (
        "--keep-user autoAnswer: write SECTION.KEY as the ini names it, such as Settings.autoAnswer"
    )


def test_the_ini_destination_on_each_kind_of_host(tmp_path: Path) -> None:
    (tmp_path / "fleet.yaml").write_text(
        "version: 1\nname: t\nseats:\n"
        "  - id: desk\n    user: jdoe\n    accounts: [{domain: d}]\n"
        "  - id: stick\n    install: {mode: portable, exe: 'E:/MicroSIP/MicroSIP-sales.exe'}\n    accounts: [{domain: d}]\n"
        "  - id: linux\n    user: kim\n    target: {type: wine, prefix: wine}\n    accounts: [{domain: d}]\n",
        encoding="utf-8",
    )
    fleet = tmp_path / "fleet.yaml"
    assert (
        api.ini_destination(fleet, "desk", windows=True) == "C:\\Users\\jdoe\\AppData\\Roaming\\MicroSIP\\microsip.ini"
    )
    assert api.ini_destination(fleet, "stick", windows=True) == "E:\\MicroSIP\\MicroSIP-sales.ini"
    assert api.ini_destination(fleet, "linux", windows=False) == str(
        tmp_path / "wine" / "drive_c" / "users" / "kim" / "AppData" / "Roaming" / "MicroSIP" / "microsip.ini"
    )


def test_seat_files_place_the_phonebook_and_launchers_where_apply_does(tmp_path: Path) -> None:
    (tmp_path / "fleet.yaml").write_text(
        "version: 1\nname: t\nseats:\n"
        "  - id: desk\n    user: jdoe\n    accounts: [{domain: d}]\n    contacts: [{name: Reception, number: '1000'}]\n"
        "    launch: {name: MicroSIP, shortcuts: [desktop, startup]}\n",
        encoding="utf-8",
    )
    files = api.seat_files(tmp_path / "fleet.yaml", "desk", windows=True)
    profile = "C:\\Users\\jdoe\\"
    assert [(f.name, f.dest, f.kind, f.private) for f in files] == [
        ("ini/microsip.ini", profile + "AppData\\Roaming\\MicroSIP\\microsip.ini", "ini", True),
        ("desktop/MicroSIP.lnk", profile + "Desktop\\MicroSIP.lnk", "owned", False),
        (
            "startup/MicroSIP.lnk",
            profile + "AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\MicroSIP.lnk",
            "owned",
            False,
        ),
        ("ini/Contacts.xml", profile + "AppData\\Roaming\\MicroSIP\\Contacts.xml", "contacts", False),
    ]


def test_a_launcher_is_judged_on_its_bytes_as_apply_judges_it(tmp_path: Path) -> None:
    (tmp_path / "fleet.yaml").write_text(
        "version: 1\nname: t\nseats:\n"
        "  - id: desk\n    user: jdoe\n    accounts: [{domain: d}]\n    launch: {name: MicroSIP, shortcuts: [desktop]}\n",
        encoding="utf-8",
    )
    fleet = tmp_path / "fleet.yaml"
    first = api.merge_file(fleet, "desk", "desktop/MicroSIP.lnk", None)
    assert first.action == "create" and first.data[:4] == b"L\0\0\0" and first.diff == ""
    again = api.merge_file(fleet, "desk", "desktop/MicroSIP.lnk", first.data, first.record)
    assert again.action == "unchanged"
    edited = api.merge_file(fleet, "desk", "desktop/MicroSIP.lnk", first.data + b"x", first.record)
    assert (edited.action, edited.conflicts) == ("conflict", ("MicroSIP.lnk: changed on disk since the last apply",))
    with pytest.raises(UsageError) as refused:
        api.merge_file(fleet, "desk", "desktop/Other.lnk", None)
    assert str(refused.value) == (
        "seat desk has no file 'desktop/Other.lnk'; it has ini/microsip.ini, desktop/MicroSIP.lnk"
    )

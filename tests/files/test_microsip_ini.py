"""The ini as a deployed file, judged without the CLI or a disk: plan, verify, undo, recorded."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from provisioner import ini
from provisioner.files import KINDS, microsip_ini
from provisioner.files.change import FileChange, Judging
from provisioner.render.files import RenderedFile
from provisioner.state import FileRecord, value_hash
from provisioner.targetfs.targets import Location, Spot

# the file's folder below the target root users/, jdoe's profile folder first
SPOT = Spot(Location(Path("users"), ("jdoe", "AppData", "Roaming", "MicroSIP"), home=1), "microsip.ini")
PATH = SPOT.path
FLEET_TEXT = (
    "[Settings]\naccountId=1\nautoAnswer=header\n"
    "[Account1]\nserver=pbx.example.com\nusername=2001\npassword=fleet-secret-pw\n"
)
FILE = RenderedFile(
    "microsip.ini",
    ini.encode(FLEET_TEXT),
    managed=(
        ("Settings", (("accountId", "1"), ("autoAnswer", "header"))),
        ("Account1", (("server", "pbx.example.com"), ("username", "2001"), ("password", "fleet-secret-pw"))),
    ),
    secrets=frozenset({("account1", "password")}),
    # as the renderer marks them: written only where the file has none (MicroSIP rewrites both)
    seeded=frozenset({("settings", "accountid"), ("account1", "password")}),
)


def plan(old: bytes | None, previous: FileRecord | None = None, judging: Judging | None = None) -> FileChange:
    return microsip_ini.plan(FILE, "microsip.ini", SPOT, old, previous, judging or Judging())


def test_the_kinds_map_names_each_module() -> None:
    assert KINDS["ini"] is microsip_ini
    assert microsip_ini.private is True  # written 0600: it holds a password


def test_a_missing_ini_is_created_with_the_fleets_bytes() -> None:
    change = plan(None)
    assert (change.action, change.new, change.old, change.path) == ("create", FILE.data, None, PATH)
    with pytest.raises(dataclasses.FrozenInstanceError):
        change.action = "unchanged"  # type: ignore[misc]  # a change is made once, by its kind's plan
    # every managed key is recorded by a hash of its value, except the secret and the seeded ones
    assert change.record.managed == {
        "Settings": {"autoAnswer": value_hash("header")},
        "Account1": {"server": value_hash("pbx.example.com"), "username": value_hash("2001")},
    }
    assert "fleet-secret-pw" not in change.diff and "password=********" in change.diff


def test_microsips_own_keys_and_its_encrypted_password_are_kept() -> None:
    on_disk = ini.encode(
        "[Settings]\naccountId=1\nautoAnswer=all\nwindowWidth=640\n"
        "[Account1]\nserver=pbx.example.com\nusername=2001\npassword=3F9A0C\n"
    )
    change = plan(on_disk)
    assert change.action == "update"
    assert ini.decode(change.new)[0] == (
        "[Settings]\r\naccountId=1\r\nautoAnswer=header\r\nwindowWidth=640\r\n"
        "[Account1]\r\nserver=pbx.example.com\r\nusername=2001\r\npassword=3F9A0C\r\n"
    )
    assert change.details == [
        "[Account1] password: kept the one on disk (MicroSIP encrypts it; --rotate-passwords replaces it)"
    ]
    rotated = plan(on_disk, judging=Judging(rotate_passwords=True))
    assert "password=fleet-secret-pw" in ini.decode(rotated.new)[0]


def test_a_managed_key_changed_since_the_last_apply_is_a_conflict() -> None:
    previous = plan(None).record  # what the last apply recorded
    on_disk = ini.encode(FLEET_TEXT.replace("autoAnswer=header", "autoAnswer=all"))
    change = plan(on_disk, previous)
    assert change.action == "conflict"
    assert change.conflicts == [
        "[Settings] autoAnswer: changed since the last apply: 'all' on disk, the fleet says 'header'; "
        "--force writes the fleet's, --keep-user Settings.autoAnswer keeps the user's this time "
        "(`unmanage: [Settings.autoAnswer]` for good)"
    ]
    kept = plan(on_disk, previous, Judging(keep_user=frozenset({("settings", "autoanswer")})))
    assert kept.action == "unchanged" and kept.new == on_disk
    assert kept.record.managed["Settings"]["autoAnswer"] == previous.managed["Settings"]["autoAnswer"]


def test_an_untrusted_state_turns_every_pending_change_into_a_conflict() -> None:
    why = "state/jdoe: the manifest is damaged; conflicts cannot be detected, --force rewrites it"
    change = plan(None, judging=Judging(untrusted_state=(why,)))
    assert (change.action, change.conflicts) == ("conflict", [why])
    in_sync = plan(FILE.data, judging=Judging(untrusted_state=(why,)))
    assert (in_sync.action, in_sync.conflicts) == ("unchanged", [])  # nothing to write, nothing to refuse


def test_bytes_that_are_not_an_ini_are_a_conflict_the_backup_keeps() -> None:
    change = plan(b"\xff\xfe[\x00S\x00" + b"\x00\xd8" * 3)
    assert change.action == "conflict"
    assert change.conflicts[0].startswith("the existing file is not an ini MicroSIP could read (")
    assert change.conflicts[0].endswith(
        "--force replaces it with the fleet's file (the old bytes are kept in the backup)"
    )


def test_verify_names_each_managed_key_that_differs() -> None:
    on_disk = ini.encode("[Settings]\naccountId=1\nautoAnswer=all\n[Account1]\nserver=pbx.example.com\npassword=\n")
    drift = microsip_ini.verify(FILE, "microsip.ini", PATH, on_disk, Judging())
    assert [(d.key, d.message) for d in drift] == [
        ("[Settings] autoAnswer", "'all' on disk, the fleet says 'header'"),
        ("[Account1] username", "missing on disk"),
        ("[Account1] password", "missing or empty on disk"),  # any password MicroSIP holds is in sync
    ]
    assert microsip_ini.verify(FILE, "microsip.ini", PATH, FILE.data, Judging()) == []
    assert [d.message for d in microsip_ini.verify(FILE, "microsip.ini", PATH, None, Judging())] == [
        "the file does not exist"
    ]


def test_undo_puts_the_managed_keys_back_and_keeps_microsips_state() -> None:
    backup = ini.encode("[Settings]\nautoAnswer=all\n")
    record = FileRecord("ini", {"Settings": {"autoAnswer": value_hash("header"), "accountId": value_hash("1")}})
    current = ini.encode("[Settings]\naccountId=1\nautoAnswer=header\nlastCall=2002\n")
    said, restored = microsip_ini.undo(record, backup, current, ours=False)
    assert said == "managed keys restored (MicroSIP's own state since the apply kept)"
    assert restored is not None and ini.decode(restored)[0] == "[Settings]\r\nautoAnswer=all\r\nlastCall=2002\r\n"
    assert microsip_ini.undo(record, backup, restored, ours=False) == ("managed keys already as before the apply", None)
    again = microsip_ini.recorded(record, restored)
    assert again.managed == {"Settings": {"autoAnswer": value_hash("all")}}

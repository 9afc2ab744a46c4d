"""rollback undoes our change and nothing else: what MicroSIP wrote since the apply stays."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from provisioner import ini
from tests import microsip_written
from tests.conftest import BuildTree, RunCli, read_manifest
from tests.test_deploy import ALICE, ENV, FLEET, JDOE, backups_of, manifest_of, snapshot, text_of, values


@pytest.fixture
def applied(build_tree: BuildTree, run_cli: RunCli) -> Path:
    """jdoe's MicroSIP-written ini, then an apply that changed the display name and the hook."""
    root = build_tree({"fleet.yaml": FLEET})
    for user in ("jdoe", "alice"):
        (root / "users" / user).mkdir(parents=True)
    JDOE.parent.mkdir(parents=True)
    JDOE.write_bytes(microsip_written.utf16())
    result = run_cli("apply", "fleet.yaml", env=ENV)
    assert result.exit_code == 0, result.output
    return root


def test_rollback_restores_managed_keys_and_keeps_what_microsip_wrote_since(applied: Path, run_cli: RunCli) -> None:
    """After the apply MicroSIP ran: it logged a call, moved its window and encrypted the password."""
    before = ini.parse(ini.decode(microsip_written.utf16())[0]).as_dict()
    text = text_of(JDOE)
    text = text.replace("mainX=412", "mainX=99")
    text = re.sub(r"password=[0-9a-f]+", "password=9f8e7d6c", text)
    text = text.replace("[Calls]\r\n", "[Calls]\r\n9=5551234;Mum;1;1763300000;42;\r\n")
    JDOE.write_bytes(ini.encode(text))
    assert values(JDOE)["settings"]["cmdcallstart"] == '"C:\\Tools\\crm.exe" --new'

    result = run_cli("rollback", "fleet.yaml", "--seat", "jdoe")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith(
        f"{JDOE}: managed keys restored (MicroSIP's own state since the apply kept) (microsip.ini."
    )
    after = values(JDOE)
    for section, key in [("settings", "cmdcallstart"), ("settings", "autoanswer"), ("account1", "transport")]:
        assert after[section].get(key) == before[section].get(key), (section, key)
    assert after["settings"]["mainx"] == "99"  # window state written since: kept
    assert after["account1"]["password"] == "9f8e7d6c"  # the password MicroSIP encrypted since: kept
    assert after["calls"]["9"] == "5551234;Mum;1;1763300000;42;"  # the call logged since: kept
    assert '"C:\\Tools\\crm.exe" --old' in text_of(JDOE)  # the hook with its quotes, as it was


def test_second_rollback_has_nothing_to_undo_and_changes_nothing(applied: Path, run_cli: RunCli) -> None:
    assert run_cli("rollback", "fleet.yaml", "--seat", "jdoe").exit_code == 0
    before = snapshot(applied)
    again = run_cli("rollback", "fleet.yaml", "--seat", "jdoe")
    assert again.exit_code == 0
    stamp = read_manifest(manifest_of("jdoe"))["undone"]
    assert again.stdout == f"seat jdoe: nothing left to undo: the apply of {stamp} was already rolled back\n"
    assert snapshot(applied) == before
    # and the next apply is a normal update, not a conflict
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0


def test_rollback_never_deletes_a_created_file_that_changed_since(applied: Path, run_cli: RunCli) -> None:
    ALICE.write_bytes(ALICE.read_bytes() + "[Calls]\r\n0=1;x;0;1;1;\r\n".encode("utf-16-le"))
    result = run_cli("rollback", "fleet.yaml", "--seat", "alice")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"{ALICE}: kept: the last apply created it, but it changed since (MicroSIP or the user wrote it)"
    )
    assert ALICE.exists()


def test_rollback_dry_run_changes_nothing(applied: Path, run_cli: RunCli) -> None:
    before = snapshot(applied)
    result = run_cli("rollback", "fleet.yaml", "--seat", "jdoe", "--seat", "alice", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{JDOE}: would be restored from the backup (microsip.ini.")
    assert lines[1] == "rollback: 1 file of seat jdoe would be rolled back"
    assert lines[2] == f"{ALICE}: would be removed (the last apply created it)"
    assert snapshot(applied) == before


def test_rollback_list_and_to_a_chosen_backup(applied: Path, run_cli: RunCli) -> None:
    first = sorted(p.name for p in backups_of("jdoe").iterdir())
    Path("fleet.yaml").write_text(FLEET.replace("John Doe", "John Second"), encoding="utf-8")
    assert run_cli("apply", "fleet.yaml", "--seat", "jdoe", env=ENV).exit_code == 0
    listed = run_cli("rollback", "fleet.yaml", "--seat", "jdoe", "--list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0] == "seat jdoe: 2 backups"
    assert lines[1].endswith("(the last apply's: plain rollback restores it)")
    assert lines[2].split() == [first[0].split(".")[2], "microsip.ini", first[0]]
    chosen = run_cli("rollback", "fleet.yaml", "--seat", "jdoe", "--to", first[0])
    assert chosen.exit_code == 0, chosen.output
    assert values(JDOE)["account1"]["displayname"] == ini.parse(ini.decode(microsip_written.utf16())[0]).as_dict()[
        "account1"
    ].get("displayname")
    unknown = run_cli("rollback", "fleet.yaml", "--seat", "jdoe", "--to", "20000101T000000Z")
    assert unknown.exit_code == 3
    assert "no backup taken at '20000101T000000Z' for this seat" in unknown.stderr


def test_rollback_of_a_seat_never_applied_says_so(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET})
    result = run_cli("rollback", "fleet.yaml", "--seat", "jdoe")
    assert result.exit_code == 0
    assert result.stdout == "seat jdoe: no apply is recorded for this target; nothing to roll back\n"


def test_rollback_refuses_a_damaged_manifest_and_changes_nothing(applied: Path, run_cli: RunCli) -> None:
    """The state is untrusted input: a manifest that does not parse is reported, never followed."""
    manifest_of("jdoe").write_text('{"manifest": 2, "files": {"../../../etc/passwd": ', encoding="utf-8")
    before = snapshot(applied / "users")
    result = run_cli("rollback", "fleet.yaml", "--seat", "jdoe")
    assert result.exit_code == 3
    assert "manifest" in result.stderr and "jdoe" in result.stderr
    assert snapshot(applied / "users") == before


def test_rollback_with_a_missing_backup_says_which_and_changes_nothing(applied: Path, run_cli: RunCli) -> None:
    for backup in backups_of("jdoe").iterdir():
        backup.unlink()
    before = snapshot(applied / "users")
    result = run_cli("rollback", "fleet.yaml", "--seat", "jdoe")
    assert result.exit_code == 3
    assert "backup" in result.stderr
    assert snapshot(applied / "users") == before


def test_rollback_removes_what_a_killed_run_left(applied: Path, run_cli: RunCli) -> None:
    """A run killed between writing its temporary file and renaming it leaves that file; the next rollback removes it."""
    from provisioner import deploy

    left = [
        JDOE.parent / f"{deploy.TEMP_PREFIX}killed",
        manifest_of("jdoe").parent / f"{deploy.TEMP_PREFIX}killed",
        backups_of("jdoe") / f"{deploy.TEMP_PREFIX}killed",
    ]
    for path in left:
        path.write_bytes(b"half a file")
    assert run_cli("rollback", "fleet.yaml", "--seat", "jdoe").exit_code == 0
    assert [path for path in left if path.exists()] == []

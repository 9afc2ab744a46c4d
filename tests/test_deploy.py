"""plan / apply / verify / rollback against real files in a temporary tree."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner import api, deploy, ini, runner
from provisioner._speed import Fast
from provisioner.targetfs import safefs, targets
from tests import microsip_written
from tests.conftest import BuildTree, RunCli, listing, read_manifest

FLEET = """\
version: 1
name: office
defaults:
  target: {type: appdata, root: users}
  account: {server: pbx.example.com, domain: example.com, transport: tls}
  settings: {autoAnswer: header, cmdCallStart: '"C:\\Tools\\crm.exe" --new'}
seats:
  - id: jdoe
    accounts:
      - {username: "2001", displayName: John Doe, password: {env: PW_2001}}
  - id: alice
    accounts:
      - {username: "2002", password: {env: PW_2002}}
"""
ENV = {"PW_2001": "s3cret-2001", "PW_2002": "s3cret-2002"}
JDOE = Path("users/jdoe/AppData/Roaming/MicroSIP/microsip.ini")
ALICE = Path("users/alice/AppData/Roaming/MicroSIP/microsip.ini")


@pytest.fixture
def office(build_tree: BuildTree) -> Path:
    root = build_tree({"fleet.yaml": FLEET})
    for user in ("jdoe", "alice"):  # both have logged on: their profile folders exist
        (root / "users" / user).mkdir(parents=True)
    return root


def state_of(seat: str) -> Path:
    """The seat's folder in the admin's state store (beside the fleet)."""
    (found,) = Path(".provisioner-state/targets").glob(f"{seat}-*")
    return found


def backups_of(seat: str) -> Path:
    return state_of(seat) / "backups"


def manifest_of(seat: str) -> Path:
    return state_of(seat) / "manifest.json"


def text_of(path: Path) -> str:
    return ini.decode(path.read_bytes())[0]


def values(path: Path) -> dict[str, dict[str, str]]:
    return ini.parse(text_of(path)).as_dict()


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {name: ((root / name).read_bytes(), (root / name).stat().st_mtime_ns) for name in listing(root)}


def test_apply_creates_then_second_apply_touches_nothing(office: Path, run_cli: RunCli) -> None:
    first = run_cli("apply", "fleet.yaml", env=ENV)
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[-1] == "apply: 2 seats written, 0 unchanged, 0 in conflict, 0 failed (of 2)"
    assert values(JDOE)["account1"]["password"] == "s3cret-2001"
    before = snapshot(office / "users")
    second = run_cli("apply", "fleet.yaml", env=ENV)
    assert second.exit_code == 0
    assert second.stdout == "apply: 0 seats written, 2 unchanged, 0 in conflict, 0 failed (of 2)\n"
    assert snapshot(office / "users") == before  # same bytes, same mtimes, no new backups
    plan = run_cli("plan", "fleet.yaml", "--exit-code", env=ENV)
    assert plan.exit_code == 0
    assert plan.stdout.splitlines()[-1] == "plan: 2 seats: 0 to create, 0 to update, 2 unchanged, 0 in conflict"


def test_existing_microsip_ini_keeps_user_state(office: Path, run_cli: RunCli) -> None:
    JDOE.parent.mkdir(parents=True)
    JDOE.write_bytes(microsip_written.utf16())
    result = run_cli("apply", "fleet.yaml", "--seat", "jdoe", "--verbose", env=ENV)
    assert result.exit_code == 0, result.output
    assert (
        "  note: [Account1] password: kept the one on disk (MicroSIP encrypts it; --rotate-passwords replaces it)"
        in result.stdout
    )
    new_lines = text_of(JDOE).split("\r\n")
    old_lines = microsip_written.TEXT.splitlines()
    changed = {
        "autoAnswer=button": "autoAnswer=header",
        'cmdCallStart=""C:\\Tools\\crm.exe" --old"': 'cmdCallStart=""C:\\Tools\\crm.exe" --new"',
        "server=old-pbx.example.com": "server=pbx.example.com",
        "displayName=John Old": "displayName=John Doe",
        "transport=udp": "transport=tls",
    }
    expected = [changed.get(line, line) for line in old_lines]
    assert new_lines[: len(expected)] == expected  # every other line kept, in place
    assert new_lines[len(expected) :] == [""]
    assert JDOE.read_bytes().startswith(b"\xff\xfe[\x00S\x00")
    backups = list(backups_of("jdoe").iterdir())
    assert [b.read_bytes() for b in backups] == [microsip_written.utf16()]


def test_rotate_passwords_replaces_the_encrypted_one(office: Path, run_cli: RunCli) -> None:
    JDOE.parent.mkdir(parents=True)
    JDOE.write_bytes(microsip_written.utf16())
    assert run_cli("apply", "fleet.yaml", "--seat", "jdoe", "--rotate-passwords", env=ENV).exit_code == 0
    assert values(JDOE)["account1"]["password"] == "s3cret-2001"
    assert values(JDOE)["account2"]["password"] == "0a1b2c3d4e5f60718293a4b5c6d7e8f9"  # not ours


def test_empty_password_on_disk_is_seeded(office: Path, run_cli: RunCli) -> None:
    JDOE.parent.mkdir(parents=True)
    JDOE.write_bytes(
        microsip_written.utf16(microsip_written.TEXT.replace("password=9f3a6c1e0b7d4a2f8e5c1b3d7a9f0e2c", "password="))
    )
    result = run_cli("plan", "fleet.yaml", "--seat", "jdoe", env=ENV)
    assert "  note: [Account1] password: written (none on disk)" in result.stdout
    assert "+password=********" in result.stdout and "s3cret" not in result.stdout


def test_hand_made_files_are_converted(office: Path, run_cli: RunCli) -> None:
    """A file without a BOM is read in the ANSI code page (Windows-1252 here), as MicroSIP reads it."""
    JDOE.parent.mkdir(parents=True)
    JDOE.write_bytes("[Settings]\nringingSound=Klingelton ä.wav\n[Account1]\ndomain=example.com\n".encode("cp1252"))
    result = run_cli("apply", "fleet.yaml", "--seat", "jdoe", env=ENV)
    assert result.exit_code == 0
    note = "  note: converted from cp1252 (no BOM: MicroSIP reads it in the ANSI code page) to UTF-16LE with BOM"
    assert note in result.stdout
    assert values(JDOE)["settings"]["ringingsound"] == "Klingelton ä.wav"


def test_utf8_without_bom_is_read_as_microsip_reads_it(office: Path, run_cli: RunCli) -> None:
    """MicroSIP reads a UTF-8 file without a BOM in the ANSI code page: 'ä' shows as 'Ã¤'.

    verify reports it (before, plan converted it while verify said in sync); apply keeps the
    user's values as MicroSIP read them and writes the fleet's correctly.
    """
    JDOE.parent.mkdir(parents=True)
    assert run_cli("apply", "fleet.yaml", "--seat", "jdoe", env=ENV).exit_code == 0
    text = text_of(JDOE).replace("[Settings]\r\n", "[Settings]\r\nringingSound=Klingelton ä.wav\r\n", 1)
    JDOE.write_bytes(text.encode("utf-8"))
    result = run_cli("verify", "fleet.yaml", "--seat", "jdoe", env=ENV)
    assert result.exit_code == 1
    assert (
        "UTF-8 without a BOM: MicroSIP reads it in the ANSI code page (cp1252) and shows 'Ã¤' for 'ä'; "
        "apply rewrites it as UTF-16LE"
    ) in result.stdout
    result = run_cli("apply", "fleet.yaml", "--seat", "jdoe", env=ENV)
    assert "the file is UTF-8 without a BOM, which MicroSIP reads in the ANSI code page (cp1252)" in result.stdout
    assert values(JDOE)["settings"]["ringingsound"] == "Klingelton Ã¤.wav"  # what MicroSIP itself would keep
    assert run_cli("verify", "fleet.yaml", "--seat", "jdoe", env=ENV).exit_code == 0


def test_the_fleet_names_the_pcs_code_page(office: Path, run_cli: RunCli) -> None:
    """On Cyrillic Windows (code page 1251) MicroSIP reads a file without a BOM in cp1251."""
    Path("fleet.yaml").write_text("ansi_code_page: 1251\n" + Path("fleet.yaml").read_text(), encoding="utf-8")
    JDOE.parent.mkdir(parents=True)
    JDOE.write_bytes("[Settings]\nringingSound=звонок.wav\n[Account1]\ndomain=example.com\n".encode("cp1251"))
    assert run_cli("apply", "fleet.yaml", "--seat", "jdoe", env=ENV).exit_code == 0
    assert values(JDOE)["settings"]["ringingsound"] == "звонок.wav"


def test_duplicates_resolved_as_windows_reads_them(office: Path, run_cli: RunCli) -> None:
    JDOE.parent.mkdir(parents=True)
    JDOE.write_bytes(
        ini.encode("[Settings]\nautoAnswer=all\nAUTOANSWER=button\n[Account1]\ndomain=x\n[account1]\nserver=y\n")
    )
    result = run_cli("apply", "fleet.yaml", "--seat", "jdoe", env=ENV)
    assert result.exit_code == 0
    assert (
        "  note: [account1] appears twice (lines 4 and 6); Windows reads only the first, which is the one updated"
        in result.stdout
    )
    assert (
        "  note: [Settings] AUTOANSWER appears twice (lines 2 and 3); Windows reads the first, which is the one updated"
        in result.stdout
    )
    assert text_of(JDOE).split("\r\n")[:3] == ["[Settings]", "autoAnswer=header", "AUTOANSWER=button"]


def test_drift_is_reported_and_conflict_refused_until_force(office: Path, run_cli: RunCli) -> None:
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0
    edited = text_of(JDOE).replace("transport=tls", "transport=udp").replace("password=s3cret-2001", "password=ab12cd")
    JDOE.write_bytes(ini.encode(edited))
    before = JDOE.read_bytes()
    verify = run_cli("verify", "fleet.yaml", env=ENV)
    assert verify.exit_code == 1
    assert verify.stdout.splitlines() == [
        f"drift   jdoe: {JDOE}: [Account1] transport: 'udp' on disk, the fleet says 'tls'",
        "verify: 1 of 2 seats drifted",
    ]  # the password MicroSIP re-encrypted is not drift
    refused = run_cli("apply", "fleet.yaml", env=ENV)
    assert refused.exit_code == 3
    assert (
        f"conflict   jdoe: {JDOE}: [Account1] transport: changed since the last apply: 'udp' on disk, the fleet "
        "says 'tls'; --force writes the fleet's, --keep-user Account1.transport keeps the user's this time "
        "(`unmanage: [Account1.transport]` for good)" in refused.stderr
    )
    assert JDOE.read_bytes() == before
    forced = run_cli("apply", "fleet.yaml", "--force", env=ENV)
    assert forced.exit_code == 0
    assert values(JDOE)["account1"]["transport"] == "tls"
    assert values(JDOE)["account1"]["password"] == "ab12cd"
    assert run_cli("verify", "fleet.yaml", env=ENV).exit_code == 0


def test_change_on_disk_to_the_wanted_value_is_no_conflict(office: Path, run_cli: RunCli) -> None:
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0
    Path("fleet.yaml").write_text(FLEET.replace("transport: tls", "transport: tcp"), encoding="utf-8")
    JDOE.write_bytes(ini.encode(text_of(JDOE).replace("transport=tls", "transport=tcp")))
    result = run_cli("apply", "fleet.yaml", env=ENV)
    assert result.exit_code == 0, result.output


def test_rollback_restores_previous_bytes_and_removes_created_files(office: Path, run_cli: RunCli) -> None:
    JDOE.parent.mkdir(parents=True)
    JDOE.write_bytes(microsip_written.utf16())
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0
    result = run_cli("rollback", "fleet.yaml", "--seat", "jdoe")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{JDOE}: restored from the backup ({sorted(p.name for p in backups_of('jdoe').iterdir())[0]})",
        "rollback: 1 file of seat jdoe rolled back",
    ]
    assert JDOE.read_bytes() == microsip_written.utf16()
    removed = run_cli("rollback", "fleet.yaml", "--seat", "alice")
    assert removed.stdout.splitlines()[0] == f"{ALICE}: removed (the last apply created it)"
    assert not ALICE.exists()
    again = run_cli("rollback", "fleet.yaml", "--seat", "alice", "--seat", "jdoe")
    assert again.exit_code == 0
    assert again.stdout.splitlines() == [
        f"seat alice: nothing left to undo: the apply of {read_manifest(manifest_of('alice'))['undone']} "
        "was already rolled back",
        f"seat jdoe: nothing left to undo: the apply of {read_manifest(manifest_of('jdoe'))['undone']} "
        "was already rolled back",
    ]
    assert JDOE.read_bytes() == microsip_written.utf16()
    # after a rollback the next apply is a normal update, not a conflict
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0


def test_dry_run_writes_nothing(office: Path, run_cli: RunCli) -> None:
    JDOE.parent.mkdir(parents=True)
    JDOE.write_bytes(microsip_written.utf16())
    before = snapshot(office)
    result = run_cli("apply", "fleet.yaml", "--dry-run", env=ENV)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "dry run: 2 seats to write, 0 unchanged, 0 in conflict, 0 failed (of 2)"
    assert snapshot(office) == before
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0
    assert run_cli("apply", "fleet.yaml", "--dry-run", env=ENV).exit_code == 0


def test_no_secret_in_manifest_or_output(office: Path, run_cli: RunCli) -> None:
    outputs = [
        run_cli("plan", "fleet.yaml", env=ENV),
        run_cli("plan", "fleet.yaml", "--format", "json", env=ENV),
        run_cli("apply", "fleet.yaml", "--format", "json", env=ENV),
        run_cli("verify", "fleet.yaml", "--format", "json", env=ENV),
    ]
    JDOE.write_bytes(ini.encode(text_of(JDOE).replace("password=s3cret-2001", "password=")))
    outputs.append(run_cli("plan", "fleet.yaml", env=ENV))
    outputs.append(run_cli("verify", "fleet.yaml", env=ENV))
    for result in outputs:
        assert "s3cret" not in result.output
    manifests = [manifest_of("alice"), manifest_of("jdoe")]
    assert not list(Path("users").rglob("*manifest*"))  # the state is the admin's, not in profiles
    for manifest in manifests:
        text = manifest.read_text()
        assert "s3cret" not in text and "password" not in text.lower()
    jdoe = read_manifest(manifests[1])["files"]["microsip.ini"]
    assert sorted(jdoe["managed"]["Account1"]) == ["displayName", "domain", "server", "transport", "username"]
    assert sorted(jdoe["managed"]["Settings"]) == [
        "autoAnswer",
        "cmdCallStart",
    ]  # accountId is seeded: the user switches accounts
    assert all(len(h) == 64 for h in jdoe["managed"]["Account1"].values())


def test_plan_json(office: Path, run_cli: RunCli) -> None:
    result = run_cli("plan", "fleet.yaml", "--seat", "alice", "--format", "json", env=ENV)
    document = json.loads(result.stdout)
    (target,) = document["targets"]
    assert (target["seat"], target["path"], target["action"]) == ("alice", str(ALICE), "create")
    assert "+password=********" in target["diff"]
    assert document["ok"] is True


def test_json_ok_agrees_with_the_exit_code(office: Path, run_cli: RunCli) -> None:
    """`ok` is true exactly when the command exits 0 (a conflict, a failure or drift is not ok)."""
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0
    JDOE.write_bytes(ini.encode(text_of(JDOE).replace("transport=tls", "transport=udp")))
    for args, code in [
        (["verify", "fleet.yaml"], 1),
        (["apply", "fleet.yaml"], 3),
        (["apply", "fleet.yaml", "--dry-run", "--force"], 1),
        (["plan", "fleet.yaml"], 0),
        (["plan", "fleet.yaml", "--exit-code"], 1),
    ]:
        result = run_cli(*args, "--format", "json", env=ENV)
        document = json.loads(result.stdout)
        assert (result.exit_code, document["ok"], document["exit_code"]) == (code, code == 0, code), args


def test_dry_run_names_no_backup(office: Path, run_cli: RunCli) -> None:
    JDOE.parent.mkdir(parents=True)
    JDOE.write_bytes(microsip_written.utf16())
    result = run_cli("apply", "fleet.yaml", "--dry-run", env=ENV)
    assert result.exit_code == 1
    assert "backup" not in result.stdout
    assert not Path(".provisioner-state").exists()


def test_render_output_is_private(office: Path, run_cli: RunCli) -> None:
    """render writes plaintext passwords: 0600 files in 0700 folders."""
    assert run_cli("render", "fleet.yaml", "--out", "build/out", env=ENV).exit_code == 0
    for path in [Path("build"), *Path("build").rglob("*")]:
        assert path.stat().st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path


def test_seat_without_target_is_bad_input(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": "version: 1\nname: t\nseats:\n  - id: s\n    accounts: [{domain: d}]\n"})
    result = run_cli("plan", "fleet.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "fleet.yaml:4:5: seats[s].target: the seat has no `target`; plan, apply, verify and rollback need one "
        "(appdata, portable or wine)"
    )


def test_missing_root_fails_that_seat_with_exit_3(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET})
    result = run_cli("apply", "fleet.yaml", env=ENV)
    assert result.exit_code == 3
    assert result.stderr.splitlines()[0] == (
        "failed     jdoe: users: the target root does not exist (seat jdoe); create it, point the target at the "
        "folder that holds the user profiles (C:/Users on a Windows admin PC, a mounted //server/profiles share), "
        "or re-root a trial with --root DIR"
    )


def test_lock_held_fails_fast(office: Path, run_cli: RunCli) -> None:
    store = deploy.Store(Path(".provisioner-state"))
    store.ensure()
    with deploy.RealFS().lock(store.seat("jdoe", JDOE), "test"):
        result = run_cli("apply", "fleet.yaml", env=ENV)
    assert result.exit_code == 3
    assert "another apply or rollback is running on this target" in result.stderr
    assert not JDOE.exists() and ALICE.exists()  # the other seat went ahead


def test_read_only_folder_fails_cleanly(office: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.open

    def refuse(name: str, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        """Creating a file in jdoe's MicroSIP folder is refused, as in a read-only folder."""
        folder = str(Path(f"/proc/self/fd/{dir_fd}").readlink()) if dir_fd is not None else ""
        if flags & os.O_CREAT and folder.endswith("jdoe/AppData/Roaming/MicroSIP"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(name, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr("provisioner.targetfs.safefs.os.open", refuse)
    result = run_cli("apply", "fleet.yaml", env=ENV)
    assert result.exit_code == 3
    assert result.stderr.splitlines()[0] == f"failed     jdoe: {JDOE.parent}: cannot write here: Permission denied"
    assert not [p for p in Path("users").rglob(f"{deploy.TEMP_PREFIX}*")]
    assert ALICE.exists() and not JDOE.exists()


def test_disk_full_leaves_old_file_and_no_temp(office: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    JDOE.parent.mkdir(parents=True)
    JDOE.write_bytes(microsip_written.utf16())
    assert run_cli("apply", "fleet.yaml", "--seat", "alice", env=ENV).exit_code == 0  # the state folder is made

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("provisioner.targetfs.safefs.os.write", full)
    result = run_cli("apply", "fleet.yaml", "--seat", "jdoe", env=ENV)
    assert result.exit_code == 3
    assert "No space left on device" in result.stderr
    assert JDOE.read_bytes() == microsip_written.utf16()
    assert not [p for p in Path("users").rglob(f"{deploy.TEMP_PREFIX}*")]
    assert not manifest_of("jdoe").exists()


def test_a_failed_sync_writes_no_file_and_no_manifest(
    office: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staged files are renamed only once the disk said they are safe; when it cannot, nothing replaces anything."""
    JDOE.parent.mkdir(parents=True)
    JDOE.write_bytes(microsip_written.utf16())

    def broken(self: deploy.RealFS) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(deploy.RealFS, "make_durable", broken)
    result = run_cli("apply", "fleet.yaml", env=ENV)
    assert result.exit_code == 3
    assert "Input/output error" in result.stderr
    assert JDOE.read_bytes() == microsip_written.utf16() and not ALICE.exists()
    assert not [p for p in Path("users").rglob(f"{deploy.TEMP_PREFIX}*")]
    assert not manifest_of("jdoe").exists() and not manifest_of("alice").exists()


def test_file_replaced_mid_run_is_not_overwritten(
    office: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    JDOE.parent.mkdir(parents=True)
    JDOE.write_bytes(microsip_written.utf16())
    real_lock = deploy.RealFS.lock

    def sneaky(self: deploy.RealFS, where: object, what: str):  # type: ignore[no-untyped-def]
        JDOE.write_bytes(microsip_written.utf16() + "x=1\r\n".encode("utf-16-le"))  # MicroSIP saved meanwhile
        return real_lock(self, where, what)  # type: ignore[arg-type]

    monkeypatch.setattr(deploy.RealFS, "lock", sneaky)
    result = run_cli("apply", "fleet.yaml", "--seat", "jdoe", env=ENV)
    assert result.exit_code == 3
    assert "changed on disk while applying" in result.stderr
    assert JDOE.read_bytes().endswith("x=1\r\n".encode("utf-16-le"))


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x01\x02\x03" * 100,
        b"\xff\xfe" + "[Settings]\r\n".encode("utf-16-le") + b"\x41",
        b"junk that is no ini " * 500_000,
    ],
    ids=["binary", "truncated-utf16", "10MB-junk"],
)
def test_garbage_ini_is_refused_unless_forced(office: Path, run_cli: RunCli, garbage: bytes) -> None:
    JDOE.parent.mkdir(parents=True)
    JDOE.write_bytes(garbage)
    result = run_cli("apply", "fleet.yaml", "--seat", "jdoe", env=ENV)
    assert result.exit_code == 3
    assert "the existing file is not an ini MicroSIP could read" in result.stderr
    assert JDOE.read_bytes() == garbage
    forced = run_cli("apply", "fleet.yaml", "--seat", "jdoe", "--force", env=ENV)
    assert forced.exit_code == 0
    assert values(JDOE)["account1"]["username"] == "2001"
    (backup,) = backups_of("jdoe").iterdir()
    assert backup.read_bytes() == garbage


def test_backups_rotate(office: Path, run_cli: RunCli) -> None:
    for i in range(14):
        Path("fleet.yaml").write_text(FLEET.replace("John Doe", f"John {i}"), encoding="utf-8")
        assert run_cli("apply", "fleet.yaml", "--seat", "jdoe", env=ENV).exit_code == 0
    backups = list(backups_of("jdoe").iterdir())
    kept = {ini.parse(ini.decode(b.read_bytes())[0]).as_dict()["account1"]["displayname"] for b in backups}
    assert kept == {f"John {i}" for i in range(3, 13)}  # 13 backups made, the newest 10 kept


def test_no_backup_option(office: Path, run_cli: RunCli) -> None:
    JDOE.parent.mkdir(parents=True)
    JDOE.write_bytes(microsip_written.utf16())
    assert run_cli("apply", "fleet.yaml", "--seat", "jdoe", "--no-backup", env=ENV).exit_code == 0
    assert not backups_of("jdoe").exists()
    result = run_cli("rollback", "fleet.yaml", "--seat", "jdoe")
    assert result.exit_code == 3
    assert result.stderr == (
        f"failed     jdoe: {JDOE}: the last apply kept no backup (--no-backup); cannot restore it\n"
    )


def test_portable_and_wine_targets(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "fleet.yaml": """\
            version: 1
            name: t
            seats:
              - id: usb
                install: {mode: portable, exe: MicroSIP-sales.exe}
                target: {type: portable, path: stick/MicroSIP}
                accounts: [{domain: d}]
              - id: wine-installed
                user: kim
                target: {type: wine, prefix: prefix}
                accounts: [{domain: d}]
              - id: wine-portable
                install: {mode: portable, exe: 'D:\\Apps\\MicroSIP\\microsip.exe'}
                target: {type: wine, prefix: prefix}
                accounts: [{domain: d}]
            """,
            "prefix/user.reg": 'WINE REGISTRY Version 2\n\n[Software\\\\MicroSIP] 1700000000\n#time=1\n@="C:\\\\Program Files\\\\MicroSIP"\n',
        }
    )
    Path("stick/MicroSIP").mkdir(parents=True)
    Path("prefix/drive_c/users/kim").mkdir(parents=True)  # Wine made kim's folder at its first run
    result = run_cli("apply", "fleet.yaml")
    assert result.exit_code == 0, result.output
    assert Path("stick/MicroSIP/MicroSIP-sales.ini").is_file()
    assert Path("prefix/drive_c/users/kim/AppData/Roaming/MicroSIP/microsip.ini").is_file()
    assert Path("prefix/dosdevices/d:/Apps/MicroSIP/microsip.ini").is_file()
    assert result.stderr == ""  # the registry agrees with both Wine seats


def test_wine_registry_contradiction_warns(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "fleet.yaml": "version: 1\nname: t\nseats:\n  - id: w\n    target: {type: wine, prefix: p}\n    accounts: [{domain: d}]\n",
        }
    )
    Path("p").mkdir()
    result = run_cli("plan", "fleet.yaml")
    assert result.exit_code == 0
    assert result.stderr.startswith(
        "fleet.yaml:5:13: warning: seats[w].target: MicroSIP is not registered in the Wine prefix"
    )


def test_paths_cannot_escape_their_root(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "fleet.yaml": "version: 1\nname: t\nseats:\n  - id: w\n    install: {mode: portable, exe: 'C:\\..\\..\\..\\x\\m.exe'}\n"
            "    target: {type: wine, prefix: p}\n    accounts: [{domain: d}]\n",
        }
    )
    Path("p").mkdir()
    result = run_cli("plan", "fleet.yaml")
    assert result.exit_code == 2
    assert "leaves its root" in result.stderr


def test_root_option_re_roots_relative_targets(office: Path, run_cli: RunCli, tmp_path: Path) -> None:
    Path("scratch/users/jdoe").mkdir(parents=True)
    Path("scratch/users/alice").mkdir(parents=True)
    result = run_cli("apply", "fleet.yaml", "--root", "scratch", env=ENV)
    assert result.exit_code == 0, result.output
    assert (Path("scratch") / JDOE).is_file() and not JDOE.exists()


def test_locked_file_is_retried_then_reported(office: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.rename
    calls: list[str] = []

    def locked_once(src: str, dst: str, **fds: int) -> None:
        calls.append(dst)
        if len(calls) == 1:
            raise PermissionError(errno.EACCES, "Access is denied")
        real(src, dst, **fds)

    monkeypatch.setattr(safefs, "REPLACE_PAUSE", 0.0)
    monkeypatch.setattr("provisioner.targetfs.safefs.os.rename", locked_once)
    assert run_cli("apply", "fleet.yaml", "--seat", "jdoe", env=ENV).exit_code == 0
    assert JDOE.exists()

    def always_locked(src: str, dst: str, **fds: int) -> None:
        raise PermissionError(errno.EACCES, "Access is denied")

    monkeypatch.setattr("provisioner.targetfs.safefs.os.rename", always_locked)
    result = run_cli("apply", "fleet.yaml", "--seat", "alice", env=ENV)
    assert result.exit_code == 3
    assert result.stderr.splitlines()[0] == (
        f"failed     alice: {ALICE}: write failed: the file is locked by another program "
        "(close MicroSIP with `microsip.exe /exit` and try again)"
    )
    assert not [p for p in Path("users").rglob(f"{deploy.TEMP_PREFIX}*")]


def test_verify_json_names_seat_file_and_key(office: Path, run_cli: RunCli) -> None:
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0
    JDOE.write_bytes(ini.encode(text_of(JDOE).replace("autoAnswer=header", "autoAnswer=all")))
    result = run_cli("verify", "fleet.yaml", "--format", "json", env=ENV)
    assert result.exit_code == 1
    targets = json.loads(result.stdout)["targets"]
    assert targets[0] == {
        "seat": "jdoe",
        "path": str(JDOE),
        "action": "drift",
        "diff": "",
        "drift": [{"key": "[Settings] autoAnswer", "message": "'all' on disk, the fleet says 'header'"}],
    }
    assert targets[1]["action"] == "unchanged"


LAUNCH_FLEET = (
    FLEET.replace(
        "  - id: jdoe\n",
        "  - id: jdoe\n    launch: {name: MicroSIP Office, args: /minimized, shortcuts: [desktop, startup]}\n",
    )
    + """\
  - id: usb
    install: {mode: portable, exe: MicroSIP-usb.exe}
    target: {type: portable, path: stick}
    accounts: [{username: "3000"}]
"""
)
DESKTOP = Path("users/jdoe/Desktop/MicroSIP Office.lnk")
STARTUP = Path("users/jdoe/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup/MicroSIP Office.lnk")
CMD = Path("stick/MicroSIP.cmd")


def test_launchers_are_deployed_verified_and_rolled_back(office: Path, run_cli: RunCli) -> None:
    Path("fleet.yaml").write_text(LAUNCH_FLEET, encoding="utf-8")
    Path("stick").mkdir()
    plan = run_cli("plan", "fleet.yaml", env=ENV)
    assert f"create     jdoe                 {DESKTOP}" in plan.stdout
    assert f"create     usb                  {CMD}" in plan.stdout
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0
    assert DESKTOP.read_bytes() == STARTUP.read_bytes()
    assert CMD.read_bytes().endswith(b'"%~dp0MicroSIP-usb.exe"\r\n')
    manifest = read_manifest(manifest_of("jdoe"))
    assert manifest["files"]["../../../Desktop/MicroSIP Office.lnk"]["kind"] == "owned"
    second = run_cli("apply", "fleet.yaml", env=ENV)
    assert second.stdout.endswith("apply: 0 seats written, 3 unchanged, 0 in conflict, 0 failed (of 3)\n")

    DESKTOP.write_bytes(b"someone else's shortcut")
    verify = run_cli("verify", "fleet.yaml", env=ENV)
    assert verify.exit_code == 1
    assert f"drift   jdoe: {DESKTOP}: differs from the launcher the fleet writes here" in verify.stdout
    refused = run_cli("apply", "fleet.yaml", env=ENV)
    assert refused.exit_code == 3
    assert DESKTOP.read_bytes() == b"someone else's shortcut"
    assert run_cli("apply", "fleet.yaml", "--force", env=ENV).exit_code == 0
    rollback = run_cli("rollback", "fleet.yaml", "--seat", "jdoe")
    assert rollback.exit_code == 0, rollback.output
    assert f"{DESKTOP}: restored from the backup (Desktop%MicroSIP Office.lnk." in rollback.stdout
    assert DESKTOP.read_bytes() == b"someone else's shortcut"


def test_render_writes_launchers_beside_the_ini(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": LAUNCH_FLEET})
    result = run_cli("render", "fleet.yaml", "--out", "out", env=ENV)
    assert result.exit_code == 0, result.output
    assert listing(Path("out")) == [
        "alice/microsip.ini",
        "jdoe/Desktop/MicroSIP Office.lnk",
        "jdoe/Start Menu/Programs/Startup/MicroSIP Office.lnk",
        "jdoe/microsip.ini",
        "usb/MicroSIP-usb.ini",
        "usb/MicroSIP.cmd",
    ]


def test_verify_of_a_seat_never_applied_reports_each_missing_file(office: Path, run_cli: RunCli) -> None:
    result = run_cli("verify", "fleet.yaml", env=ENV)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"drift   jdoe: {JDOE}: the file does not exist",
        f"drift   alice: {ALICE}: the file does not exist",
        "verify: 2 of 2 seats drifted",
    ]


def test_verify_reports_secret_drift_without_the_secret(build_tree: BuildTree, run_cli: RunCli) -> None:
    fleet = FLEET.replace("  - id: alice\n", "    ini: {Custom: {apiKey: {env: API_KEY}}}\n  - id: alice\n")
    build_tree({"fleet.yaml": fleet})
    for user in ("jdoe", "alice"):
        Path("users", user).mkdir(parents=True)
    env = {**ENV, "API_KEY": "k-123456"}
    assert run_cli("apply", "fleet.yaml", env=env).exit_code == 0
    JDOE.write_bytes(
        ini.encode(
            text_of(JDOE).replace("apiKey=k-123456", "apiKey=k-999999").replace("password=s3cret-2001", "password=")
        )
    )
    result = run_cli("verify", "fleet.yaml", "--seat", "jdoe", env=env)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:2] == [
        f"drift   jdoe: {JDOE}: [Account1] password: missing or empty on disk",
        f"drift   jdoe: {JDOE}: [Custom] apiKey: differs from the fleet (secret, not shown)",
    ]
    assert "k-123456" not in result.output and "k-999999" not in result.output


def test_verify_reports_a_changed_fleet_contact(build_tree: BuildTree, run_cli: RunCli) -> None:
    fleet = FLEET.replace("  - id: alice\n", "    contacts: [{name: Helpdesk, number: '200'}]\n  - id: alice\n")
    build_tree({"fleet.yaml": fleet})
    for user in ("jdoe", "alice"):
        Path("users", user).mkdir(parents=True)
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0
    book = JDOE.parent / "Contacts.xml"
    book.write_bytes(book.read_bytes().replace(b'name="Helpdesk"', b'name="Help"'))
    result = run_cli("verify", "fleet.yaml", "--seat", "jdoe", env=ENV)
    assert result.exit_code == 1
    assert "Contacts.xml" in result.stdout and "200" in result.stdout


class RecordingRunner(Fast):
    """The command line's runner, noting each folder path asked of openat2 and what came of it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[tuple[str, ...], str]] = []

    def open_folders(self, fd: int, parts: tuple[str, ...]) -> int | None:
        try:
            found = super().open_folders(fd, parts)
        except FileNotFoundError:
            self.asked.append((parts, "missing"))
            raise
        self.asked.append((parts, "opened" if found is not None else "walk"))
        return found


@pytest.fixture
def quick_opens(tmp_path: Path) -> Iterator[list[tuple[tuple[str, ...], str]]]:
    """Each folder path openat2 was asked for, and what came of it: opened, missing or walk (anything else)."""
    (tmp_path / "probe" / "inner").mkdir(parents=True)
    fd = os.open(tmp_path / "probe", os.O_RDONLY)
    try:
        found = Fast().open_folders(fd, ("inner",))
    finally:
        os.close(fd)
    if found is None:
        pytest.skip("not Linux, or its kernel (or sandbox) refuses openat2: folders are walked one by one")
    os.close(found)
    recording = RecordingRunner()
    with runner.using(recording):
        yield recording.asked


def test_existing_folders_are_opened_in_one_call(office: Path, quick_opens: list[tuple[tuple[str, ...], str]]) -> None:
    api.apply(Path("fleet.yaml"), environ=ENV)
    quick_opens.clear()
    assert [r.drift for r in api.verify(Path("fleet.yaml"), environ=ENV).seats] == [[], []]
    # the profile folder first (its owner owns what is created below it), then the rest in one call
    assert (("jdoe",), "opened") in quick_opens and (("AppData", "Roaming", "MicroSIP"), "opened") in quick_opens
    assert all(what == "opened" for _, what in quick_opens)


def test_a_missing_folder_is_known_in_one_call(
    office: Path, quick_opens: list[tuple[tuple[str, ...], str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    walked: list[str] = []
    real_child = safefs.Folder.child

    def child(self: safefs.Folder, name: str, **how: Any) -> safefs.Folder | None:
        walked.append(name)
        return real_child(self, name, **how)

    monkeypatch.setattr(safefs.Folder, "child", child)
    plan = api.plan(Path("fleet.yaml"), environ=ENV)  # a first deploy: no MicroSIP folder yet
    assert [[c.action for c in seat.plan.files] for seat in plan.seats if seat.plan] == [["create"], ["create"]]
    assert (("AppData", "Roaming", "MicroSIP"), "missing") in quick_opens
    assert "AppData" not in walked  # nothing below the profile folder was walked to find it missing
    walked.clear()
    api.apply(Path("fleet.yaml"), environ=ENV)
    assert "AppData" in walked  # creating folders walks them, each made without following a link
    assert [r.drift for r in api.verify(Path("fleet.yaml"), environ=ENV).seats] == [[], []]


def test_a_first_deploy_asks_once_for_what_is_missing(
    office: Path, quick_opens: list[tuple[tuple[str, ...], str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    listed: list[str] = []
    real_names = safefs.Folder.names

    def names(self: safefs.Folder) -> list[str]:
        listed.append(self.path.name)
        return real_names(self)

    monkeypatch.setattr(safefs.Folder, "names", names)
    api.apply(Path("fleet.yaml"), environ=ENV)
    # planning learns that each seat's MicroSIP folder is missing; creating it walks at once
    assert quick_opens.count((("AppData", "Roaming", "MicroSIP"), "missing")) == 2
    assert listed == []  # the state folders the locks just created hold no temps or backups to look for
    ini = Path("users/jdoe/AppData/Roaming/MicroSIP/microsip.ini")
    ini.unlink()
    api.apply(Path("fleet.yaml"), environ=ENV, seat_ids=["jdoe"])
    # a state folder that was there already is searched for what an interrupted run left
    assert [name.split("-")[0] for name in listed] == ["MicroSIP", "jdoe"]
    assert ini.exists()


@pytest.mark.parametrize("openat2", [True, False], ids=["openat2", "walked"])
@pytest.mark.parametrize("where", ["AppData", "AppData/Roaming/MicroSIP"])
def test_a_linked_folder_is_refused_in_one_call_or_walked(office: Path, openat2: bool, where: str) -> None:
    assert api.apply(Path("fleet.yaml"), environ=ENV).exit_code() == 0
    outside = office / "outside"
    outside.mkdir()
    folder = Path("users/jdoe") / where
    moved = folder.with_name("moved")
    folder.rename(moved)
    folder.symlink_to(outside if where == "AppData" else moved.resolve())
    with runner.using(Fast() if openat2 else runner.Serial()):  # the command line's runner, or a plain walk
        for command in (api.verify, api.apply):
            jdoe = next(seat for seat in command(Path("fleet.yaml"), environ=ENV).seats if seat.seat_id == "jdoe")
            assert jdoe.error == f"{folder}: is a link or not a folder; refused"
    assert not list(outside.iterdir())


@pytest.mark.slow
def test_apply_racing_an_in_place_save_never_loses_a_section(office: Path) -> None:
    """MicroSIP saves in place (truncate, then write): apply --force never takes a torn read as the truth.

    A writer keeps one descriptor on the ini (as a save in progress would) and rewrites it
    in place without pause. Whatever apply wrote in its place must hold every section of
    MicroSIP's, and every backup must hold a whole file.
    """
    import shutil
    import threading
    import time

    JDOE.parent.mkdir(parents=True)
    whole = microsip_written.utf16()
    JDOE.write_bytes(whole)
    rounds, refused = 60, 0
    for round_ in range(rounds):
        fd = os.open(JDOE, os.O_RDWR)
        stop = threading.Event()

        def save(fd: int = fd, stop: threading.Event = stop, pause: float = 0.005 * (round_ % 7)) -> None:
            time.sleep(pause)  # the save starts at a different moment of each apply
            while not stop.is_set():  # saves now and then, each slow to write its bytes
                os.ftruncate(fd, 0)
                time.sleep(0.02)
                os.pwrite(fd, whole, 0)
                stop.wait(0.03)

        writer = threading.Thread(target=save)
        writer.start()
        try:
            result = api.apply(Path("fleet.yaml"), seat_ids=["jdoe"], force=True, environ=ENV)
        finally:
            stop.set()
            writer.join()
            os.close(fd)
        (report,) = result.seats
        if report.error:
            refused += 1
            assert any(why in report.error for why in ("kept changing while", "changed on disk", "is empty, but")), (
                report.error
            )
        sections = ini.parse(ini.decode(JDOE.read_bytes())[0]).as_dict()
        assert {"calls", "dialed", "settings"} <= sections.keys(), f"round {round_}: a section was lost"
        for backup in Path(".provisioner-state").rglob("*.bak"):
            assert backup.read_bytes() == whole, f"round {round_}: a backup holds a torn read"
        JDOE.unlink()
        JDOE.write_bytes(whole)  # MicroSIP's file again, for the next round: a first deploy each time
        shutil.rmtree(".provisioner-state")
    assert refused < rounds, refused  # some rounds get through


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"user.reg": b'[Software\\\\MicroSIP] 1\n#time=1\n@="C:\\\\MicroSIP"\n'}, "C:\\MicroSIP"),
        ({"user.reg": b'[Software\\\\MicroSIPX] 1\n@="C:\\\\No"\n\n[Software\\\\MicroSIP]\n"x"="y"\n'}, None),
        ({"system.reg": b'[Software\\\\Wow6432Node\\\\MicroSIP] 1\r\n@="D:\\\\Apps \\"q\\""\r\n'}, 'D:\\Apps "q"'),
        ({"user.reg": b'[Software\\\\MicroSIP]\n"Other"="1"\n[Software\\\\Other]\n@="C:\\\\Wrong"\n'}, None),
        ({"user.reg": b"[Software\\\\Other]\n@=x\n", "system.reg": b'[software\\\\microsip]\n@="E:\\\\M"\n'}, "E:\\M"),
    ],
    ids=["hkcu", "other-keys", "wow64-crlf", "value-of-the-next-key", "hklm"],
)
def test_wine_registry_default_value(tmp_path: Path, files: dict[str, bytes], expected: str | None) -> None:
    for name, data in files.items():
        (tmp_path / name).write_bytes(b"WINE REGISTRY Version 2\n\n" + data)
    assert targets.wine_install_folder(tmp_path) == expected


def test_a_huge_wine_registry_is_scanned_not_split(tmp_path: Path) -> None:
    """A user.reg of tens of MB (one of 63 MB was seen) is searched as bytes, the key found at its end."""
    filler = b"".join(b'[Software\\\\Vendor\\\\App%d] 1\n"Value"="%s"\n\n' % (i, b"x" * 200) for i in range(250_000))
    (tmp_path / "user.reg").write_bytes(filler + b'[Software\\\\MicroSIP] 1\n@="C:\\\\Late"\n')
    assert (tmp_path / "user.reg").stat().st_size > 60_000_000
    assert targets.wine_install_folder(tmp_path) == "C:\\Late"


def test_two_state_folders_share_the_targets_lock(office: Path, run_cli: RunCli) -> None:
    """An apply with another state folder holds the profile folder's lock: this one fails at once, writing nothing."""
    import fcntl

    fd = os.open("users/jdoe", os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the other apply holds it
        result = run_cli("apply", "fleet.yaml", "--state", "other-state", env=ENV)
    finally:
        os.close(fd)
    assert result.exit_code == 3
    assert (
        "failed     jdoe: seat jdoe: another apply or rollback is deploying to users/jdoe (perhaps with another "
        "state folder); try again when it has finished"
    ) in result.stderr
    assert not JDOE.exists() and ALICE.exists()  # the other seat went ahead
    assert run_cli("apply", "fleet.yaml", "--state", "other-state", env=ENV).exit_code == 0


def test_a_registry_value_reaches_the_terminal_printable(build_tree: BuildTree, run_cli: RunCli) -> None:
    """The prefix's owner writes its registry: an escape or a line break there is shown as '?'."""
    build_tree(
        {
            "fleet.yaml": "version: 1\nname: t\nseats:\n  - id: w\n    target: {type: wine, prefix: p}\n    accounts: [{domain: d}]\n",
            "p/user.reg": '[Software\\\\MicroSIP] 1\n@="C:\\\\X\x1b]0;pwned\x07\rforged: line"\n',
        }
    )
    result = run_cli("plan", "fleet.yaml")
    assert result.exit_code == 0
    assert "\x1b" not in result.output and "\r" not in result.output
    assert "registers MicroSIP at C:\\X?]0;pwned??forged: line, not at the seat's exe folder" in result.stderr

"""Guests, round two: a seat file's author, whoever can reach the state folder, a writable target root.

Each test tries the attack for real (eve is an unprivileged user acting through a setuid
child process; the admin runs the tool as root) and checks what it could not do.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from provisioner import ini
from tests.conftest import RunCli, read_manifest
from tests.security.conftest import ENV, ROOT, Arena

pytestmark = pytest.mark.skipif(not ROOT, reason="the attacks need root: run the suite as root (CI does)")


def _state(arena: Arena, who: str) -> Path:
    (found,) = (arena.admin / ".provisioner-state" / "targets").glob(f"{who}-*")
    return found


def _deployed(arena: Arena, who: str) -> dict[str, dict[str, str]]:
    return ini.parse(ini.decode(arena.ini(who).read_bytes())[0]).as_dict()


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("target.path", "{outside}"),
        ("target.type", "portable"),
        ("install.exe", "C:\\evil.exe"),
        ("settings.cmdCallStart", "C:\\evil.exe"),
        ("launch.name", "..\\..\\x"),
        ("ini.Settings.cmdCallEnd", "calc"),
    ],
)
def test_a_seat_file_row_reaches_no_path_and_no_code(arena: Arena, run_cli: RunCli, header: str, value: str) -> None:
    """An HR export's row may say who sits where with which account, never where files go or what runs."""
    php = arena.outside / "php.ini"
    php.write_bytes(b"[PHP]\nengine=On\n")
    fleet = (arena.admin / "fleet.yaml").read_text("utf-8").replace("seats:\n", "seat_files: [seats.csv]\nseats:\n")
    (arena.admin / "fleet.yaml").write_text(fleet, encoding="utf-8")
    row = value.format(outside=arena.outside)
    (arena.admin / "seats.csv").write_text(f"id,user,{header}\nhr,eve,{row}\n", encoding="utf-8")
    before = arena.snapshot()
    result = run_cli("apply", "fleet.yaml", env=ENV)
    assert result.exit_code == 2
    head = header.split(".")[0]
    assert f"seats.csv:1:3: {header}: header '{header}': `{head}` comes only from the fleet's YAML" in result.stderr
    assert arena.snapshot() == before  # nothing written anywhere: not php.ini, not a launcher, not a seat
    assert php.read_bytes() == b"[PHP]\nengine=On\n"


def _shared_fleet(arena: Arena) -> Path:
    """The fleet in a folder everyone may write (a share set up carelessly)."""
    folder = arena.world / "fleet"
    folder.mkdir()
    folder.chmod(0o777)
    (folder / "fleet.yaml").write_text((arena.admin / "fleet.yaml").read_text("utf-8"), encoding="utf-8")
    return folder


def test_a_state_folder_a_user_made_is_refused(arena: Arena, run_cli: RunCli) -> None:
    folder = _shared_fleet(arena)
    arena.as_user("eve", f"mkdir -m 700 {folder}/.provisioner-state")
    result = run_cli("apply", str(folder / "fleet.yaml"), env=ENV)
    assert result.exit_code == 3
    eve = arena.users["eve"].name
    state = folder / ".provisioner-state"
    assert result.stderr.splitlines()[-1] == (
        f"error: the state folder {state} is not yours alone: {state} belongs to {eve}, not to root; "
        "its backups hold passwords and its manifests say what may be rolled back, so it is not used; "
        "move it away and let the tool create a new one, or name a folder of your own with --state"
    )
    assert list(state.iterdir()) == []  # no backup, manifest or key reached it
    assert not arena.ini("eve").exists() and not arena.ini("bob").exists()
    for command in ("plan", "verify"):  # its forged `seen` is never read either
        assert run_cli(command, str(folder / "fleet.yaml"), env=ENV).exit_code == 3
    # with a state folder of the admin's, the run goes ahead and warns about the fleet's folder
    result = run_cli("apply", str(folder / "fleet.yaml"), "--state", str(arena.admin / "state"), env=ENV)
    assert result.exit_code == 0
    assert (
        f"fleet.yaml:1:1: warning: the fleet's folder {folder} is writable by others: they may replace "
        f"its files or plant a state folder there; chmod go-w {folder}"
    ) in result.stderr


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_a_state_folder_others_may_write_is_refused(arena: Arena, run_cli: RunCli, mode: int) -> None:
    state = arena.admin / ".provisioner-state"
    state.mkdir()
    state.chmod(mode)
    result = run_cli("apply", "fleet.yaml", env=ENV)
    assert result.exit_code == 3
    who = "others" if mode & 0o002 else "its group"
    assert f"{state} is writable by {who} (mode {mode:04o})" in result.stderr
    assert list(state.iterdir()) == []


def test_a_folder_on_the_way_to_the_state_is_checked(arena: Arena, run_cli: RunCli) -> None:
    way = arena.world / "way"
    way.mkdir()
    way.chmod(0o777)  # anyone may swap `state` below it for their own folder
    result = run_cli("apply", "fleet.yaml", "--state", str(way / "state"), env=ENV)
    assert result.exit_code == 3
    assert f"{way} is writable by others (mode 0777)" in result.stderr
    assert not (way / "state").exists()
    # /tmp-like folders (root's, sticky) may lie on the way: nobody can touch what the admin made there
    way.chmod(0o1777)
    assert run_cli("apply", "fleet.yaml", "--state", str(way / "state"), env=ENV).exit_code == 0
    assert stat.S_IMODE((way / "state").stat().st_mode) == 0o700


def test_the_key_is_the_admins_alone(arena: Arena, run_cli: RunCli) -> None:
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0
    key = arena.admin / ".provisioner-state" / "key"
    st = key.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, len(key.read_bytes().strip())) == (0o600, 0, 64)
    key.chmod(0o644)
    result = run_cli("verify", "fleet.yaml", env=ENV)
    assert result.exit_code == 3
    assert "error: .provisioner-state/key: the state folder's key is not yours alone (mode 0644)" in result.stderr


def test_a_forged_manifest_hides_no_drift_and_steers_no_rollback(arena: Arena, run_cli: RunCli) -> None:
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0
    manifest = _state(arena, "bob") / "manifest.json"
    # bob changes a managed key; a forger (without the key) marks the new bytes as in sync
    arena.ini("bob").write_bytes(
        arena.ini("bob").read_bytes().replace("pbx.example.com".encode("utf-16-le"), "evil.example".encode("utf-16-le"))
    )
    document = read_manifest(manifest)
    document["files"]["microsip.ini"]["seen"] = hashlib.sha256(arena.ini("bob").read_bytes()).hexdigest()
    document["files"]["microsip.ini"]["backup"] = "../../../../vault/shadow"
    forged = json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")
    manifest.write_bytes(forged + b'\n{"mac":"hmac-sha256:' + b"0" * 64 + b'"}\n')
    result = run_cli("verify", "fleet.yaml", env=ENV)
    assert result.exit_code == 1, result.output  # drift found: the forged `seen` was not believed
    assert "evil.example" in result.output
    result = run_cli("rollback", "fleet.yaml", "--seat", "bob", env=ENV)
    assert result.exit_code == 3
    assert "its integrity check fails" in result.output
    assert _deployed(arena, "bob")["account1"]["server"] == "evil.example"  # nothing was rolled back


def test_a_forged_backup_is_never_restored(arena: Arena, run_cli: RunCli) -> None:
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0
    fleet = arena.admin / "fleet.yaml"
    fleet.write_text(fleet.read_text("utf-8").replace("pbx.example.com", "pbx2.example.com"), encoding="utf-8")
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0
    (backup,) = (_state(arena, "bob") / "backups").iterdir()
    forged = backup.read_bytes().replace("2002".encode("utf-16-le"), "6666".encode("utf-16-le"))
    backup.write_bytes(forged)
    result = run_cli("rollback", "fleet.yaml", "--seat", "bob", env=ENV)
    assert result.exit_code == 3
    assert "the backup does not hold the bytes the manifest recorded (changed or forged)" in result.output
    assert _deployed(arena, "bob")["account1"]["server"] == "pbx2.example.com"
    # eve's backup was not touched: her rollback goes ahead
    assert run_cli("rollback", "fleet.yaml", "--seat", "eve", env=ENV).exit_code == 0
    assert _deployed(arena, "eve")["account1"]["server"] == "pbx.example.com"


NEW_HIRE_FLEET = """\
version: 1
name: hires
defaults:
  target: {{type: appdata, root: {profiles}}}
  account: {{server: pbx.example.com, domain: example.com}}
seats:
  - id: bob
    user: {bob}
    accounts: [{{username: "2002", password: {{env: PW_BOB}}}}]
  - id: newhire
    accounts: [{{username: "2003", password: {{env: PW_NEW}}}}]
"""


def test_a_writable_root_hands_no_password_to_whoever_made_the_folder(arena: Arena, run_cli: RunCli) -> None:
    bob = arena.users["bob"]
    (arena.profiles / bob.name).mkdir(mode=0o700)
    os.chown(arena.profiles / bob.name, bob.uid, bob.gid)  # bob's own folder, named like him
    fleet = NEW_HIRE_FLEET.format(profiles=arena.profiles, bob=bob.name)
    (arena.admin / "fleet.yaml").write_text(fleet, encoding="utf-8")
    arena.profiles.chmod(0o777)
    arena.as_user("eve", f"mkdir -m 755 {arena.profiles}/newhire")
    env = {**ENV, "PW_NEW": "newhire-plaintext-pw"}
    try:
        result = run_cli("apply", "fleet.yaml", env=env)
        assert result.exit_code == 3
        home = arena.profiles / "newhire"
        eve = arena.users["eve"].name
        assert (
            f"failed     newhire: {home}: {arena.profiles} is writable by others, so whoever made this folder "
            f"may not be its user, and it belongs to {eve}; refused: chmod go-w {arena.profiles}"
        ) in result.stderr
        assert f"warning: seats[bob].target: {arena.profiles} is writable by others" in result.stderr
        assert list(home.iterdir()) == []  # no ini, no launcher: the password went nowhere
        assert "newhire-plaintext-pw" not in result.output
        ini_path = arena.profiles / bob.name / "AppData" / "Roaming" / "MicroSIP" / "microsip.ini"
        assert b"2\x000\x000\x002\x00" in ini_path.read_bytes()  # a folder owned by its own user is used
        # validate --targets says so too, and --strict refuses
        assert run_cli("validate", "fleet.yaml", "--targets").exit_code == 0
        strict = run_cli("validate", "fleet.yaml", "--targets", "--strict")
        assert strict.exit_code == 2 and f"{arena.profiles} is writable by others" in strict.stderr
    finally:
        arena.profiles.chmod(0o755)


def test_a_publish_whose_last_rename_fails_puts_every_file_back(arena: Arena, run_cli: RunCli) -> None:
    """publish.json is renamed last; when that fails, every file renamed before it gets its old bytes back."""
    import subprocess

    share = arena.world / "share"
    assert run_cli("publish", "fleet.yaml", "--out", str(share), env=ENV).exit_code == 0
    before = {p: p.read_bytes() for p in share.rglob("*") if p.is_file()}
    fleet = arena.admin / "fleet.yaml"
    fleet.write_text(fleet.read_text("utf-8").replace("pbx.example.com", "pbx2.example.com"), encoding="utf-8")
    subprocess.run(["chattr", "+i", str(share / "publish.json")], check=True)  # renaming over it fails
    try:
        result = run_cli("publish", "fleet.yaml", "--out", str(share), env=ENV)
    finally:
        subprocess.run(["chattr", "-i", str(share / "publish.json")], check=True)
    assert result.exit_code == 3
    assert (
        f"{share / 'publish.json'}: cannot be replaced (Operation not permitted); nothing was changed" in result.stderr
    )
    assert {p: p.read_bytes() for p in share.rglob("*") if p.is_file()} == before


def test_a_full_state_disk_changes_no_ini(arena: Arena, run_cli: RunCli) -> None:
    """The manifest is staged with the seat's files: when the state disk is full, no ini is replaced."""
    import subprocess

    state = arena.admin / "state"
    state.mkdir(mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(state)], check=True)
    try:
        assert run_cli("apply", "fleet.yaml", "--state", str(state), env=ENV).exit_code == 0
        before = {who: arena.ini(who).read_bytes() for who in ("eve", "bob")}
        filler = state / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:  # fill the state disk to the last byte
            while os.write(fd, b"\0" * 512):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        fleet = arena.admin / "fleet.yaml"
        fleet.write_text(fleet.read_text("utf-8").replace("pbx.example.com", "pbx2.example.com"), encoding="utf-8")
        result = run_cli("apply", "fleet.yaml", "--state", str(state), "--no-backup", env=ENV)
        assert result.exit_code == 3, result.output
        assert "No space left on device" in result.stderr
        assert {who: arena.ini(who).read_bytes() for who in ("eve", "bob")} == before  # no ini changed unrecorded
        filler.unlink()
        assert run_cli("apply", "fleet.yaml", "--state", str(state), env=ENV).exit_code == 0  # and then all is well
        assert _deployed(arena, "bob")["account1"]["server"] == "pbx2.example.com"
        assert run_cli("rollback", "fleet.yaml", "--state", str(state), "--seat", "bob", env=ENV).exit_code == 0
        assert _deployed(arena, "bob")["account1"]["server"] == "pbx.example.com"
    finally:
        subprocess.run(["umount", str(state)], check=False)

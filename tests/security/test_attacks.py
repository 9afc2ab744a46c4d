"""Attacks by a profile owner on the admin's plan/apply/verify/rollback, each tried for real.

Every test: the attacker (eve, an unprivileged user) prepares her own profile
folder, the admin runs a command as root, and the test checks that nothing outside
eve's folder changed (bytes, link targets, modes, owners), that the root-only
vault was neither read into any output nor changed, and that bob's seat -- the
bystander -- was still deployed.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from provisioner import ini
from tests.conftest import RunCli
from tests.security.conftest import ENV, ROOT, SECRET_TEXT, Arena

pytestmark = pytest.mark.skipif(not ROOT, reason="the attacks need root: run the suite as root (CI does)")
SECRET_WORDS = ("not-for-users", "eve-plaintext-pw", "bob-plaintext-pw")


def apply(run_cli: RunCli, *args: str) -> tuple[int, str]:
    result = run_cli("apply", "fleet.yaml", *args, env=ENV)
    return result.exit_code, result.output


def assert_contained(arena: Arena, before: dict[str, tuple[object, ...]], output: str) -> None:
    """Nothing outside eve's folder changed but bob's seat; no secret reached the terminal."""
    after = arena.snapshot(skip="eve")
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert all(k.startswith("users/bob/") for k in changed), sorted(changed)
    assert arena.secret.read_bytes() == SECRET_TEXT
    st = arena.secret.lstat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, 0)
    for word in SECRET_WORDS:
        assert word not in output
    assert not list(arena.outside.iterdir())


def bob_deployed(arena: Arena) -> None:
    data = arena.ini("bob").read_bytes()
    assert ini.parse(ini.decode(data)[0]).as_dict()["account1"]["username"] == "2002"


def test_ini_linked_to_a_root_file_is_refused(arena: Arena, run_cli: RunCli) -> None:
    arena.as_user(
        "eve",
        f"mkdir -p AppData/Roaming/MicroSIP && ln -s {arena.secret} AppData/Roaming/MicroSIP/microsip.ini",
    )
    before = arena.snapshot(skip="eve")
    code, output = apply(run_cli)
    assert code == 3
    assert f"failed     eve: {arena.ini('eve')}: is a link; refused (a link is never followed here)" in output
    assert_contained(arena, before, output)
    bob_deployed(arena)
    assert arena.ini("eve").is_symlink()  # left as the user made it


@pytest.mark.parametrize("where", ["AppData", "AppData/Roaming", "AppData/Roaming/MicroSIP"])
def test_folder_linked_outside_is_refused(arena: Arena, run_cli: RunCli, where: str) -> None:
    parent = str(Path(where).parent)
    arena.as_user("eve", f"mkdir -p {parent} && ln -s {arena.outside} {where}")
    before = arena.snapshot(skip="eve")
    code, output = apply(run_cli)
    assert code == 3
    assert f"failed     eve: {arena.profile('eve') / where}: is a link or not a folder; refused" in output
    assert_contained(arena, before, output)
    bob_deployed(arena)


def test_symlink_loop_fails_alone(arena: Arena, run_cli: RunCli) -> None:
    arena.as_user("eve", "ln -s AppData AppData")
    before = arena.snapshot(skip="eve")
    code, output = apply(run_cli)
    assert code == 3
    assert f"failed     eve: {arena.profile('eve') / 'AppData'}: is a link or not a folder; refused" in output
    assert "apply: 1 seat written, 0 unchanged, 0 in conflict, 1 failed (of 2)" in output
    assert_contained(arena, before, output)


def test_fifo_does_not_hang_and_is_refused(arena: Arena, run_cli: RunCli) -> None:
    arena.as_user("eve", "mkdir -p AppData/Roaming/MicroSIP && mkfifo AppData/Roaming/MicroSIP/microsip.ini")
    before = arena.snapshot(skip="eve")
    start = time.monotonic()
    for command in ("plan", "apply", "verify"):
        result = run_cli(command, "fleet.yaml", env=ENV)
        assert result.exit_code == 3, result.output
        assert f"{arena.ini('eve')}: is a FIFO, not a regular file; refused" in result.output
    assert time.monotonic() - start < 30
    assert_contained(arena, before, "")


def test_hard_link_is_refused(arena: Arena, run_cli: RunCli) -> None:
    arena.as_user(
        "eve",
        "mkdir -p AppData/Roaming/MicroSIP && echo x > mine && ln mine AppData/Roaming/MicroSIP/microsip.ini",
    )
    code, output = apply(run_cli)
    assert code == 3
    assert f"{arena.ini('eve')}: has 2 hard links; refused (it may be another file)" in output
    assert (arena.profile("eve") / "mine").read_text() == "x\n"


def test_huge_file_is_refused_before_it_is_read(arena: Arena, run_cli: RunCli) -> None:
    arena.as_user("eve", "mkdir -p AppData/Roaming/MicroSIP && truncate -s 2G AppData/Roaming/MicroSIP/microsip.ini")
    code, output = apply(run_cli)
    assert code == 3
    assert f"{arena.ini('eve')}: 2147483648 bytes, over the 33554432-byte limit; refused" in output
    bob_deployed(arena)


def test_created_files_belong_to_the_profile_owner_and_hide_passwords(arena: Arena, run_cli: RunCli) -> None:
    code, output = apply(run_cli)
    assert code == 0, output
    eve = arena.users["eve"]
    for path in (arena.profile("eve") / "AppData", arena.microsip("eve"), arena.ini("eve")):
        st = path.lstat()
        assert (st.st_uid, st.st_gid) == (eve.uid, eve.gid), path
    assert stat.S_IMODE(arena.ini("eve").stat().st_mode) == 0o600
    assert stat.S_IMODE(arena.microsip("eve").stat().st_mode) == 0o700
    # the state (backups hold passwords) is the admin's, out of every profile
    state = arena.admin / ".provisioner-state"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert not [p for p in arena.profiles.rglob("*") if "provisioner" in p.name]
    # MicroSIP, running as eve, can still write its own state next to the ini
    arena.as_user(
        "eve", "echo '[Calls]' >> AppData/Roaming/MicroSIP/microsip.ini && touch AppData/Roaming/MicroSIP/new"
    )


def test_replaced_file_keeps_owner_loses_special_and_group_bits(arena: Arena, run_cli: RunCli) -> None:
    arena.as_user(
        "eve",
        """\
        mkdir -p AppData/Roaming/MicroSIP
        printf '[Settings]\\r\\n' > AppData/Roaming/MicroSIP/microsip.ini
        chmod 6755 AppData/Roaming/MicroSIP/microsip.ini
        """,
    )
    code, output = apply(run_cli)
    assert code == 0, output
    st = arena.ini("eve").stat()
    assert st.st_uid == arena.users["eve"].uid
    assert stat.S_IMODE(st.st_mode) == 0o700  # owner bits kept, setuid/setgid and group/other gone
    for backup in (arena.admin / ".provisioner-state").rglob("*.bak"):
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600 and backup.stat().st_uid == 0


def test_temp_file_swapped_for_a_link_during_the_run(arena: Arena, run_cli: RunCli) -> None:
    """eve watches her folder with inotify and swaps each new temp file for a link to the vault."""
    arena.as_user("eve", "mkdir -p AppData/Roaming/MicroSIP")
    watcher = arena.spawn_as_user(
        "eve",
        f"""
        import ctypes, os, struct, sys, time
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init()
        folder = b"AppData/Roaming/MicroSIP"
        libc.inotify_add_watch(fd, folder, 0x100)  # IN_CREATE
        print("ready", flush=True)
        swapped = 0
        end = time.time() + 20
        while time.time() < end and swapped < 3:
            data = os.read(fd, 4096)
            offset = 0
            while offset < len(data):
                wd, mask, cookie, length = struct.unpack_from("iIII", data, offset)
                name = data[offset + 16 : offset + 16 + length].rstrip(b"\\0")
                offset += 16 + length
                if name.startswith(b".provisioner-tmp-"):
                    path = folder + b"/" + name
                    try:
                        os.unlink(path)
                        os.symlink({str(arena.secret)!r}, path)
                        swapped += 1
                    except OSError:
                        pass
        print("swapped", swapped, flush=True)
        """,
    )
    assert watcher.stdout is not None
    assert watcher.stdout.readline().strip() == "ready"
    before = arena.snapshot(skip="eve")
    for _ in range(3):
        result = run_cli("apply", "fleet.yaml", "--seat", "eve", "--force", env=ENV)
        assert "not-for-users" not in result.output
        Path("fleet.yaml").write_text(Path("fleet.yaml").read_text().replace("2001", "2001x"), encoding="utf-8")
    watcher.kill()
    out, _ = watcher.communicate(timeout=10)
    assert_contained(arena, before, "")
    assert arena.ini("eve").is_symlink(), f"the race was never won, so nothing was tested ({out!r})"
    # whatever eve swapped in is a link she made in her own folder; nothing was written through it
    for entry in arena.microsip("eve").iterdir():
        if entry.is_symlink():
            assert entry.lstat().st_uid == arena.users["eve"].uid


def test_folder_swapped_for_a_link_during_the_run(arena: Arena, run_cli: RunCli) -> None:
    """eve keeps swapping her MicroSIP folder with a link to a root folder while the admin applies."""
    arena.as_user("eve", "mkdir -p AppData/Roaming/MicroSIP")
    racer = arena.spawn_as_user(
        "eve",
        f"""
        import os, time
        base = "AppData/Roaming"
        end = time.time() + 8
        while time.time() < end:
            try:
                os.rename(base + "/MicroSIP", base + "/real")
                os.symlink({str(arena.outside)!r}, base + "/MicroSIP")
                os.unlink(base + "/MicroSIP")
                os.rename(base + "/real", base + "/MicroSIP")
            except OSError:
                pass
        """,
    )
    before = arena.snapshot(skip="eve")
    deadline = time.monotonic() + 6
    runs = 0
    while time.monotonic() < deadline:
        run_cli("apply", "fleet.yaml", "--seat", "eve", "--force", env=ENV)
        runs += 1
    racer.kill()
    racer.communicate(timeout=10)
    assert runs >= 3
    assert_contained(arena, before, "")


def test_forged_state_in_the_profile_is_ignored(arena: Arena, run_cli: RunCli) -> None:
    """Old versions kept manifests beside the ini; a forged one there must steer nothing."""
    code, _ = apply(run_cli)
    assert code == 0
    forged = {
        "manifest": 2,
        "fleet": "guests",
        "seat": "eve",
        "files": {
            "../../../../../../vault/shadow": {
                "kind": "owned",
                "changed": True,
                "existed": False,
                "sha256": None,
                "backup": None,
            }
        },
        "previous": None,
    }
    arena.as_user(
        "eve",
        f"""\
        mkdir -p AppData/Roaming/MicroSIP/.provisioner/backups
        cat > AppData/Roaming/MicroSIP/.provisioner/microsip.manifest.json <<'EOF'
        {json.dumps(forged)}
        EOF
        ln -s {arena.secret} AppData/Roaming/MicroSIP/.provisioner/lock
        """,
    )
    before = arena.snapshot(skip="eve")
    for command in (
        ["rollback", "fleet.yaml", "--seat", "eve"],
        ["apply", "fleet.yaml"],
        ["verify", "fleet.yaml"],
    ):
        result = run_cli(*command, env=ENV)
        assert result.exit_code in (0, 1), result.output
    assert_contained(arena, before, "")


def test_rollback_refuses_a_link_planted_after_apply(arena: Arena, run_cli: RunCli) -> None:
    code, _ = apply(run_cli)
    assert code == 0
    desktop = arena.profile("eve") / "Desktop" / "MicroSIP Office.lnk"
    assert desktop.is_file()
    arena.as_user(
        "eve",
        f"rm 'Desktop/MicroSIP Office.lnk' && ln -s {arena.secret} 'Desktop/MicroSIP Office.lnk' && "
        f"rm AppData/Roaming/MicroSIP/microsip.ini && ln -s {arena.secret} AppData/Roaming/MicroSIP/microsip.ini",
    )
    before = arena.snapshot(skip="eve")
    result = run_cli("rollback", "fleet.yaml", "--seat", "eve", "--seat", "bob")
    assert result.exit_code == 3
    assert "is a link; refused" in result.stderr
    assert "rollback: 2 files of seat bob rolled back" in result.stdout  # bob still rolled back
    assert_contained(arena, before, result.output)


def test_user_paths_cannot_leave_the_root(arena: Arena, run_cli: RunCli) -> None:
    text = Path("fleet.yaml").read_text().replace("  - id: bob\n", "  - id: bob\n    user: ../../vault\n")
    Path("fleet.yaml").write_text(text, encoding="utf-8")
    before = arena.snapshot()
    result = run_cli("apply", "fleet.yaml", env=ENV)
    assert result.exit_code == 2
    assert "seats[bob].user: '../../vault' is not a Windows user name" in result.stderr
    assert arena.snapshot() == before


def test_two_seats_on_one_file_are_bad_input(arena: Arena, run_cli: RunCli) -> None:
    text = Path("fleet.yaml").read_text().replace("  - id: bob\n", "  - id: bob\n    user: eve\n")
    Path("fleet.yaml").write_text(text, encoding="utf-8")
    result = run_cli("plan", "fleet.yaml", env=ENV)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"fleet.yaml:10:5: seats[bob]: {arena.ini('eve')} is also a file of seat eve (fleet.yaml:8:5); two seats "
        "cannot share a file: give each its own user, folder or launcher name",
        "1 error",
    ]
    for seat in ("bob", "eve"):  # --seat checks its seat against the whole fleet
        result = run_cli("apply", "fleet.yaml", "--seat", seat, env=ENV)
        assert result.exit_code == 2
        assert "two seats cannot share a file" in result.stderr
    assert not arena.ini("eve").exists()


def test_missing_profile_waits_and_is_never_created(arena: Arena, run_cli: RunCli) -> None:
    arena.profile("bob").rmdir()
    result = run_cli("apply", "fleet.yaml", env=ENV)
    assert result.exit_code == 0, result.output
    assert (
        f"waiting    bob: {arena.profile('bob')} does not exist: bob has not logged on yet (the profile folder "
        "is never created by this tool); run again after the first logon"
    ) in result.output
    assert not arena.profile("bob").exists()


def test_wine_registry_link_is_not_read(arena: Arena, run_cli: RunCli) -> None:
    prefix = arena.profile("eve") / "wine"
    arena.as_user("eve", f"mkdir -p wine/drive_c/users/eve && ln -s {arena.secret} wine/user.reg")
    Path("fleet.yaml").write_text(
        f"version: 1\nname: w\nseats:\n  - id: eve\n    target: {{type: wine, prefix: {prefix}}}\n"
        "    accounts: [{domain: d}]\n",
        encoding="utf-8",
    )
    before = arena.snapshot(skip="eve")
    result = run_cli("apply", "fleet.yaml")
    assert result.exit_code == 0, result.output
    assert f"{prefix / 'user.reg'}: is a link; refused" in result.stderr
    assert_contained(arena, before, result.output)


STATUS_FLEET = """\
version: 1
name: office
seats:
  - id: eve
    user: eve
    accounts: [{domain: example.com, username: "100"}]
  - id: bob
    user: bob
    accounts: [{domain: example.com, username: "101"}]
"""


def test_status_reads_nothing_a_user_plants_in_status(arena: Arena, run_cli: RunCli, tmp_path: Path) -> None:
    """Users may write status\\: a FIFO, links to /dev/zero and to a root-only file, escapes in a report."""
    import subprocess
    import sys

    (tmp_path / "fleet.yaml").write_text(STATUS_FLEET, encoding="utf-8")
    share = arena.world / "share"
    assert run_cli("publish", str(tmp_path / "fleet.yaml"), "--out", str(share)).exit_code == 0
    share.chmod(0o755)  # as acl.cmd leaves it: each user may write their own status\<user>\ alone
    eve = arena.users["eve"]
    os.chown(share / "status" / "eve", eve.uid, eve.gid)
    (share / "status").chmod(0o1777)  # carelessly: everyone may drop files into status\ itself
    report = "\ufeff[status]\r\nseat=eve\r\ngeneration=x\r\nresult=applied\r\nmessage=ok\x1b[2J\x1b]0;pwned\x07\r\n"
    forged = arena.world / "report.ini"
    forged.write_bytes(report.encode("utf-16-le"))
    forged.chmod(0o644)
    arena.as_user(
        "eve",
        f"""
        cd {share}/status/eve
        mkfifo 'eve@PC1.ini'
        ln -s /dev/zero 'eve@PC2.ini'
        ln -s {arena.secret} 'eve@PC3.ini'
        cp {forged} 'eve@PC4.ini'
        cp {forged} "$(printf 'eve@PC5\\nforged.ini')"
        cp {forged} 'bob@PC6.ini'
        cp {forged} ../'bob@PC7.ini'
        """,
    )

    def status(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "provisioner", "status", str(share), *extra],
            capture_output=True,
            text=True,
            timeout=60,  # a FIFO opened blocking would hang here
            check=False,
        )

    proc = status("--format", "json")
    assert proc.returncode == 1, proc.stderr  # no seat is applied
    assert "Traceback" not in proc.stderr and SECRET_TEXT.decode().strip() not in proc.stdout
    document = json.loads(proc.stdout)
    reports = {seat["seat"]: seat["reports"] for seat in document["seats"]}
    # the FIFO, /dev/zero and the root-only file are refused; the two regular files are read, made printable
    assert [r["computer"] for r in reports["eve"]] == ["PC4", "PC5?forged"]
    assert reports["eve"][0]["message"] == "ok?[2J?]0;pwned?"
    # eve cannot mark bob's seat applied: not from her own folder, not from status\ itself
    assert reports["bob"] == []
    assert document["warnings"] == [
        "status/bob@PC7.ini: not in its user's folder status/<user>/ (anyone may have written it); ignored",
        "status/eve/bob@PC6.ini: a report for another user; ignored",
    ]
    text = status()
    assert text.returncode == 1 and "\x1b" not in text.stdout
    assert not any(line.startswith("forged") for line in text.stdout.splitlines())

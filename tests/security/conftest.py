"""An arena for real attacks: unprivileged users owning their profile folders, an admin as root.

The admin's side (fleet, secrets, state folder) lives in the test's own folder,
which only root can enter. The users' side lives in a world-readable folder under
``/tmp`` whose ``users/`` folder holds one profile folder per user, owned by that
user. Attacks run *as the user* (a real setuid child process); the admin's
commands run as root through the CLI. Every test here needs root and says so
when skipped.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
pytestmark = pytest.mark.skipif(not ROOT, reason="the attacks need root: run the suite as root (CI does)")
#: The attacker's interpreter must be one an unprivileged user can run (not under /root).
USER_PYTHON = "/usr/bin/python3"
SECRET_TEXT = b"root:$6$not-for-users$:19000:0:99999:7:::\n"


@dataclass
class User:
    """A real unprivileged account."""

    name: str
    uid: int
    gid: int


def _make_user(name: str) -> User:
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    entry = pwd.getpwnam(name)
    return User(name, entry.pw_uid, entry.pw_gid)


@pytest.fixture(scope="session")
def users() -> Iterator[dict[str, User]]:
    """Two unprivileged users for the whole session: the attacker eve and a bystander, bob."""
    if not ROOT:
        pytest.skip("the attacks need root: run the suite as root (CI does)")
    if not Path(USER_PYTHON).exists():
        pytest.fail(f"{USER_PYTHON} is needed to run attacks as an unprivileged user")
    tag = secrets.token_hex(3)
    made = {"eve": _make_user(f"mspv-eve-{tag}"), "bob": _make_user(f"mspv-bob-{tag}")}
    try:
        yield made
    finally:
        for user in made.values():
            subprocess.run(["userdel", user.name], check=False, capture_output=True)


@dataclass
class Arena:
    """The admin's folder, the users' world, and helpers to act as a user."""

    admin: Path
    world: Path
    users: dict[str, User]

    @property
    def profiles(self) -> Path:
        return self.world / "users"

    def profile(self, who: str) -> Path:
        return self.profiles / who

    def microsip(self, who: str) -> Path:
        return self.profile(who) / "AppData" / "Roaming" / "MicroSIP"

    def ini(self, who: str) -> Path:
        return self.microsip(who) / "microsip.ini"

    @property
    def secret(self) -> Path:
        """A root-only file the attacker wants to read, change or delete."""
        return self.world / "vault" / "shadow"

    @property
    def outside(self) -> Path:
        """A root-owned folder the attacker wants the admin to write into."""
        return self.world / "outside"

    def as_user(self, who: str, script: str, *, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a shell script as the user (a real setuid child); fail the test if it fails."""
        user = self.users[who]
        result = subprocess.run(
            ["/bin/sh", "-ec", textwrap.dedent(script)],
            user=user.uid,
            group=user.gid,
            extra_groups=[],
            cwd=self.profile(who),
            env={"PATH": "/usr/bin:/bin", "HOME": str(self.profile(who))},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, f"the attack script failed: {result.stderr}"
        return result

    def spawn_as_user(self, who: str, code: str) -> subprocess.Popen[str]:
        """Start a Python program as the user in the background (for races during a run)."""
        user = self.users[who]
        return subprocess.Popen(
            [USER_PYTHON, "-c", textwrap.dedent(code)],
            user=user.uid,
            group=user.gid,
            extra_groups=[],
            cwd=self.profile(who),
            env={"PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def snapshot(self, *, skip: str | None = None) -> dict[str, tuple[object, ...]]:
        """Every entry of the world (bytes or link target, mode, owner), except below one profile."""
        out: dict[str, tuple[object, ...]] = {}
        skipped = self.profile(skip) if skip else None
        for folder, dirs, files in os.walk(self.world):
            here = Path(folder)
            if skipped is not None and (here == skipped or skipped in here.parents):
                dirs[:] = []
                continue
            for name in dirs + files:
                path = here / name
                st = path.lstat()
                if stat.S_ISLNK(st.st_mode):
                    content: object = ("link", str(path.readlink()))
                elif stat.S_ISREG(st.st_mode):
                    content = path.read_bytes()
                else:
                    content = stat.S_IFMT(st.st_mode)
                out[str(path.relative_to(self.world))] = (content, st.st_mode, st.st_uid, st.st_gid)
        return out


FLEET = """\
version: 1
name: guests
defaults:
  target: {{type: appdata, root: {profiles}}}
  account: {{server: pbx.example.com, domain: example.com}}
  launch: {{name: MicroSIP Office, shortcuts: [desktop]}}
seats:
  - id: eve
    accounts: [{{username: "2001", password: {{env: PW_EVE}}}}]
  - id: bob
    accounts: [{{username: "2002", password: {{env: PW_BOB}}}}]
"""
ENV = {"PW_EVE": "eve-plaintext-pw", "PW_BOB": "bob-plaintext-pw"}


@pytest.fixture
def arena(users: dict[str, User], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Arena]:
    """A fresh world per test: profile folders owned by their users, a root-only vault, a fleet."""
    world = Path(tempfile.mkdtemp(prefix="mspv-arena-", dir="/tmp"))
    try:
        world.chmod(0o755)
        (world / "users").mkdir(mode=0o755)
        for who, user in users.items():
            home = world / "users" / who
            home.mkdir(mode=0o700)
            os.chown(home, user.uid, user.gid)
        (world / "vault").mkdir(mode=0o700)
        (world / "vault" / "shadow").write_bytes(SECRET_TEXT)
        (world / "vault" / "shadow").chmod(0o600)
        (world / "outside").mkdir(mode=0o755)
        admin = tmp_path / "admin"
        admin.mkdir(mode=0o700)
        (admin / "fleet.yaml").write_text(FLEET.format(profiles=world / "users"), encoding="utf-8")
        monkeypatch.chdir(admin)
        yield Arena(admin, world, users)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(world)

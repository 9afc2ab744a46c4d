"""The filesystem layer apply, verify and rollback work through.

:class:`RealFS` reaches every file as a :class:`~provisioner.targetfs.targets.Spot` (a
trusted root and untrusted parts below it) through :mod:`provisioner.targetfs.safefs`, so
no link is followed below a target root. :class:`DryRunFS` walks the same code
path and records writes instead of doing them. :class:`Store` places the admin's
state -- manifests, backups, locks -- in a folder of the admin's, out of the
profile owners' reach.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from provisioner import admin_folders
from provisioner.admin_files import CAN_SYNCFS, PRIVATE_FILE, make_folders, syncfs
from provisioner.errors import DeployError
from provisioner.inputs.regular_files import read_regular
from provisioner.targetfs import reaching, safefs
from provisioner.targetfs.targets import Location, Spot

#: Files below a target root larger than this are refused before they are read. It is well
#: above the size at which an ini counts as unreadable (so such a file is still a conflict
#: that ``--force`` replaces, with a backup), and far below what would strain memory.
MAX_FILE_BYTES = 32 * 1024 * 1024
#: Mode of new files that hold no password (launchers).
SHARED_FILE = 0o644
MANIFEST_NAME = "manifest.json"
LOCK_NAME = "lock"
#: The state folder's key for the manifests' integrity check (64 hex digits, 0600).
KEY_NAME = "key"
#: What to do about a state folder that is not the admin's alone.
STATE_FIX = "move it away and let the tool create a new one, or name a folder of your own with --state"


#: Reads of a file MicroSIP may be saving, and the pause after each that disagrees (grown each time).
SETTLE_TRIES = 8
SETTLE_PAUSE = 0.02
#: The pause before an empty file is read again (a save in progress has written its bytes by then).
EMPTY_PAUSE = 0.1


def _same_read(a: tuple[bytes, os.stat_result] | None, b: tuple[bytes, os.stat_result] | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    fields = ("st_ino", "st_size", "st_mtime_ns")
    return a[0] == b[0] and all(getattr(a[1], f) == getattr(b[1], f) for f in fields)


class RealFS:
    """Reads and writes the real disk, never following a link below a root."""

    dry_run = False

    #: How many target roots stay open between seats (portable seats each have their own).
    ROOTS_KEPT = 32

    def __init__(self) -> None:
        self.log: list[str] = []
        self._open: dict[tuple[Path, tuple[str, ...]], tuple[safefs.Folder, safefs.Owner | None]] = {}
        self._roots: dict[Path, tuple[safefs.Folder, safefs.Owner]] = {}  # each with its owner
        self._missing: set[tuple[Path, tuple[str, ...]]] = set()
        self._dirty: dict[int, safefs.Folder] = {}  # folders written to since the last make_durable
        self._exposed: dict[Path, str | None] = {}  # folders of profile folders, and who else may write them

    def _root(self, root: Path) -> tuple[safefs.Folder, safefs.Owner]:
        """The target root and its owner, opened once and kept for the next seats (the admin's, trusted)."""
        found = self._roots.pop(root, None)
        if found is None:
            folder = reaching.open_root(root)
            found = folder, folder.owner()
            while len(self._roots) >= self.ROOTS_KEPT:
                self._roots.pop(next(iter(self._roots)))[0].close()
        self._roots[root] = found  # most recently used last
        return found

    def _folder(self, where: Location, *, create: bool) -> tuple[safefs.Folder, safefs.Owner | None] | None:
        """The folder, opened once per seat (see :meth:`release`): later steps use the same descriptor."""
        key = (where.root, where.parts)
        found = self._open.get(key)
        if found is None:
            known_missing = key in self._missing
            if known_missing and not create:
                return None  # looked for already this seat: a later write creates it
            if len(where.parts) > where.home and self._exposure(where) is not None:
                self._folder(Location(where.root, where.parts[: where.home], where.home), create=False)  # trusted?
            found = self._walk(where, create, quick=not known_missing)
            if found is not None:
                self._trust(where, found[1])
                self._open[key] = found
                self._missing.discard(key)
            else:
                self._missing.add(key)
        return found

    def _exposure(self, where: Location) -> str | None:
        """Who else may write the folder holding ``where``'s profile folder (None: nobody, or no profile)."""
        holder = where.profiles
        if holder is None:
            return None
        if holder not in self._exposed:
            self._exposed[holder] = admin_folders.writable_by_others(holder)
        return self._exposed[holder]

    def _trust(self, where: Location, owner: safefs.Owner | None) -> None:
        """DeployError when a profile folder lies in a folder others may write and its owner is not named like it.

        There, anyone could have made the folder before the user's first deploy and would
        receive the files (and the password) given to its owner.
        """
        who = self._exposure(where)
        if who is None or owner is None or owner.uid == 0:
            return
        name = admin_folders.user_name(owner.uid)
        if name.lower() == where.parts[where.home - 1].lower():
            return
        home = where.root.joinpath(*where.parts[: where.home])
        raise DeployError(
            f"{home}: {home.parent} is writable by {who}, so whoever made this folder may not be its user, and "
            f"it belongs to {name}; refused: chmod go-w {home.parent}",
            path=str(home),
        )

    def _walk(
        self, where: Location, create: bool, *, quick: bool = True
    ) -> tuple[safefs.Folder, safefs.Owner | None] | None:
        """Open ``where`` from the nearest folder this seat already opened (or from its root).

        Not ``quick``: this seat found it missing already, so it is walked (and created) at once.
        """
        for cut in range(len(where.parts) - 1, max(where.home, 1) - 1, -1):
            above = self._open.get((where.root, where.parts[:cut]))
            if above is not None:  # at or below the home folder: its owner is known
                return reaching.open_below(
                    above[0].path, where.parts[cut:], home=0, create=create, base=above[0], owner=above[1], quick=quick
                )
        base, owner = self._root(where.root)
        return reaching.open_below(
            where.root,
            where.parts,
            home=where.home,
            create=create,
            base=base,
            owner=owner if where.home == 0 else None,
            quick=quick,
        )

    def release(self) -> None:
        """Close the folders the seats since the last call opened (the roots stay open).

        Staged files must be committed (and made durable) or discarded before.
        """
        self._dirty.clear()
        for folder, _ in self._open.values():
            folder.close()
        self._open.clear()
        self._missing.clear()

    def close(self) -> None:
        """Close everything, roots included."""
        self.release()
        for folder, _ in self._roots.values():
            folder.close()
        self._roots.clear()

    def read_stat(self, spot: Spot, limit: int = MAX_FILE_BYTES) -> tuple[bytes, os.stat_result] | None:
        """The file's bytes and status, or None when it (or its folder) does not exist."""
        opened = self._folder(spot.where, create=False)
        if opened is None:
            return None
        return opened[0].read(spot.name, limit)

    def read_settled(self, spot: Spot, limit: int = MAX_FILE_BYTES) -> tuple[bytes, os.stat_result] | None:
        """Like :meth:`read_stat`, read until two reads in a row agree (bytes, size, mtime, inode).

        MicroSIP saves its ini in place (truncated, then written), so one read may catch
        it empty or half-written. An empty file is read again only after a pause, by when a
        save in progress has written its bytes. DeployError when the file keeps changing.
        """
        first = self.read_stat(spot, limit)
        for attempt in range(SETTLE_TRIES):
            if first is not None and not first[0]:
                time.sleep(EMPTY_PAUSE)
            second = self.read_stat(spot, limit)
            if _same_read(first, second):
                return second
            first = second
            time.sleep(SETTLE_PAUSE * attempt)
        raise DeployError(
            f"{spot.path}: kept changing while it was read (MicroSIP or someone is writing it); run apply again",
            path=str(spot.path),
        )

    def read(self, spot: Spot, limit: int = MAX_FILE_BYTES) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        found = self.read_stat(spot, limit)
        return found[0] if found is not None else None

    def listdir(self, where: Location) -> list[str]:
        """Names in a folder (empty when it, or the state folder above it, does not exist)."""
        try:
            opened = self._folder(where, create=False)
        except safefs.MissingFolder:
            return []
        return opened[0].names() if opened is not None else []

    def write(
        self,
        spot: Spot,
        data: bytes,
        *,
        private: bool,
        like: os.stat_result | None = None,
        sync_folder: bool = True,
    ) -> None:
        """Replace a file atomically.

        A replaced file (``like``: its status before) keeps its owner and mode, minus
        setuid/setgid/sticky, and minus every group and other bit when ``private``
        (it holds a password). A new file belongs to the owner of the profile folder
        (when we run as root), 0600 when ``private``, else 0644.
        """
        self.log.append(f"write {spot.path} ({len(data)} bytes)")
        folder, mode, owner = self._destination(spot, private, like)
        folder.write(spot.name, data, mode=mode, owner=owner)
        if sync_folder:
            folder.sync()

    def _destination(
        self, spot: Spot, private: bool, like: os.stat_result | None
    ) -> tuple[safefs.Folder, int, safefs.Owner | None]:
        opened = self._folder(spot.where, create=True)
        assert opened is not None  # created
        folder, owner = opened
        if like is not None:
            mode = like.st_mode & 0o777
            owner = safefs.Owner(like.st_uid, like.st_gid)
        else:
            mode = PRIVATE_FILE if private else SHARED_FILE
        if private:
            mode &= 0o700
        return folder, mode, owner

    # -- batched writes: stage many files, make them durable together, then rename --

    def stage(self, spot: Spot, data: bytes, *, private: bool, like: os.stat_result | None = None) -> Staged:
        """Write the new bytes beside ``spot`` under a temporary name (see :meth:`write` for modes).

        Nothing is replaced until :meth:`commit`, and a staged file is durable only after
        :meth:`make_durable` (where the platform can sync a whole file system at once;
        elsewhere each staged file is fsynced here).
        """
        self.log.append(f"write {spot.path} ({len(data)} bytes)")
        folder, mode, owner = self._destination(spot, private, like)
        temp = folder.stage(spot.name, data, mode=mode, owner=owner, durable=not CAN_SYNCFS)
        self._dirty[folder.fd] = folder
        return Staged(spot, folder, temp)

    def commit(self, staged: Staged, *, unchanged_since: safefs.Unchanged | None = None) -> None:
        """Rename a staged file into place (durable after the next :meth:`make_durable`)."""
        staged.folder.commit(staged.temp, staged.spot.name, unchanged_since=unchanged_since)
        self._dirty[staged.folder.fd] = staged.folder

    def discard(self, staged: Staged) -> None:
        """Remove a staged file that will not be committed."""
        staged.folder.discard(staged.temp)

    def make_durable(self) -> None:
        """Make every file staged and every rename done since the last call durable.

        One ``syncfs`` per file system on Linux; elsewhere staged files were fsynced
        when written and each folder that saw a rename is fsynced here.
        """
        folders, self._dirty = self._dirty, {}
        if CAN_SYNCFS:
            devices: dict[int, int] = {}
            for fd in folders:
                devices.setdefault(os.fstat(fd).st_dev, fd)
            for fd in devices.values():
                syncfs(fd)
        else:
            for folder in folders.values():
                folder.sync()

    @contextlib.contextmanager
    def batch(self) -> Iterator[Callable[[], None]]:
        """Seats written together: yields their durable point (:meth:`make_durable`).

        The folders the seats opened stay open until the batch ends, then are released.
        """
        try:
            yield self.make_durable
        finally:
            self.release()

    def remove(self, spot: Spot) -> None:
        """Delete a file (missing is fine; a link is removed itself, never followed)."""
        self.log.append(f"remove {spot.path}")
        opened = self._folder(spot.where, create=False)
        if opened is not None:
            opened[0].unlink(spot.name)

    def clean_temps(self, where: Location) -> None:
        """Remove temp files an interrupted run left in a folder (we hold its lock).

        A folder this run has just created holds none: it is not even listed.
        """
        opened = self._folder(where, create=False)
        if opened is not None and not opened[0].fresh:
            opened[0].clean_temps()

    @contextlib.contextmanager
    def lock(self, where: Location, what: str) -> Iterator[None]:
        """Hold the lock of a seat's state folder; fail at once when another run holds it."""
        opened = self._folder(where, create=True)
        assert opened is not None
        with opened[0].locked(LOCK_NAME, what):
            yield

    @contextlib.contextmanager
    def lock_target(self, where: Location, what: str) -> Iterator[None]:
        """Hold a lock on the target itself: its profile folder (or, for a portable copy, its root).

        Two runs with different state folders take different state locks; this one they share.
        A folder not there yet cannot be locked (the write will say it is missing).
        """
        mine = Location(where.root, where.parts[: where.home], where.home)
        try:
            opened = self._folder(mine, create=False)
        except safefs.MissingFolder:
            opened = None
        if opened is None:
            yield
            return
        with opened[0].held(what):
            yield


@dataclass
class Staged:
    """A file written beside its place under a temporary name, waiting for its rename."""

    spot: Spot
    folder: safefs.Folder
    temp: str


class DryRunFS(RealFS):
    """Walks the same code path as :class:`RealFS` but records writes instead of doing them."""

    dry_run = True

    def write(
        self,
        spot: Spot,
        data: bytes,
        *,
        private: bool,
        like: os.stat_result | None = None,
        sync_folder: bool = True,
    ) -> None:
        """Record the write."""
        self.log.append(f"would write {spot.path} ({len(data)} bytes)")

    def stage(self, spot: Spot, data: bytes, *, private: bool, like: os.stat_result | None = None) -> Staged:
        """Record the write; nothing is staged."""
        self.log.append(f"would write {spot.path} ({len(data)} bytes)")
        return Staged(spot, _NO_FOLDER, "")

    def commit(self, staged: Staged, *, unchanged_since: safefs.Unchanged | None = None) -> None:
        """Nothing was staged."""

    def discard(self, staged: Staged) -> None:
        """Nothing was staged."""

    def make_durable(self) -> None:
        """Nothing was written."""

    def remove(self, spot: Spot) -> None:
        """Record the removal."""
        self.log.append(f"would remove {spot.path}")

    def clean_temps(self, where: Location) -> None:
        """Nothing to clean in a dry run."""

    @contextlib.contextmanager
    def lock(self, where: Location, what: str) -> Iterator[None]:
        """A dry run takes no lock (it writes nothing)."""
        yield

    @contextlib.contextmanager
    def lock_target(self, where: Location, what: str) -> Iterator[None]:
        """A dry run takes no lock."""
        yield


_NO_FOLDER = safefs.Folder(-1, Path())  # a dry run stages nothing


class Store:
    """The admin's state folder: one sub-folder per seat target with its manifest, backups, lock.

    A target's folder is named after the seat and a hash of the ini's path (relative
    to the state folder's parent when it lies below it, so a fleet moved together
    with its targets keeps its state; absolute otherwise). The same fleet applied to
    two trees (``--root``) keeps two states, and every path is computed from the
    fleet, never read from the state.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._base = os.path.abspath(root.parent)
        self._exists = False
        self._key: bytes | None = None

    def check(self) -> None:
        """DeployError unless the state folder, and every folder on the way to it, is the admin's alone."""
        problem = admin_folders.not_private(self.root)
        if problem is not None:
            raise DeployError(
                f"the state folder {self.root} is not yours alone: {problem}; its backups hold passwords "
                f"and its manifests say what may be rolled back, so it is not used; {STATE_FIX}",
                path=str(self.root),
            )
        self.key()  # a key others could read or replace is refused as well

    def exists(self) -> bool:
        """Whether the state folder exists (nothing was ever recorded when it does not); once it does, it stays."""
        self._exists = self._exists or self.root.is_dir()
        return self._exists

    def ensure(self) -> None:
        """Create the state folder (0700) and its key when missing; check it is still the admin's alone."""
        make_folders(self.root)
        self.check()  # again: someone may have made it between the first check and this one
        self._exists = True
        if not self.key():
            self._key = self._make_key()

    def key(self) -> bytes:
        """The state folder's key (empty when it has none yet: nothing sealed there can be trusted)."""
        if self._key is None:
            self._key = self._read_key()
        return self._key

    def _read_key(self) -> bytes:
        path = self.root / KEY_NAME
        try:
            data, st = read_regular(path, 256)
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise DeployError(f"{path}: the state folder's key cannot be read ({exc.strerror or exc})") from None
        if hasattr(os, "geteuid") and (st.st_uid not in (os.geteuid(), 0) or st.st_mode & 0o077):
            raise DeployError(
                f"{path}: the state folder's key is not yours alone (mode {stat.S_IMODE(st.st_mode):04o}); {STATE_FIX}"
            )
        return data.strip()

    def _make_key(self) -> bytes:
        path = self.root / KEY_NAME
        key = secrets.token_hex(32).encode("ascii")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            return self._read_key()  # another apply made it just now
        except OSError as exc:
            raise DeployError(f"{path}: cannot create the state folder's key ({exc.strerror or exc})") from None
        try:
            os.write(fd, key + b"\n")
            os.fsync(fd)
        except OSError as exc:
            os.unlink(path)
            raise DeployError(f"{path}: cannot write the state folder's key ({exc.strerror or exc})") from None
        finally:
            os.close(fd)
        return key

    def seat(self, seat_id: str, ini_path: str | os.PathLike[str]) -> Location:
        """The state folder of one seat target: named after the ini's path, relative to the folder
        the state folder is in when the ini is below it (so that the pair can move together)."""
        where = os.path.abspath(ini_path)
        inside = self._base if self._base.endswith(os.sep) else self._base + os.sep
        relative = where[len(inside) :] if where.startswith(inside) else os.path.relpath(where, self._base)
        if not relative.startswith(".."):
            where = relative
        digest = hashlib.sha256(where.replace("\\", "/").encode("utf-8", "surrogateescape")).hexdigest()
        return self.targets.below(f"{seat_id}-{digest[:16]}")

    @property
    def targets(self) -> Location:
        """The folder that holds one state folder per seat target."""
        return Location(self.root, ("targets",))

    @staticmethod
    def seat_of(name: str) -> str:
        """The seat id a state folder in :attr:`targets` is named after (:meth:`seat`)."""
        return name.rpartition("-")[0]

    @staticmethod
    def manifest(state: Location) -> Spot:
        """The manifest in a seat's state folder."""
        return Spot(state, MANIFEST_NAME)

    @staticmethod
    def backups(state: Location) -> Location:
        """The backups folder in a seat's state folder."""
        return state.below("backups")

"""Files below a target root, reached without ever following a link.

Every folder below a target root belongs to someone else (a profile owner) and
may change while we run. This module is the only way the tool touches such
folders:

* the **root** itself is the admin's path; a link on the way to it is followed only
  when it is trusted (owned by root or by us, in a folder owned by root or by us);
  :mod:`provisioner.targetfs.reaching` opens it, and the folders below it;
* below the root, each folder is opened relative to its parent's descriptor with
  ``O_DIRECTORY | O_NOFOLLOW`` (:meth:`Folder.child`), so a link planted there -- or
  swapped in while we run -- is refused, never followed;
* files are opened with ``O_NOFOLLOW | O_NONBLOCK`` and refused unless ``fstat``
  calls them regular files with one link; reading stops at a size limit before
  it allocates;
* new files are created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` under a random
  name, filled, given their owner and mode *on the descriptor*, fsynced and
  renamed into place relative to the folder's descriptor.

Windows has no ``dir_fd``: there each component is checked for reparse points
(symlinks, junctions) just before use, which narrows the race but cannot close
it (docs/security.md says so).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from provisioner.errors import DeployError, quoted

TEMP_PREFIX = ".provisioner-tmp-"
WINDOWS = sys.platform == "win32"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_REPARSE = getattr(stat, "FILE_ATTRIBUTE_REPARSE_POINT", 0x400)
#: How often, and how long apart, a rename refused by a lock is tried again (Windows
#: refuses to replace a file another process, such as MicroSIP, holds open).
REPLACE_TRIES = 5
REPLACE_PAUSE = 0.2
#: Bits never written: setuid, setgid, sticky.
SPECIAL_BITS = 0o7000


class UnsafeError(DeployError):
    """Something below a target root that the tool refuses to touch (a link, a FIFO, ...)."""


class MissingFolder(DeployError):
    """A folder that must exist and is never created: a target root, or a user's profile folder."""

    def __init__(self, path: Path, *, home: bool) -> None:
        super().__init__(f"{path}: does not exist", path=str(path))
        self.home = home  # a profile folder (its user has not logged on yet), not the root


@dataclass(frozen=True)
class Owner:
    """Who new files and folders should belong to (applied only when we run as root)."""

    uid: int
    gid: int


def running_as_root() -> bool:
    """Whether we may give files away (POSIX root)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def check_name(name: str) -> None:
    """A single path component: no separators, no dot names, no NUL."""
    if name in ("", ".", "..") or "/" in name or "\x00" in name or (WINDOWS and "\\" in name):
        raise UnsafeError(f"{quoted(name)}: not a plain file or folder name")


class Folder:
    """An open folder below a target root: every operation is relative to it, links refused."""

    __slots__ = ("_name", "_parent", "_path", "fd", "fresh")

    def __init__(
        self, fd: int, path: Path | None, *, parent: Folder | None = None, name: str = "", fresh: bool = False
    ) -> None:
        self.fd = fd
        self._path = path
        self._parent = parent  # the path is ``parent.path / name``, worked out when first asked for
        self._name = name
        self.fresh = fresh  # this process has just created it (nothing of an earlier run is inside)

    @property
    def path(self) -> Path:
        """Where this folder is (for messages: every operation goes through the descriptor)."""
        if self._path is None:
            assert self._parent is not None
            self._path = self._parent.path / self._name
            self._parent = None
        return self._path

    @path.setter
    def path(self, value: Path) -> None:
        self._path, self._parent = value, None

    # -- lifetime --

    def close(self) -> None:
        """Release the descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def owner(self) -> Owner:
        """This folder's owner."""
        st = os.fstat(self.fd) if not WINDOWS else os.stat(self.path)
        return Owner(st.st_uid, st.st_gid)

    # -- folders --

    def child(self, name: str, *, create: bool = False, owner: Owner | None = None) -> Folder | None:
        """Open the sub-folder ``name`` (None when missing and not ``create``); a link is refused."""
        check_name(name)
        if WINDOWS:  # pragma: no cover - exercised on Windows only
            if create:
                with contextlib.suppress(FileExistsError):
                    _make_folder(self.path / name, name, None)
            return _windows_child(self.path / name)
        created = False
        # most folders exist: open first, create only when missing (in a folder just made, at once)
        fd = None if create and self.fresh else self._open_folder(name)
        if fd is None and create:
            created = _make_folder(self.path / name, name, self.fd)
            fd = self._open_folder(name)
        if fd is None:
            return None
        if not created:
            return Folder(fd, None, parent=self, name=name)
        path = self.path / name
        try:
            if owner is not None and running_as_root():
                os.fchown(fd, owner.uid, owner.gid)
            os.fchmod(fd, 0o700)
        except OSError as exc:
            os.close(fd)
            raise DeployError(f"{path}: cannot set the new folder's owner: {reason(exc)}", path=str(path)) from None
        return Folder(fd, path, fresh=True)

    def _open_folder(self, name: str) -> int | None:
        """A descriptor on the sub-folder ``name`` (None when missing); a link is refused."""
        try:
            return os.open(name, os.O_RDONLY | DIRECTORY | _NOFOLLOW | CLOEXEC, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise UnsafeError(f"{self.path / name}: is a link or not a folder; refused") from None
            raise DeployError(
                f"{self.path / name}: cannot open the folder: {reason(exc)}", path=str(self.path / name)
            ) from None

    def names(self) -> list[str]:
        """The names in this folder, sorted."""
        try:
            return sorted(os.listdir(self.fd if not WINDOWS else self.path))
        except OSError as exc:
            raise DeployError(f"{self.path}: cannot list: {reason(exc)}", path=str(self.path)) from None

    # -- files --

    def _open_at(self, name: str, flags: int, mode: int = 0o600) -> int:
        """``os.open`` of ``name`` in this folder (relative to its descriptor on POSIX)."""
        if WINDOWS:  # pragma: no cover - exercised on Windows only
            return os.open(self.path / name, flags, mode)
        return os.open(name, flags, mode, dir_fd=self.fd)

    def lstat(self, name: str) -> os.stat_result | None:
        """The entry's own status (a link is not followed), or None when missing."""
        check_name(name)
        try:
            if WINDOWS:  # pragma: no cover
                return os.lstat(self.path / name)
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DeployError(
                f"{self.path / name}: cannot be checked: {reason(exc)}", path=str(self.path / name)
            ) from None

    def read(self, name: str, limit: int) -> tuple[bytes, os.stat_result] | None:
        """The file's bytes and status, or None when it does not exist.

        Refuses a link, anything that is not a regular file (checked on the open
        descriptor before a byte is read), a file with other hard links, and a
        file larger than ``limit`` bytes.
        """
        check_name(name)
        if WINDOWS:  # pragma: no cover - exercised on Windows only
            st0 = self.lstat(name)
            if st0 is None:
                return None
            if getattr(st0, "st_file_attributes", 0) & _REPARSE:
                raise UnsafeError(f"{self.path / name}: is a link (reparse point); refused")
        fd = self._open_to_read(name)
        if fd is None:
            return None
        try:
            return _read_whole(fd, self.path / name, limit)
        except OSError as exc:
            raise DeployError(f"{self.path / name}: cannot read: {reason(exc)}", path=str(self.path / name)) from None
        finally:
            os.close(fd)

    def _open_to_read(self, name: str) -> int | None:
        """A descriptor on ``name`` opened without following a link or waiting on a FIFO; None if missing."""
        flags = os.O_RDONLY | _NOFOLLOW | _NONBLOCK | CLOEXEC | _BINARY
        try:
            return self._open_at(name, flags)
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise UnsafeError(f"{self.path / name}: is a folder, not a file; refused") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeError(f"{self.path / name}: is a link; refused (a link is never followed here)") from None
            raise DeployError(f"{self.path / name}: cannot read: {reason(exc)}", path=str(self.path / name)) from None

    def write(
        self,
        name: str,
        data: bytes,
        *,
        mode: int,
        owner: Owner | None = None,
        durable: bool = True,
    ) -> None:
        """Replace ``name`` with ``data`` atomically: a new file under a random name, then a rename.

        ``mode`` loses its setuid, setgid and sticky bits; ``owner`` is applied on the
        descriptor when we run as root. ``durable`` fsyncs the data before the rename.
        """
        temp = self.stage(name, data, mode=mode, owner=owner, durable=durable)
        self.commit(temp, name)

    def stage(self, name: str, data: bytes, *, mode: int, owner: Owner | None = None, durable: bool = True) -> str:
        """Write ``data`` to a new file under a random name here, for :meth:`commit` to rename; return that name.

        Staging many files and making them durable together (``durable=False``, then one
        ``syncfs``) keeps "old or new, never torn" at a fraction of one fsync per file.
        """
        check_name(name)
        temp = TEMP_PREFIX + secrets.token_hex(8)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | CLOEXEC | _BINARY
        try:
            fd = self._open_at(temp, flags)
        except OSError as exc:
            raise DeployError(f"{self.path}: cannot write here: {reason(exc)}", path=str(self.path)) from None
        with self._discarding(temp, name):
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if owner is not None and running_as_root():
                    os.fchown(fd, owner.uid, owner.gid)
                if not WINDOWS:
                    os.fchmod(fd, mode & 0o777 & ~SPECIAL_BITS)
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
        return temp

    def commit(self, temp: str, name: str, *, unchanged_since: Unchanged | None = None) -> None:
        """Rename the staged ``temp`` over ``name``; on failure the staged file is removed.

        With ``unchanged_since``, ``name`` must still be the file it was when it was read
        (same identity, size and time, or still missing); otherwise DeployError and nothing
        is replaced.
        """
        with self._discarding(temp, name):
            if unchanged_since is not None and not unchanged_since.holds(self.lstat(name)):
                raise DeployError(
                    f"{self.path / name}: changed on disk while applying (someone or MicroSIP wrote it); "
                    "run apply again",
                    path=str(self.path / name),
                )
            self._rename(temp, name)

    @contextlib.contextmanager
    def _discarding(self, temp: str, name: str) -> Iterator[None]:
        """Remove the staged ``temp`` when what follows fails; an OSError becomes a DeployError naming ``name``."""
        try:
            yield
        except OSError as exc:
            self.discard(temp)
            raise DeployError(f"{self.path / name}: write failed: {reason(exc)}", path=str(self.path / name)) from None
        except BaseException:
            self.discard(temp)
            raise

    def _rename(self, temp: str, name: str) -> None:
        for attempt in range(REPLACE_TRIES):
            try:
                if WINDOWS:  # pragma: no cover - exercised on Windows only
                    if getattr(self.lstat(name), "st_file_attributes", 0) & _REPARSE:
                        raise UnsafeError(f"{self.path / name}: is a link (reparse point); refused")
                    os.replace(self.path / temp, self.path / name)
                else:
                    os.rename(temp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
                return
            except PermissionError:
                if attempt == REPLACE_TRIES - 1:
                    raise PermissionError(
                        errno.EACCES,
                        "the file is locked by another program (close MicroSIP with `microsip.exe /exit` "
                        "and try again)",
                    ) from None
                time.sleep(REPLACE_PAUSE)

    def discard(self, temp: str) -> None:
        """Remove a staged file that will not be committed."""
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=self.fd) if not WINDOWS else os.unlink(self.path / temp)

    def sync(self) -> None:
        """Make renames in this folder durable (POSIX)."""
        if not WINDOWS:
            with contextlib.suppress(OSError):
                os.fsync(self.fd)

    def unlink(self, name: str) -> None:
        """Remove the entry ``name`` itself (a link is removed, not followed); missing is fine."""
        check_name(name)
        try:
            os.unlink(name, dir_fd=self.fd) if not WINDOWS else os.unlink(self.path / name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise DeployError(f"{self.path / name}: cannot remove: {reason(exc)}", path=str(self.path / name)) from None

    def clean_temps(self) -> None:
        """Remove temp files an interrupted run left here (the caller holds the lock)."""
        for name in self.names():
            if name.startswith(TEMP_PREFIX):
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=self.fd) if not WINDOWS else os.unlink(self.path / name)

    @contextlib.contextmanager
    def held(self, what: str) -> Iterator[None]:
        """Hold an exclusive lock on this folder itself (POSIX); fail at once when another process holds it."""
        if WINDOWS:  # pragma: no cover - a folder cannot be locked there; the state folder's lock stands alone
            yield
            return
        import fcntl

        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DeployError(
                f"{what}: another apply or rollback is deploying to {self.path} (perhaps with another state "
                "folder); try again when it has finished"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def locked(self, name: str, what: str) -> Iterator[None]:
        """Hold an exclusive lock on the file ``name`` here; fail at once when it is held."""
        check_name(name)
        flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW | CLOEXEC
        try:
            fd = self._open_at(name, flags)
        except OSError as exc:
            raise DeployError(
                f"{self.path / name}: cannot create the lock: {reason(exc)}", path=str(self.path / name)
            ) from None
        try:
            try:
                _lock_fd(fd)
            except OSError:
                raise DeployError(
                    f"{what}: another apply or rollback is running on this target (its lock is held); "
                    "try again when it has finished"
                ) from None
            yield
        finally:
            os.close(fd)


@dataclass(frozen=True)
class Unchanged:
    """What a file was when it was read (None: it did not exist), to see that it has not changed since."""

    seen: os.stat_result | None

    def holds(self, now: os.stat_result | None) -> bool:
        """Whether ``now`` (an ``lstat``) is still the file that was seen."""
        if self.seen is None or now is None:
            return self.seen is None and now is None
        fields = ("st_ino", "st_dev", "st_size", "st_mtime_ns", "st_ctime_ns")
        return all(getattr(self.seen, f) == getattr(now, f) for f in fields)


def _make_folder(path: Path, name: str, dir_fd: int | None) -> bool:
    """Create a folder (0700); False when something of that name appeared meanwhile."""
    try:
        os.mkdir(name, 0o700, dir_fd=dir_fd) if dir_fd is not None else os.mkdir(path, 0o700)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        raise DeployError(f"{path}: cannot create the folder: {reason(exc)}", path=str(path)) from None


def _lock_fd(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _read_whole(fd: int, path: Path, limit: int) -> tuple[bytes, os.stat_result]:
    """All of the open file's bytes and its status: a regular file with one link, at most ``limit`` bytes."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeError(f"{path}: is {_kind(st.st_mode)}, not a regular file; refused")
    if st.st_nlink > 1 and not WINDOWS:
        raise UnsafeError(f"{path}: has {st.st_nlink} hard links; refused (it may be another file)")
    if st.st_size > limit:
        raise UnsafeError(f"{path}: {st.st_size} bytes, over the {limit}-byte limit; refused")
    chunks = []
    left = limit + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    data = b"".join(chunks)
    if len(data) > limit:
        raise UnsafeError(f"{path}: grew over the {limit}-byte limit while read; refused")
    return data, st


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def _windows_child(path: Path) -> Folder | None:  # pragma: no cover - exercised on Windows only
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if getattr(st, "st_file_attributes", 0) & _REPARSE:
        raise UnsafeError(f"{path}: is a link or junction (reparse point); refused")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeError(f"{path}: is not a folder; refused")
    return Folder(-1, path)

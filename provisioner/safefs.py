"""Files below a target root, reached without ever following a link.

Every folder below a target root belongs to someone else (a profile owner) and
may change while we run. This module is the only way the tool touches such
folders:

* the **root** itself is the admin's path; a link on the way to it is followed only
  when it is trusted (owned by root or by us, in a folder owned by root or by us);
* below the root, each folder is opened relative to its parent's descriptor with
  ``O_DIRECTORY | O_NOFOLLOW``, so a link planted there -- or swapped in while we
  run -- is refused, never followed;
* files are opened with ``O_NOFOLLOW | O_NONBLOCK`` and refused unless ``fstat``
  calls them regular files with one link; reading stops at a size limit before
  it allocates;
* new files are created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` under a random
  name, filled, given their owner and mode *on the descriptor*, fsynced and
  renamed into place relative to the folder's descriptor.

Windows has no ``dir_fd``: there each component is checked for reparse points
(symlinks, junctions) just before use, which narrows the race but cannot close
it (the README says so).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import secrets
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.errors import DeployError, quoted

TEMP_PREFIX = ".provisioner-tmp-"
WINDOWS = sys.platform == "win32"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_REPARSE = getattr(stat, "FILE_ATTRIBUTE_REPARSE_POINT", 0x400)
#: How many trusted links resolving a root may pass through.
MAX_LINKS = 40
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


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _admin_owned(st: os.stat_result) -> bool:
    return st.st_uid in (0, os.geteuid()) if hasattr(os, "geteuid") else True


def check_name(name: str) -> None:
    """A single path component: no separators, no dot names, no NUL."""
    if name in ("", ".", "..") or "/" in name or "\x00" in name or (WINDOWS and "\\" in name):
        raise UnsafeError(f"{quoted(name)}: not a plain file or folder name")


_TRUSTED: dict[str, Path] = {}


def trusted_root(path: Path) -> Path:
    """:func:`_trusted_root`, remembered for the run (a later swap is still refused by the walk)."""
    key = os.path.abspath(path)
    found = _TRUSTED.get(key)
    if found is None:
        found = _TRUSTED[key] = _trusted_root(path)
    return found


def _trusted_root(path: Path) -> Path:
    """The admin's ``path`` with every link resolved, where each link is trusted.

    A link is trusted when it and the folder holding it belong to root or to us:
    a profile owner cannot plant one. The result names no link at all, so walking
    it with ``O_NOFOLLOW`` later refuses anything swapped in meanwhile.
    """
    if WINDOWS:  # pragma: no cover - exercised on Windows only
        return Path(os.path.realpath(path))
    pending = list(Path(os.path.abspath(path)).parts[1:])
    current = Path("/")
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            current = current.parent
            continue
        candidate = current / part
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            return candidate.joinpath(*pending)  # the rest does not exist yet: nothing to follow
        except OSError as exc:
            raise UnsafeError(f"{candidate}: cannot be checked: {_why(exc)}") from None
        if not stat.S_ISLNK(st.st_mode):
            current = candidate
            continue
        hops += 1
        if hops > MAX_LINKS:
            raise UnsafeError(f"{path}: too many links on the way")
        if not (_admin_owned(st) and _admin_owned(os.lstat(current))):
            raise UnsafeError(
                f"{candidate}: is a link that another user could have planted; give the target's real path in the fleet"
            )
        target = os.readlink(candidate)
        if target.startswith("/"):
            current = Path("/")
        pending[:0] = list(Path(target).parts[1:] if target.startswith("/") else Path(target).parts)
    return current


class Folder:
    """An open folder below a target root: every operation is relative to it, links refused."""

    __slots__ = ("_name", "_parent", "_path", "fd")

    def __init__(self, fd: int, path: Path | None, *, parent: Folder | None = None, name: str = "") -> None:
        self.fd = fd
        self._path = path
        self._parent = parent  # the path is ``parent.path / name``, worked out when first asked for
        self._name = name

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
        fd = self._open_folder(name)  # most folders exist: open first, create only when missing
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
            raise DeployError(f"{path}: cannot set the new folder's owner: {_why(exc)}", path=str(path)) from None
        return Folder(fd, path)

    def _open_folder(self, name: str) -> int | None:
        """A descriptor on the sub-folder ``name`` (None when missing); a link is refused."""
        try:
            return os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise UnsafeError(f"{self.path / name}: is a link or not a folder; refused") from None
            raise DeployError(
                f"{self.path / name}: cannot open the folder: {_why(exc)}", path=str(self.path / name)
            ) from None

    def names(self) -> list[str]:
        """The names in this folder, sorted."""
        try:
            return sorted(os.listdir(self.fd if not WINDOWS else self.path))
        except OSError as exc:
            raise DeployError(f"{self.path}: cannot list: {_why(exc)}", path=str(self.path)) from None

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
                f"{self.path / name}: cannot be checked: {_why(exc)}", path=str(self.path / name)
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
        flags = os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC | _BINARY
        try:
            fd = self._open_at(name, flags)
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise UnsafeError(f"{self.path / name}: is a folder, not a file; refused") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeError(f"{self.path / name}: is a link; refused (a link is never followed here)") from None
            raise DeployError(f"{self.path / name}: cannot read: {_why(exc)}", path=str(self.path / name)) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeError(f"{self.path / name}: is {_kind(st.st_mode)}, not a regular file; refused")
            if st.st_nlink > 1 and not WINDOWS:
                raise UnsafeError(f"{self.path / name}: has {st.st_nlink} hard links; refused (it may be another file)")
            if st.st_size > limit:
                raise UnsafeError(f"{self.path / name}: {st.st_size} bytes, over the {limit}-byte limit; refused")
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
                raise UnsafeError(f"{self.path / name}: grew over the {limit}-byte limit while read; refused")
            return data, st
        except OSError as exc:
            raise DeployError(f"{self.path / name}: cannot read: {_why(exc)}", path=str(self.path / name)) from None
        finally:
            os.close(fd)

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
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY
        try:
            fd = self._open_at(temp, flags)
        except OSError as exc:
            raise DeployError(f"{self.path}: cannot write here: {_why(exc)}", path=str(self.path)) from None
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
            raise DeployError(f"{self.path / name}: write failed: {_why(exc)}", path=str(self.path / name)) from None
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
            raise DeployError(f"{self.path / name}: cannot remove: {_why(exc)}", path=str(self.path / name)) from None

    def clean_temps(self) -> None:
        """Remove temp files an interrupted run left here (the caller holds the lock)."""
        for name in self.names():
            if name.startswith(TEMP_PREFIX):
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=self.fd) if not WINDOWS else os.unlink(self.path / name)

    @contextlib.contextmanager
    def locked(self, name: str, what: str) -> Iterator[None]:
        """Hold an exclusive lock on the file ``name`` here; fail at once when it is held."""
        check_name(name)
        flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC
        try:
            fd = self._open_at(name, flags)
        except OSError as exc:
            raise DeployError(
                f"{self.path / name}: cannot create the lock: {_why(exc)}", path=str(self.path / name)
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
        raise DeployError(f"{path}: cannot create the folder: {_why(exc)}", path=str(path)) from None


def _lock_fd(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


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


def open_root(root: Path) -> Folder:
    """Open a target root (the admin's path, links on the way checked by :func:`trusted_root`)."""
    real = trusted_root(root)
    if WINDOWS:  # pragma: no cover - exercised on Windows only
        if not real.is_dir():
            raise MissingFolder(root, home=False)
        return Folder(-1, real)
    folder: Folder | None = Folder(os.open("/", os.O_RDONLY | _DIRECTORY | _CLOEXEC), Path("/"))
    for part in real.parts[1:]:
        assert folder is not None
        try:
            nxt = folder.child(part)
        finally:
            folder.close()
        if nxt is None:
            raise MissingFolder(root, home=False)
        folder = nxt
    assert folder is not None
    folder.path = root
    return folder


class _OpenHow(ctypes.Structure):
    """Linux's ``struct open_how`` (openat2)."""

    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


#: openat2's system call number, the same on these architectures (not on alpha, say), and its
#: RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH.
_SYS_OPENAT2 = 437
_SAME_NUMBER = {"x86_64", "amd64", "aarch64", "arm64", "i386", "i686", "armv7l", "riscv64", "ppc64le", "s390x"}
_RESOLVE_SAFELY = 0x02 | 0x04 | 0x08


class _Openat2:
    """Open a folder several levels below a descriptor in one system call, refusing every link.

    ``openat2`` with ``RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH`` walks the whole relative
    path in the kernel and fails on any link, on any component that is not a folder and
    on any way out of the starting folder: the same promise as opening one component at
    a time with ``O_NOFOLLOW``, in one call instead of one per folder. It only ever
    *finds* folders: when it fails for any reason (a folder missing, a link, a kernel
    without it), the caller walks component by component, which says exactly what is
    wrong. Linux only; elsewhere it is never used.
    """

    def __init__(self) -> None:
        self._call: Any = None
        if sys.platform.startswith("linux") and platform.machine().lower() in _SAME_NUMBER:
            with contextlib.suppress(OSError, AttributeError):
                libc = ctypes.CDLL(None, use_errno=True)
                self._call = libc.syscall
                self._call.restype = ctypes.c_long
        self._how = _OpenHow(os.O_RDONLY | _DIRECTORY | _CLOEXEC, 0, _RESOLVE_SAFELY)
        self._size = ctypes.c_size_t(ctypes.sizeof(_OpenHow))

    def folder(self, fd: int, parts: tuple[str, ...]) -> int | None:
        """A descriptor on ``parts`` below ``fd`` (each a checked plain name), or None: walk it instead.

        FileNotFoundError when a folder on the way does not exist: every one before it was
        a real folder, not a link (a link fails with ELOOP, never ENOENT).
        """
        if self._call is None:
            return None
        path = "/".join(parts).encode("utf-8", "surrogateescape")
        found = self._call(_SYS_OPENAT2, ctypes.c_long(fd), ctypes.c_char_p(path), ctypes.byref(self._how), self._size)
        if found < 0:
            why = ctypes.get_errno()
            if why in (errno.ENOSYS, errno.EPERM):  # no openat2 here (or a sandbox forbids it)
                self._call = None
            if why == errno.ENOENT:
                raise FileNotFoundError(why, os.strerror(why))
            return None
        return int(found)


_OPENAT2 = _Openat2()


def _open_quickly(
    folder: Folder, parts: tuple[str, ...], home: int, owner: Owner | None, create: bool
) -> tuple[Folder, Owner] | None:
    """:func:`open_below` of folders that all exist, in one or two system calls (None: walk them).

    FileNotFoundError when a folder after the home folder is missing and none may be
    created: there is nothing to open, and no link on the way.
    """
    for part in parts:
        check_name(part)
    if owner is None and 0 < home < len(parts):  # the home folder's owner: open it first, then the rest
        try:
            above = _OPENAT2.folder(folder.fd, parts[:home])
        except FileNotFoundError:
            return None  # the walk names the missing home folder
        if above is None:
            return None
        try:
            owner = Folder(above, None).owner()
            fd = _below_home(above, parts[home:], create)
        finally:
            os.close(above)
    elif owner is None:  # the folder itself is the home folder: the walk names it when missing
        try:
            fd = _OPENAT2.folder(folder.fd, parts)
        except FileNotFoundError:
            return None
        if fd is not None:
            owner = Folder(fd, None).owner()
    else:
        fd = _below_home(folder.fd, parts, create)
    if fd is None:
        return None
    assert owner is not None
    return Folder(fd, None, parent=folder, name="/".join(parts)), owner


def _below_home(fd: int, parts: tuple[str, ...], create: bool) -> int | None:
    """openat2 of folders below a home folder: a missing one is the answer unless it is to be created."""
    try:
        return _OPENAT2.folder(fd, parts)
    except FileNotFoundError:
        if create:
            return None  # the walk creates what is missing
        raise


def open_below(
    root: Path,
    parts: tuple[str, ...],
    *,
    home: int,
    create: bool,
    base: Folder | None = None,
    owner: Owner | None = None,
) -> tuple[Folder, Owner | None] | None:
    """Open ``root/parts`` folder by folder, never following a link below ``root``.

    The first ``home`` parts (a user's profile folder) are never created: when one is
    missing, :class:`MissingFolder` names it. Folders after it are created when
    ``create``, owned by the owner of the home folder; otherwise a missing one gives
    None. Returns the folder and the owner new files there should get. ``base`` is
    ``root`` already opened by :func:`open_root` (it is not closed here), or a folder
    below it that the caller opened this way: then ``owner`` is the one that walk gave.
    """
    folder = Folder(os.dup(base.fd), base.path) if base is not None and not WINDOWS else open_root(root)
    if home == 0 and owner is None:
        owner = folder.owner()
    try:
        if parts and not WINDOWS:
            try:
                quick = _open_quickly(folder, parts, home, owner, create)
            except FileNotFoundError:
                folder.close()
                return None
            if quick is not None:
                folder.close()
                return quick
        for index, part in enumerate(parts):
            may_create = create and index >= home
            nxt = folder.child(part, create=may_create, owner=owner)
            if nxt is None:
                if index < home:
                    raise MissingFolder(folder.path / part, home=True)
                folder.close()
                return None
            folder.close()
            folder = nxt
            if index + 1 == home:
                owner = folder.owner()
    except BaseException:
        folder.close()
        raise
    return folder, owner

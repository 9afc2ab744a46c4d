"""Reaching a folder below a target root: the root trusted, every folder after it opened without following a link.

The root is the admin's path: a link on the way to it is followed only when it is
trusted (owned by root or by us, in a folder owned by root or by us). Below it, each
folder is opened relative to its parent's descriptor with ``O_DIRECTORY |
O_NOFOLLOW`` (:meth:`provisioner.targetfs.safefs.Folder.child`); on Linux, folders that
already exist are opened in one ``openat2`` call that refuses a link or a way out at
any level. What is then done in a folder is :mod:`provisioner.targetfs.safefs`'s.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import stat
import sys
from pathlib import Path
from typing import Any

from provisioner.targetfs.safefs import (
    CLOEXEC,
    DIRECTORY,
    WINDOWS,
    Folder,
    MissingFolder,
    Owner,
    UnsafeError,
    check_name,
    reason,
)

#: How many trusted links resolving a root may pass through.
MAX_LINKS = 40


def _admin_owned(st: os.stat_result) -> bool:
    return st.st_uid in (0, os.geteuid()) if hasattr(os, "geteuid") else True


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
            raise UnsafeError(f"{candidate}: cannot be checked: {reason(exc)}") from None
        if not stat.S_ISLNK(st.st_mode):
            current = candidate
            continue
        hops += 1
        if hops > MAX_LINKS:
            raise UnsafeError(f"{path}: too many links on the way")
        current, parts = _trusted_link(current, candidate, st)
        pending[:0] = parts
    return current


def _trusted_link(current: Path, link: Path, st: os.stat_result) -> tuple[Path, list[str]]:
    """Where the walk goes on from ``link`` (in the folder ``current``): the folder to start from and
    the parts to walk. UnsafeError unless the link and its folder belong to root or to us."""
    if not (_admin_owned(st) and _admin_owned(os.lstat(current))):
        raise UnsafeError(
            f"{link}: is a link that another user could have planted; give the target's real path in the fleet"
        )
    target = os.readlink(link)
    if target.startswith("/"):
        return Path("/"), list(Path(target).parts[1:])
    return current, list(Path(target).parts)


def open_root(root: Path) -> Folder:
    """Open a target root (the admin's path, links on the way checked by :func:`trusted_root`)."""
    real = trusted_root(root)
    if WINDOWS:  # pragma: no cover - exercised on Windows only
        if not real.is_dir():
            raise MissingFolder(root, home=False)
        return Folder(-1, real)
    folder: Folder | None = Folder(os.open("/", os.O_RDONLY | DIRECTORY | CLOEXEC), Path("/"))
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
        self._how = _OpenHow(os.O_RDONLY | DIRECTORY | CLOEXEC, 0, _RESOLVE_SAFELY)
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
            error = ctypes.get_errno()
            if error in (errno.ENOSYS, errno.EPERM):  # no openat2 here (or a sandbox forbids it)
                self._call = None
            if error == errno.ENOENT:
                raise FileNotFoundError(error, os.strerror(error))
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
    quick: bool = True,
) -> tuple[Folder, Owner | None] | None:
    """Open ``root/parts`` folder by folder, never following a link below ``root``.

    The first ``home`` parts (a user's profile folder) are never created: when one is
    missing, :class:`MissingFolder` names it. Folders after it are created when
    ``create``, owned by the owner of the home folder; otherwise a missing one gives
    None. Returns the folder and the owner new files there should get. ``base`` is
    ``root`` already opened by :func:`open_root` (it is not closed here), or a folder
    below it that the caller opened this way: then ``owner`` is the one that walk gave.
    Not ``quick``: walk at once, without trying to open the folders in one call first (the
    caller knows that one is missing).
    """
    if base is not None and not WINDOWS:
        if home == 0 and owner is None:
            owner = base.owner()
        if quick and parts:  # in one call from the caller's folder, no copy of its descriptor needed
            try:
                opened = _open_quickly(base, parts, home, owner, create)
            except FileNotFoundError:
                return None
            if opened is not None:
                return opened
        folder = Folder(os.dup(base.fd), base.path)  # the walk closes each folder it leaves
    else:
        folder = open_root(root)
    return _walk(folder, parts, home=home, create=create, owner=owner)


def _walk(
    folder: Folder, parts: tuple[str, ...], *, home: int, create: bool, owner: Owner | None
) -> tuple[Folder, Owner | None] | None:
    """``parts`` below ``folder`` (see :func:`open_below`). Each folder is closed as the walk leaves
    it, and the one it stands in when it fails or finds a folder missing."""
    try:
        if home == 0 and owner is None:
            owner = folder.owner()
        for index, part in enumerate(parts):
            nxt = folder.child(part, create=create and index >= home, owner=owner)
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

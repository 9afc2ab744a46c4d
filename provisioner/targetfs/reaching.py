"""Reaching a folder below a target root: the root trusted, every folder after it opened without following a link.

The root is the admin's path: a link on the way to it is followed only when it is
trusted (owned by root or by us, in a folder owned by root or by us). Below it, each
folder is opened relative to its parent's descriptor with ``O_DIRECTORY |
O_NOFOLLOW`` (:meth:`provisioner.targetfs.safefs.Folder.child`); on Linux, folders that
already exist are opened in one ``openat2`` call that refuses a link or a way out at
any level. What is then done in a folder is :mod:`provisioner.targetfs.safefs`'s.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from provisioner import runner
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
            above = runner.current().open_folders(folder.fd, parts[:home])
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
            fd = runner.current().open_folders(folder.fd, parts)
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
        return runner.current().open_folders(fd, parts)
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

"""Writing the admin's own outputs: ``render`` folders, ``init`` projects, bundles.

These paths are the admin's (trusted), but what goes there may hold plaintext
passwords, so files are 0600 and the folders the tool creates 0700. Every write
is atomic: a hidden temporary file in the destination folder, flushed and
fsynced, then renamed over the target; the temporary file is removed on every
failure path.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from provisioner.errors import DeployError
from provisioner.targetfs.safefs import SPECIAL_BITS, TEMP_PREFIX

#: Files the tool writes for the admin: readable by their owner only.
PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents, each 0700 (existing ones are left alone); those created."""
    missing = []
    current = folder
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    created = []
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=PRIVATE_FOLDER)
            os.chmod(path, PRIVATE_FOLDER)  # mkdir's mode is filtered through the umask
            created.append(path)
    return created


def write_atomic(path: Path, data: bytes, *, mode: int = PRIVATE_FILE, sync_dir: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (creating parent folders, 0700).

    The data is fsynced before the rename, so after a crash the file is old or new,
    never empty or torn. ``sync_dir`` also fsyncs the folder so that the rename
    itself survives a power cut; ``render`` output (a build artifact) skips that.
    """
    try:
        make_folders(path.parent)
        fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    except OSError as exc:
        raise DeployError(f"{path.parent}: cannot write here: {exc.strerror or exc}", path=str(path.parent)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode & 0o777 & ~SPECIAL_BITS) if hasattr(os, "fchmod") else None
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise DeployError(f"{path}: write failed: {exc.strerror or exc}", path=str(path)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_new_files(files: Iterable[tuple[Path, bytes, int]]) -> list[Path]:
    """Write files that must not exist yet (``init``); refuse before writing any if one does."""
    pending = list(files)
    existing = [p for p, _, _ in pending if p.exists() or p.is_symlink()]
    if existing:
        raise DeployError(f"{existing[0]}: already exists; nothing was written")
    for path, data, mode in pending:
        write_atomic(path, data, mode=mode)
    return [p for p, _, _ in pending]


#: How the tool names its temporary files: a prefix and a suffix.
TempName = tuple[str, str]
#: On a share, temporary files are named as DFS Replication's default file filter skips
#: (``~*``, ``*.tmp``), so a half-written one is never replicated.
SHARE_TEMP: TempName = ("~provisioner-", ".tmp")


def write_files(
    files: Iterable[tuple[Path, bytes]],
    *,
    mode: Callable[[Path], int] | None = None,
    temp_name: TempName = (TEMP_PREFIX, ""),
) -> list[Path]:
    """Write many files, in the order given, each old or new after a crash, never torn.

    Files are 0600 (``render`` output may hold passwords) unless ``mode`` says otherwise;
    temporary files are named ``temp_name``'s prefix, random letters, its suffix.

    Rather than wait for the disk once per file, every file is first written to a
    temporary file beside it, then all of them are made durable together (one
    ``syncfs`` of the file system, where the platform has it), then each is renamed
    over its target. A crash before the renames leaves the old files (and
    temporaries the next run removes); after, the new ones.
    """
    pending = list(files)
    for folder in sorted({path.parent for path, _ in pending}):
        make_folders(folder)
        with contextlib.suppress(OSError):
            for stale in folder.glob(f"{temp_name[0]}*{temp_name[1]}"):
                stale.unlink()
    temps: list[tuple[str, Path]] = []
    try:
        for path, data in pending:
            temps.append((_write_temp(path, data, mode(path) if mode is not None else PRIVATE_FILE, temp_name), path))
        if CAN_SYNCFS and pending:
            _syncfs(pending[0][0].parent)
        _replace_all(temps, temp_name)
        temps = []
    except OSError as exc:
        raise DeployError(f"writing the output failed: {exc.strerror or exc}") from None
    finally:
        for temp, _ in temps:
            with contextlib.suppress(OSError):
                os.unlink(temp)
    if CAN_SYNCFS and pending:  # the renames too, in one call rather than one per folder
        _syncfs(pending[0][0].parent)
    else:
        for folder in sorted({path.parent for path, _ in pending}):
            fsync_dir(folder)
    return [path for path, _ in pending]


def _write_temp(path: Path, data: bytes, mode: int, temp_name: TempName) -> str:
    """``data`` in a new temporary file beside ``path`` (durable already where there is no syncfs)."""
    try:
        fd, temp = tempfile.mkstemp(prefix=temp_name[0], suffix=temp_name[1], dir=path.parent)
    except OSError as exc:
        raise DeployError(f"{path.parent}: cannot write here: {exc.strerror or exc}", path=str(path.parent)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), mode)
            if not CAN_SYNCFS:
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return temp


def _replace_all(temps: list[tuple[str, Path]], temp_name: TempName) -> None:
    """Rename each temporary file over its target; all or none (DeployError naming the path).

    Every target is checked first (a folder, a link or anything else planted where a
    file goes stops the run before a rename), and the old files are kept under a second
    name until every rename is done, so one that fails puts the earlier ones back.
    """
    _check_targets([path for _, path in temps])
    kept: list[tuple[Path, str | None]] = []  # each target done, with its old bytes' second name
    try:
        for temp, path in temps:
            old = _keep_old(path, temp_name)
            try:
                os.replace(temp, path)
            except OSError:
                if old is not None:
                    os.unlink(old)
                raise
            kept.append((path, old))
    except OSError as exc:
        for done, old in reversed(kept):
            with contextlib.suppress(OSError):
                if old is not None:
                    os.replace(old, done)
                else:
                    os.unlink(done)
        raise DeployError(
            f"{path}: cannot be replaced ({exc.strerror or exc}); nothing was changed", path=str(path)
        ) from None
    for _, old in kept:
        if old is not None:
            with contextlib.suppress(OSError):
                os.unlink(old)


def _check_targets(paths: list[Path]) -> None:
    """DeployError naming the first target that is there but is not a file (a folder, a link)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISREG(path.lstat().st_mode):
                raise DeployError(
                    f"{path}: is not a file (a folder or link was put there); nothing was changed", path=str(path)
                )


def _keep_old(path: Path, temp_name: TempName) -> str | None:
    """A second name (a hard link) for the file at ``path``, or None when there is none."""
    if not path.exists():
        return None
    old = str(path.parent / f"{temp_name[0]}old-{secrets.token_hex(6)}{temp_name[1]}")
    os.link(path, old)
    return old


def _load_syncfs() -> Any:
    """libc's ``syncfs`` (Linux), or None."""
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _load_syncfs()
#: Whether :func:`syncfs` is available here.
CAN_SYNCFS = _SYNCFS is not None


def _syncfs(folder: Path) -> None:
    """Make everything written to ``folder``'s file system durable, in one call."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        syncfs(fd)
    finally:
        os.close(fd)


def syncfs(fd: int) -> None:
    """``syncfs`` on the file system holding the open ``fd`` (Linux only: see :data:`CAN_SYNCFS`)."""
    if _SYNCFS(fd) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def write_tree(out: Path, files: dict[str, bytes]) -> list[Path]:
    """Write a new folder all at once: build it beside ``out``, then rename it into place.

    ``out`` must not exist, or be an empty folder. Files are 0600 (programs 0700) and
    folders 0700: a bundle holds the seat's password. On any failure the partial
    folder is removed, so ``out`` never holds half a bundle.
    """
    parent = out.parent
    try:
        make_folders(parent)
        staging = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=parent))
        staging.chmod(PRIVATE_FOLDER)
    except OSError as exc:
        raise DeployError(f"{parent}: cannot write here: {exc.strerror or exc}", path=str(parent)) from None
    try:
        for name, data in sorted(files.items()):
            path = staging / name
            make_folders(path.parent)
            program = name.lower().endswith((".exe", ".cmd", ".dll"))
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
            fd = os.open(path, flags, 0o700 if program else PRIVATE_FILE)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        if out.is_dir() and not out.is_symlink():
            out.rmdir()  # empty (checked before); replaced by the finished folder
        os.replace(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DeployError(f"{out}: writing the bundle failed: {exc.strerror or exc}", path=str(out)) from None
    fsync_dir(parent)
    return [out / name for name in sorted(files)]


def _differs(path: Path, data: bytes) -> bool:
    """Whether the file at ``path`` is missing or holds other bytes (the share's own, read to compare)."""
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
            return True
        return path.read_bytes() != data
    except OSError:
        return True


def write_share(
    out: Path, files: dict[str, bytes], *, private_prefix: str, stale: list[str], open_folders: tuple[str, ...] = ()
) -> list[Path]:
    """Write a distribution point that agents may be reading right now.

    Every file is replaced atomically, a seat's own files before its ``seat.ini``
    (which names their checksums), and ``publish.json`` last; so an agent sees an
    old seat or a new one, never a mix it would accept. Files under
    ``private_prefix`` are 0600 in 0700 folders (they may hold a password); the
    rest 0644 in 0755 folders (folders that exist keep their modes). ``open_folders``
    are made when missing and nothing is written in them (users may write there). Only
    files whose bytes changed are written, so an unchanged fleet touches nothing (a
    replicated share ships nothing), and temporary files are named as DFS-R skips
    them (:data:`SHARE_TEMP`). All files are staged first and renamed together: a
    failure changes nothing. ``stale``
    seat folders (ours, no longer in the fleet) are removed at the end.
    """
    ordered = sorted(files, key=lambda name: (name == "publish.json", name.endswith("/seat.ini"), name))
    shared = {(out / name).parent for name in ordered if not name.startswith(private_prefix)}
    for folder in sorted({*shared, *(out / name for name in open_folders)}):
        for made in make_folders(folder):  # only folders made here get a mode; others keep theirs
            if made.is_relative_to(out) and made != out:
                os.chmod(made, 0o755)

    def mode(path: Path) -> int:
        if path.relative_to(out).as_posix().startswith(private_prefix):
            return PRIVATE_FILE
        return 0o755 if path.suffix == ".exe" else 0o644

    changed = [(out / name, files[name]) for name in ordered if _differs(out / name, files[name])]
    written = write_files(changed, mode=mode, temp_name=SHARE_TEMP)
    for gone in stale:
        shutil.rmtree(out / gone, ignore_errors=True)
    fsync_dir(out)
    return written

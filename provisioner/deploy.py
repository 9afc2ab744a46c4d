"""The only module that writes files.

Every write is atomic: the bytes go to a hidden temporary file in the destination
folder, are flushed and fsynced, and the file is renamed over the target with
``os.replace``; the temporary file is removed on every failure path. A reader
therefore sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from provisioner.errors import DeployError

TEMP_PREFIX = ".provisioner-tmp-"


def write_atomic(path: Path, data: bytes, *, mode: int | None = None, sync_dir: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (creating parent folders).

    The data is fsynced before the rename, so after a crash the file is old or new,
    never empty or torn. ``sync_dir`` also fsyncs the folder so that the rename
    itself survives a power cut; ``render`` output (a build artifact) skips that.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    except OSError as exc:
        raise DeployError(f"{path.parent}: cannot write here: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is None and path.exists():
            mode = path.stat().st_mode & 0o7777
        os.chmod(temp, mode if mode is not None else 0o644)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise DeployError(f"{path}: write failed: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if sync_dir:
        _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
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


def write_new_files(files: Iterable[tuple[Path, bytes]]) -> list[Path]:
    """Write files that must not exist yet (``init``); refuse before writing any if one does."""
    pending = list(files)
    existing = [p for p, _ in pending if p.exists()]
    if existing:
        raise DeployError(f"{existing[0]}: already exists; nothing was written")
    for path, data in pending:
        write_atomic(path, data)
    return [p for p, _ in pending]


def write_files(files: Iterable[tuple[Path, bytes]]) -> list[Path]:
    """Write each file atomically (render output); return the paths written."""
    written = []
    for path, data in files:
        write_atomic(path, data, sync_dir=False)
        written.append(path)
    return written

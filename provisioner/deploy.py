"""The only module that writes files.

Every write is atomic: the bytes go to a hidden temporary file in the destination
folder, are flushed and fsynced, and the file is renamed over the target with
``os.replace``; the temporary file is removed on every failure path. A reader
therefore sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from provisioner.errors import DeployError
from provisioner.plan import SeatPlan
from provisioner.state import (
    Manifest,
    ManifestError,
    backup_name,
    backups_to_prune,
    parse_manifest,
)

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
        _replace(temp, path)
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


#: How often, and how long apart, a rename refused by a lock is tried again (Windows
#: refuses to replace a file another process, such as MicroSIP, holds open).
REPLACE_TRIES = 5
REPLACE_PAUSE = 0.2


def _replace(temp: str, path: Path) -> None:
    for attempt in range(REPLACE_TRIES):
        try:
            os.replace(temp, path)
            return
        except PermissionError:
            if attempt == REPLACE_TRIES - 1:
                raise PermissionError(
                    errno.EACCES,
                    "the file is locked by another program (close MicroSIP with `microsip.exe /exit` "
                    "and try again)",
                ) from None
            time.sleep(REPLACE_PAUSE)


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


# --- the filesystem layer apply works through ----------------------------------------------


class RealFS:
    """Reads and writes the real disk."""

    dry_run = False

    def __init__(self) -> None:
        self.log: list[str] = []

    def read(self, path: Path) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise DeployError(f"{path}: is a folder, not a file") from None
        except OSError as exc:
            raise DeployError(f"{path}: cannot read: {exc.strerror or exc}") from None

    def listdir(self, folder: Path) -> list[str]:
        """Names in ``folder`` (empty when it does not exist)."""
        try:
            return sorted(os.listdir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def exists(self, path: Path) -> bool:
        """Whether ``path`` exists."""
        return path.exists()

    def write(self, path: Path, data: bytes, *, sync_dir: bool = True) -> None:
        """Replace ``path`` atomically (``sync_dir``: and make the rename itself durable)."""
        self.log.append(f"write {path} ({len(data)} bytes)")
        write_atomic(path, data, sync_dir=sync_dir)

    def remove(self, path: Path) -> None:
        """Delete a file (missing is fine)."""
        self.log.append(f"remove {path}")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise DeployError(f"{path}: cannot remove: {exc.strerror or exc}") from None

    def clean_temps(self, folder: Path) -> None:
        """Remove temp files an interrupted run left in ``folder`` (we hold its lock)."""
        for name in self.listdir(folder):
            if name.startswith(TEMP_PREFIX):
                with contextlib.suppress(OSError):
                    os.unlink(folder / name)

    @contextlib.contextmanager
    def lock(self, state_dir: Path) -> Iterator[None]:
        """Hold the target folder's lock; fail at once when another apply holds it."""
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DeployError(f"{state_dir}: cannot create the lock: {exc.strerror or exc}") from None
        try:
            try:
                _lock_fd(fd)
            except OSError:
                raise DeployError(
                    f"{state_dir.parent}: another apply or rollback is running on this target "
                    "(its lock is held); try again when it has finished"
                ) from None
            yield
        finally:
            os.close(fd)


def _lock_fd(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


class DryRunFS(RealFS):
    """Walks the same code path as :class:`RealFS` but records writes instead of doing them."""

    dry_run = True

    def write(self, path: Path, data: bytes, *, sync_dir: bool = True) -> None:
        """Record the write."""
        self.log.append(f"would write {path} ({len(data)} bytes)")

    def remove(self, path: Path) -> None:
        """Record the removal."""
        self.log.append(f"would remove {path}")

    def clean_temps(self, folder: Path) -> None:
        """Nothing to clean in a dry run."""

    @contextlib.contextmanager
    def lock(self, state_dir: Path) -> Iterator[None]:
        """A dry run takes no lock (it writes nothing)."""
        yield


# --- applying a plan ----------------------------------------------------------------------------


@dataclass
class SeatOutcome:
    """What applying one seat did."""

    seat_id: str
    status: str  # applied | unchanged | conflict | failed
    written: list[Path] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)
    message: str = ""


def stamp_now() -> str:
    """The UTC timestamp used in backup names."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def apply_seat(
    plan: SeatPlan,
    fs: RealFS,
    *,
    force: bool = False,
    backup: bool = True,
    stamp: str | None = None,
) -> SeatOutcome:
    """Carry out one seat's plan: check, back up, write atomically, then the manifest last.

    A seat in conflict is left untouched unless ``force``. A file that changed on
    disk since it was planned is not overwritten (DeployError). Raises DeployError
    on I/O failures; files already replaced stay consistent (old or new bytes),
    and the manifest is only written once every file of the seat is.
    """
    if plan.action == "conflict" and not force:
        return SeatOutcome(
            plan.seat_id, "conflict", message="; ".join(c for f in plan.files for c in f.conflicts)
        )
    pending = [f for f in plan.files if f.pending]
    if not pending and plan.manifest is not None and _same_records(plan):
        return SeatOutcome(plan.seat_id, "unchanged")
    stamp = stamp or stamp_now()
    state_dir = plan.manifest_path.parent
    outcome = SeatOutcome(plan.seat_id, "applied" if pending else "unchanged")
    backups_dir = state_dir / "backups"
    with fs.lock(state_dir):
        for folder in sorted({f.path.parent for f in pending} | {state_dir, backups_dir}):
            fs.clean_temps(folder)
        existing_backups = fs.listdir(backups_dir)
        for change in plan.files:
            change.record.changed = False
            change.record.backup = None
            change.record.existed = change.old is not None
            if not pending and plan.manifest and change.name in plan.manifest.files:
                # a manifest-only update: the last apply that wrote files stays the one to roll back
                earlier = plan.manifest.files[change.name]
                change.record.changed, change.record.backup = earlier.changed, earlier.backup
                change.record.existed = earlier.existed
        for change in pending:
            current = fs.read(change.path)
            if current != change.old:
                raise DeployError(
                    f"{change.path}: changed on disk while applying (someone or MicroSIP wrote it); "
                    "run apply again"
                )
            if backup and current is not None:
                name = backup_name(backup_file_name(change.name), stamp, existing_backups)
                existing_backups.append(name)
                fs.write(backups_dir / name, current, sync_dir=False)
                change.record.backup = name
                outcome.backups.append(backups_dir / name)
            fs.write(change.path, change.new)
            change.record.changed = True
            outcome.written.append(change.path)
        manifest = Manifest(
            plan.fleet,
            plan.seat_id,
            {f.name: f.record for f in plan.files},
            previous=plan.manifest.as_previous()
            if plan.manifest and pending
            else (plan.manifest.previous if plan.manifest else None),
        )
        # Last, after every file's rename is durable. Its own rename need not be: a lost
        # manifest update only lags behind, it never claims a write that did not happen.
        fs.write(plan.manifest_path, manifest.to_bytes(), sync_dir=False)
        protect = _referenced_backups(manifest)
        for change in pending:
            for old in backups_to_prune(backup_file_name(change.name), existing_backups, protect=protect):
                fs.remove(backups_dir / old)
    return outcome


def _same_records(plan: SeatPlan) -> bool:
    """Whether the manifest already records what this plan would (nothing to update)."""
    assert plan.manifest is not None
    known = plan.manifest.files
    return known.keys() == {f.name for f in plan.files} and all(
        (known[f.name].managed, known[f.name].sha256) == (f.record.managed, f.record.sha256)
        for f in plan.files
    )


def backup_file_name(name: str) -> str:
    """A manifest name (possibly ``../../../Desktop/x.lnk``) as a flat backup file name."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "%".join(parts)


def _referenced_backups(manifest: Manifest) -> set[str]:
    names = {r.backup for r in manifest.files.values() if r.backup}
    if manifest.previous:
        names |= {r.backup for r in Manifest.from_json(manifest.previous).files.values() if r.backup}
    return names


@dataclass
class RollbackOutcome:
    """What rollback did, file by file."""

    seat_id: str
    restored: list[tuple[Path, str]] = field(default_factory=list)  # (file, what was done)


def rollback_seat(
    seat_id: str, folder: Path, manifest_path: Path, fs: RealFS, *, stamp: str | None = None
) -> RollbackOutcome:
    """Restore the files the seat's last apply wrote, from its backups; restore the older manifest."""
    stamp = stamp or stamp_now()
    state_dir = manifest_path.parent
    outcome = RollbackOutcome(seat_id)
    with fs.lock(state_dir):
        try:
            manifest = parse_manifest(fs.read(manifest_path))
        except ManifestError as exc:
            raise DeployError(f"{manifest_path}: {exc}; cannot roll back") from None
        if manifest is None:
            raise DeployError(
                f"seat {seat_id}: no apply is recorded at {manifest_path}; nothing to roll back"
            )
        changed = {name: r for name, r in manifest.files.items() if r.changed}
        if not changed:
            raise DeployError(f"seat {seat_id}: the last apply changed no file; nothing to roll back")
        backups_dir = state_dir / "backups"
        existing = fs.listdir(backups_dir)
        plan: list[tuple[Path, bytes | None, str]] = []
        for name, record in sorted(changed.items()):
            path = Path(os.path.normpath(folder / name))
            if record.backup:
                data = fs.read(backups_dir / record.backup)
                if data is None:
                    raise DeployError(
                        f"{backups_dir / record.backup}: the backup is gone; cannot restore {path}"
                    )
                plan.append((path, data, f"restored from {record.backup}"))
            elif not record.existed:
                plan.append((path, None, "removed (the last apply created it)"))
            else:
                raise DeployError(f"{path}: the last apply kept no backup (--no-backup); cannot restore it")
        for path, data, what in plan:
            current = fs.read(path)
            if current is not None and current != data:
                name = backup_name(backup_file_name(os.path.relpath(path, folder)), stamp, existing)
                existing.append(name)
                fs.write(backups_dir / name, current)
            if data is None:
                fs.remove(path)
            else:
                fs.write(path, data)
            outcome.restored.append((path, what))
        if manifest.previous:
            fs.write(manifest_path, Manifest.from_json(manifest.previous).to_bytes())
        else:
            fs.remove(manifest_path)
    return outcome


def write_tree(out: Path, files: dict[str, bytes]) -> list[Path]:
    """Write a new folder all at once: build it beside ``out``, then rename it into place.

    ``out`` must not exist, or be an empty folder. On any failure the partial
    folder is removed, so ``out`` never holds half a bundle.
    """
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=parent))
        staging.chmod(0o755)
    except OSError as exc:
        raise DeployError(f"{parent}: cannot write here: {exc.strerror or exc}") from None
    try:
        for name, data in sorted(files.items()):
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        if out.is_dir():
            out.rmdir()  # empty (checked before); replaced by the finished folder
        os.replace(staging, out)
    except OSError as exc:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise DeployError(f"{out}: writing the bundle failed: {exc.strerror or exc}") from None
    _fsync_dir(parent)
    return [out / name for name in sorted(files)]

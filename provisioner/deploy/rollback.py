"""Rollback: undo the seat's last apply -- our change, and nothing else.

Every path comes from the fleet; the manifest and backups (in the admin's state
folder) only say what the last apply did. For an ini, the keys that apply
managed go back to the values the backup holds, by the same merge as apply, so
call history, window positions and passwords MicroSIP encrypted since stay.
When the file is byte for byte what the apply wrote, the backup is restored
whole. A file that changed after the apply wrote it is never deleted or
replaced: rollback says so and keeps it. Before rollback changes a file, the
current bytes go to a backup of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from provisioner.deploy.apply import backup_file_name, stamp_now
from provisioner.errors import DeployError, quoted
from provisioner.files import KINDS
from provisioner.render.files import FileKind
from provisioner.state import (
    FileRecord,
    Manifest,
    ManifestError,
    backup_file,
    backup_name,
    backup_sequence,
    backup_stamp,
    bytes_hash,
    is_backup_name,
    parse_manifest,
)
from provisioner.targetfs.system import RealFS, Store
from provisioner.targetfs.targets import Location, Spot

NOTHING_RECORDED = "no apply is recorded for this target; nothing to roll back"


@dataclass(frozen=True)
class SeatFile:
    """One file of the seat, placed by the fleet."""

    spot: Spot
    name: str  # the manifest's name for it
    kind: FileKind


@dataclass
class RollbackOutcome:
    """What rollback did (or, in a dry run, would do), file by file."""

    seat_id: str
    restored: list[tuple[Path, str]] = field(default_factory=list)  # (file, what was done)
    nothing: str | None = None  # why there was nothing to undo
    dry_run: bool = False


@dataclass(frozen=True)
class BackupEntry:
    """One backup in a seat's state folder."""

    name: str
    file: str  # the file it was taken of (flat name)
    stamp: str
    last_apply: bool  # taken by the last apply (what plain rollback restores)


def list_backups(fs: RealFS, state: Location, key: bytes) -> list[BackupEntry]:
    """The seat's backups the manifest vouches for, newest first (no other file there is shown)."""
    try:
        manifest = parse_manifest(fs.read(Store.manifest(state)), key)
    except ManifestError:
        manifest = None
    if manifest is None:
        return []
    last = {r.backup for r in manifest.files.values() if r.backup and r.changed}
    names = [n for n in fs.listdir(Store.backups(state)) if is_backup_name(n) and n in manifest.backups]
    entries = [BackupEntry(n, backup_file(n), backup_stamp(n), n in last) for n in names]
    return sorted(entries, key=lambda e: (e.stamp, e.name), reverse=True)


def rollback_seat(
    seat_id: str,
    files: list[SeatFile],
    state: Location,
    fs: RealFS,
    key: bytes,
    *,
    to: str | None = None,
    stamp: str | None = None,
) -> RollbackOutcome:
    """Undo the last apply of one seat (or go back to the backups of stamp ``to``).

    The manifest must check out with ``key``, and each backup restored must have the
    bytes the manifest recorded for it: a forged one is reported, never restored.
    """
    stamp = stamp or stamp_now()
    outcome = RollbackOutcome(seat_id, dry_run=fs.dry_run)
    target = next((f.spot.where for f in files if f.kind == "ini"), files[0].spot.where)
    with fs.lock(state, f"seat {seat_id}"), fs.lock_target(target, f"seat {seat_id}"):
        _clean(fs, files, state)
        try:
            manifest = parse_manifest(fs.read(Store.manifest(state)), key)
        except ManifestError as exc:
            raise DeployError(f"seat {seat_id}: {exc} in the state folder {state.path}; cannot roll back") from None
        if manifest is None:
            outcome.nothing = NOTHING_RECORDED
            return outcome
        on_disk = [n for n in fs.listdir(Store.backups(state)) if is_backup_name(n)]
        existing = [n for n in on_disk if n in manifest.backups]  # only those the manifest vouches for
        sources = _last_apply(manifest, files) if to is None else _chosen(to, existing, manifest, files)
        if not sources and to is None:
            outcome.nothing = (
                f"nothing left to undo: the apply of {manifest.undone} was already rolled back"
                if manifest.undone
                else "the last apply changed no file; nothing to roll back"
            )
            return outcome
        taken: dict[str, str] = {}
        for file, backup in sources:
            data = _backup_bytes(fs, state, manifest, file, backup)
            outcome.restored.append(_restore(fs, state, manifest, file, backup, data, stamp, on_disk, taken, to))
        after = _after(manifest, files, fs, stamp)
        after.backups = {**manifest.backups, **taken}
        fs.write(Store.manifest(state), after.to_bytes(key), private=True, sync_folder=False)
    return outcome


def _clean(fs: RealFS, files: list[SeatFile], state: Location) -> None:
    """Remove what a killed apply or rollback left: temporary files beside the seat's files and in its state."""
    for where in sorted({f.spot.where for f in files}, key=lambda w: str(w.path)):
        fs.clean_temps(where)
    fs.clean_temps(state)
    fs.clean_temps(Store.backups(state))


def _backup_bytes(fs: RealFS, state: Location, manifest: Manifest, file: SeatFile, backup: str | None) -> bytes | None:
    """The backup's bytes, when they are what the manifest recorded (DeployError otherwise); None for no backup."""
    if backup is None:
        return None
    backups = Store.backups(state)
    data = fs.read(Spot(backups, backup))
    if data is None:
        raise DeployError(
            f"{backups.path / backup}: the backup is gone; cannot restore {file.spot.path}",
            path=str(backups.path / backup),
        )
    if manifest.backups.get(backup) != bytes_hash(data):
        raise DeployError(
            f"{backups.path / backup}: the backup does not hold the bytes the manifest recorded "
            f"(changed or forged); {file.spot.path} is not restored from it",
            path=str(backups.path / backup),
        )
    return data


def _restore(
    fs: RealFS,
    state: Location,
    manifest: Manifest,
    file: SeatFile,
    backup: str | None,
    data: bytes | None,
    stamp: str,
    on_disk: list[str],
    taken: dict[str, str],
    to: str | None,
) -> tuple[Path, str]:
    """Put one file back (its current bytes backed up first); what was done."""
    found = fs.read_stat(file.spot)
    what, new = _undo(file, manifest.files[file.name], data, found[0] if found else None, whole=to is None)
    if backup is not None and new is not _KEEP:
        what += f" ({backup})"
    if new is not _KEEP and found is not None and new != found[0]:
        name = backup_name(backup_file_name(file.name), stamp, on_disk)
        on_disk.append(name)
        fs.write(Spot(Store.backups(state), name), found[0], private=True, sync_folder=False)
        taken[name] = bytes_hash(found[0])
    if new is None and found is not None:
        fs.remove(file.spot)
    elif isinstance(new, bytes) and (found is None or new != found[0]):
        fs.write(file.spot, new, private=KINDS[file.kind].private, like=found[1] if found else None)
    return file.spot.path, what


class _Keep:
    """Marker: leave the file as it is."""


_KEEP = _Keep()


def _last_apply(manifest: Manifest, files: list[SeatFile]) -> list[tuple[SeatFile, str | None]]:
    """The fleet's files the last apply changed, each with the backup that holds its old bytes."""
    if manifest.undone:
        return []
    out = []
    for file in files:
        record = manifest.files.get(file.name)
        if record is None or not record.changed:
            continue
        if record.backup is not None and not is_backup_name(record.backup):
            raise DeployError(
                f"seat {manifest.seat}: the manifest names a backup {quoted(record.backup)} that "
                "is not spelled as this tool names backups; refused"
            )
        if record.backup is None and record.existed:
            raise DeployError(
                f"{file.spot.path}: the last apply kept no backup (--no-backup); cannot restore it",
                path=str(file.spot.path),
            )
        out.append((file, record.backup))
    return out


def _chosen(
    to: str, existing: list[str], manifest: Manifest, files: list[SeatFile]
) -> list[tuple[SeatFile, str | None]]:
    """The fleet's files with a backup chosen by ``to``: a stamp, or one backup's name (see --list).

    When two applies ran within the same second, a stamp names the older bytes (the
    lowest sequence number); a backup's name picks exactly one file's backup.
    """
    if is_backup_name(to) and to in existing:
        at = {backup_file(to): to}
    else:
        at = {}
        for name in sorted(existing, key=lambda n: (backup_file(n), backup_sequence(n))):
            if backup_stamp(name) == to:
                at.setdefault(backup_file(name), name)
    if not at:
        stamps = sorted({backup_stamp(n) for n in existing}, reverse=True)
        shown = ", ".join(stamps[:5]) or "none"
        raise DeployError(f"no backup taken at {quoted(to)} for this seat (backups: {shown}); see rollback --list")
    out: list[tuple[SeatFile, str | None]] = []
    for file in files:
        chosen = at.get(backup_file_name(file.name))
        if chosen is not None and file.name in manifest.files:
            out.append((file, chosen))
    return out


def _undo(
    file: SeatFile, record: FileRecord, backup: bytes | None, current: bytes | None, *, whole: bool
) -> tuple[str, bytes | _Keep | None]:
    """What to do with one file: (what to say, new bytes | None to delete | _KEEP)."""
    ours = current is not None and bytes_hash(current) == record.sha256
    if backup is None:
        if record.existed:
            return "kept: the apply kept no backup of it (--no-backup), so it cannot be restored", _KEEP
        if current is None:
            return "already gone", _KEEP
        if ours:
            return "removed (the last apply created it)", None
        return "kept: the last apply created it, but it changed since (MicroSIP or the user wrote it)", _KEEP
    if current is None:
        return "restored from the backup (it had been deleted)", backup
    if ours and whole:
        return "restored from the backup", backup
    what, new = KINDS[file.kind].undo(record, backup, current, ours)
    return what, _KEEP if new is None else new


def _after(manifest: Manifest, files: list[SeatFile], fs: RealFS, stamp: str) -> Manifest:
    """The manifest after a rollback: what is on disk now, with nothing left to undo."""
    records: dict[str, FileRecord] = {}
    for file in files:
        earlier = manifest.files.get(file.name)
        if earlier is None:
            continue
        data = fs.read(file.spot) if not fs.dry_run else None
        if data is None:
            continue
        kind = KINDS.get(earlier.kind)  # type: ignore[call-overload]  # a manifest is read, not trusted
        record = kind.recorded(earlier, data) if kind else FileRecord(earlier.kind, sha256=bytes_hash(data))
        records[file.name] = record
    return Manifest(manifest.fleet, manifest.seat, records, None, manifest.stamp, manifest.stamp or stamp)

"""Carrying out one seat's plan: check, back up, write atomically, then the manifest last."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

from provisioner.deploy.targetfs import RealFS, Store
from provisioner.errors import DeployError
from provisioner.plan import FileChange, SeatPlan
from provisioner.state import (
    Manifest,
    backup_name,
    backups_to_prune,
    bytes_hash,
    is_backup_name,
)
from provisioner.targets import Spot


@dataclass
class SeatOutcome:
    """What applying one seat did."""

    seat_id: str
    status: str  # applied | unchanged | conflict | failed | waiting
    written: list[Path] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)
    message: str = ""


def stamp_now() -> str:
    """The UTC timestamp used in backup names."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def backup_file_name(name: str) -> str:
    """A manifest name (possibly ``../../../Desktop/x.lnk``) as a flat backup file name."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "%".join(parts)


def _spot(change: FileChange) -> Spot:
    assert change.spot is not None, "the caller places every file"
    return change.spot


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
        return SeatOutcome(plan.seat_id, "conflict", message="; ".join(c for f in plan.files for c in f.conflicts))
    pending = [f for f in plan.files if f.pending]
    if not pending and plan.manifest is not None and _same_records(plan):
        return SeatOutcome(plan.seat_id, "unchanged")
    stamp = stamp or stamp_now()
    backups_dir = Store.backups(plan.state)
    outcome = SeatOutcome(plan.seat_id, "applied" if pending else "unchanged")
    with fs.lock(plan.state, f"seat {plan.seat_id}"):
        for where in sorted({_spot(f).where for f in pending}, key=lambda w: str(w.path)):
            fs.clean_temps(where)
        fs.clean_temps(plan.state)
        fs.clean_temps(backups_dir)
        existing_backups = [n for n in fs.listdir(backups_dir) if is_backup_name(n)]
        earlier_files = plan.manifest.files if plan.manifest else {}
        for change in plan.files:
            record = change.record
            record.changed, record.backup = False, None
            record.existed = change.old is not None
            record.sha256 = bytes_hash(change.new)
            if not pending and change.name in earlier_files:
                # a manifest-only update: the last apply that wrote files stays the one to roll back
                earlier = earlier_files[change.name]
                record.changed, record.backup = earlier.changed, earlier.backup
                record.existed, record.sha256 = earlier.existed, earlier.sha256
        for change in pending:
            found = fs.read_stat(_spot(change))
            current = found[0] if found is not None else None
            if current != change.old:
                raise DeployError(
                    f"{change.path}: changed on disk while applying (someone or MicroSIP wrote it); run apply again"
                )
            if backup and current is not None:
                name = backup_name(backup_file_name(change.name), stamp, existing_backups)
                existing_backups.append(name)
                fs.write(Spot(backups_dir, name), current, private=True, sync_folder=False)
                change.record.backup = name
                if not fs.dry_run:
                    outcome.backups.append(backups_dir.path / name)
            fs.write(_spot(change), change.new, private=change.kind == "ini", like=found[1] if found else None)
            change.record.changed = True
            outcome.written.append(change.path)
        previous = plan.manifest
        manifest = Manifest(
            plan.fleet,
            plan.seat_id,
            {f.name: f.record for f in plan.files},
            previous=previous.as_previous() if previous and pending else (previous.previous if previous else None),
            stamp=stamp if pending else (previous.stamp if previous else ""),
            undone=None if pending else (previous.undone if previous else None),
        )
        # Last, after every file's rename is durable. Its own rename need not be: a lost
        # manifest update only lags behind, it never claims a write that did not happen.
        fs.write(Store.manifest(plan.state), manifest.to_bytes(), private=True, sync_folder=False)
        protect = _referenced_backups(manifest)
        for change in pending:
            for old in backups_to_prune(backup_file_name(change.name), existing_backups, protect=protect):
                fs.remove(Spot(backups_dir, old))
    return outcome


def _same_records(plan: SeatPlan) -> bool:
    """Whether the manifest already records what this plan would (nothing to update)."""
    assert plan.manifest is not None
    known = plan.manifest.files
    if known.keys() != {f.name for f in plan.files}:
        return False
    for change in plan.files:
        earlier = known[change.name]
        if earlier.managed != change.record.managed:
            return False
        if change.kind == "owned" and earlier.sha256 != bytes_hash(change.new):
            return False
    return True


def _referenced_backups(manifest: Manifest) -> set[str]:
    names = {r.backup for r in manifest.files.values() if r.backup}
    if manifest.previous:
        names |= {r.backup for r in Manifest.from_json(manifest.previous).files.values() if r.backup}
    return names

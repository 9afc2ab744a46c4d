"""Carrying out one seat's plan: check, back up, write atomically, then the manifest last."""

from __future__ import annotations

import dataclasses
import datetime
import os
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from provisioner.errors import DeployError
from provisioner.files import KINDS
from provisioner.files.change import FileChange, SeatPlan
from provisioner.state import (
    FileRecord,
    Manifest,
    SpotRecord,
    backup_name,
    backups_to_prune,
    bytes_hash,
    is_backup_name,
)
from provisioner.targetfs.safefs import Unchanged
from provisioner.targetfs.system import RealFS, Staged, Store
from provisioner.targetfs.targets import Location, Spot


@dataclass
class SeatOutcome:
    """What applying one seat did."""

    seat_id: str
    status: Literal["applied", "unchanged", "conflict"]
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


#: What :func:`seat_steps` yields between its steps: the caller makes what was written durable
#: (:func:`apply_plans` drives many seats' steps together, one durable point per step).
Steps = Generator[None, None, SeatOutcome]

#: Seats applied together, sharing each wait for the disk. Bounded so that their open
#: folders stay well inside the descriptor limit and a failed sync fails few seats.
BATCH_SEATS = 64

#: What applying one seat came to: its outcome, or why it failed (that seat alone).
Applied = SeatOutcome | DeployError | OSError


def apply_plans(
    plans: Sequence[SeatPlan],
    fs: RealFS,
    key: bytes,
    *,
    force: bool = False,
    backup: bool = True,
    stamp: str | None = None,
) -> list[Applied]:
    """Carry out several seats' plans together, each as :func:`seat_steps` does; one result per plan.

    The seats share each wait for the disk (``with fs.batch()``) and nothing else: every
    seat keeps its own lock, old-or-new files, and its manifest written last, once its
    renames are durable. When the disk cannot make a batch durable, every seat still
    running fails with that error and nothing it staged replaces anything.
    """
    stamp = stamp or stamp_now()
    with fs.batch() as durable:
        runs = [_Run(seat_steps(plan, fs, key, force=force, backup=backup, stamp=stamp)) for plan in plans]
        running = [run for run in runs if run.resume()]
        for _ in range(2):  # staged files, then renames and manifests, become durable
            try:
                durable()
            except OSError as exc:
                for run in running:
                    run.fail(exc)
                running = []
            running = [run for run in running if run.resume()]
    return [run.result for run in runs]


@dataclass
class _Run:
    """One seat's steps while its batch runs."""

    steps: Steps
    result: Applied = dataclasses.field(default_factory=lambda: DeployError("not applied"))

    def resume(self) -> bool:
        """Run the seat to its next stop; False once it is done (its result is kept)."""
        try:
            next(self.steps)
            return True
        except StopIteration as done:
            self.result = done.value
        except (DeployError, OSError) as exc:
            self.result = exc
        return False

    def fail(self, exc: OSError) -> None:
        """Give up on the seat: what it staged is removed, nothing it did not rename is replaced."""
        self.steps.close()
        self.result = exc


def seat_steps(
    plan: SeatPlan,
    fs: RealFS,
    key: bytes,
    *,
    force: bool = False,
    backup: bool = True,
    stamp: str | None = None,
) -> Steps:
    """Carry out one seat's plan: check, back up, write atomically, then the manifest last.

    A generator, so that many seats can share each wait for the disk. It stops at two
    points, and the caller makes everything written so far durable
    (:meth:`RealFS.make_durable`) before resuming it:

    1. backups, new files and the manifest (sealed with ``key``) are staged under
       temporary names, so a full disk stops the seat before anything is replaced; then
    2. the files replace the old ones (a file that changed on disk since it was read is not
       replaced: DeployError); last,
    3. the manifest replaces the old one, once every rename before it is durable, so it
       never claims a write that did not happen. Its own rename need not be durable: a
       lost manifest update only lags behind.

    A seat in conflict is left untouched unless ``force``; an unchanged seat stops at
    once. Raises DeployError on I/O failures; files already replaced stay consistent
    (old or new bytes) and are recorded, and what was staged but not committed is removed.
    """
    if plan.action == "conflict" and not force:
        return SeatOutcome(plan.seat_id, "conflict", message="; ".join(c for f in plan.files for c in f.conflicts))
    pending = [f for f in plan.files if f.pending]
    if not pending and plan.manifest is not None and _same_records(plan):
        return SeatOutcome(plan.seat_id, "unchanged")
    stamp = stamp or stamp_now()
    backups_dir = Store.backups(plan.state)
    outcome = SeatOutcome(plan.seat_id, "applied" if pending else "unchanged")
    staged: list[tuple[Staged, Unchanged | None, FileChange | None]] = []
    target = next((f.spot.where for f in plan.files if f.kind == "ini"), plan.files[0].spot.where)
    with fs.lock(plan.state, f"seat {plan.seat_id}"), fs.lock_target(target, f"seat {plan.seat_id}"):
        try:
            for where in sorted({f.spot.where for f in pending}, key=lambda w: str(w.path)):
                fs.clean_temps(where)
            fs.clean_temps(plan.state)
            fs.clean_temps(backups_dir)
            existing_backups = [n for n in fs.listdir(backups_dir) if is_backup_name(n)]
            records = _records(plan, pending)
            taken = _stage_files(pending, records, fs, staged, backups_dir, existing_backups, stamp, backup)
            manifest, pruned = _manifest(plan, pending, records, stamp, existing_backups, taken)
            sealed = fs.stage(Store.manifest(plan.state), manifest.to_bytes(key), private=True)
            staged.append((sealed, None, None))
            yield  # the staged files become durable

            _commit_files(plan, fs, staged, outcome, manifest, key)
            yield  # the renames become durable

            fs.commit(staged.pop()[0])
        finally:
            for item, _, _ in staged:  # a failure, or the caller gave up on this seat
                fs.discard(item)
        for old in pruned:
            fs.remove(Spot(backups_dir, old))
    return outcome


def _stage_files(
    pending: list[FileChange],
    records: dict[str, FileRecord],
    fs: RealFS,
    staged: list[tuple[Staged, Unchanged | None, FileChange | None]],
    backups_dir: Location,
    existing_backups: list[str],
    stamp: str,
    backup: bool,
) -> dict[str, str]:
    """Stage each pending file (its backup first); the backups taken, each with its bytes' hash."""
    taken: dict[str, str] = {}
    for change in pending:
        found = fs.read_settled(change.spot) if change.kind == "ini" else fs.read_stat(change.spot)
        current = found[0] if found is not None else None
        if current != change.old:
            raise DeployError(
                f"{change.path}: changed on disk while applying (someone or MicroSIP wrote it); run apply again"
            )
        if backup and current is not None:
            name = backup_name(backup_file_name(change.name), stamp, existing_backups)
            existing_backups.append(name)
            staged.append((fs.stage(Spot(backups_dir, name), current, private=True), None, None))
            records[change.name].backup = name
            taken[name] = bytes_hash(current)
        like = found[1] if found else None
        new = fs.stage(change.spot, change.new, private=KINDS[change.kind].private, like=like)
        staged.append((new, Unchanged(like), change))
    return taken


def _manifest(
    plan: SeatPlan,
    pending: list[FileChange],
    records: dict[str, FileRecord],
    stamp: str,
    existing_backups: list[str],
    taken: dict[str, str],
) -> tuple[Manifest, list[str]]:
    """The manifest once every pending file is written, and the old backups it no longer keeps."""
    for change in pending:
        records[change.name].changed = True
    previous = plan.manifest
    manifest = Manifest(
        plan.fleet,
        plan.seat_id,
        records,
        previous=previous.as_previous() if previous and pending else (previous.previous if previous else None),
        stamp=stamp if pending else (previous.stamp if previous else ""),
        undone=None if pending else (previous.undone if previous else None),
        inputs=plan.inputs,
    )
    protect = _referenced_backups(manifest)
    pruned = [
        old
        for change in pending
        for old in backups_to_prune(backup_file_name(change.name), existing_backups, protect=protect)
    ]
    kept = {**(previous.backups if previous else {}), **taken}
    manifest.backups = {
        name: digest for name, digest in kept.items() if name in existing_backups and name not in pruned
    }
    return manifest, pruned


def _commit_files(
    plan: SeatPlan,
    fs: RealFS,
    staged: list[tuple[Staged, Unchanged | None, FileChange | None]],
    outcome: SeatOutcome,
    manifest: Manifest,
    key: bytes,
) -> None:
    """Rename every staged file but the manifest into place (the last one staged).

    When one fails, the files renamed before it are recorded (a manifest saying what
    happened replaces the staged one, or, if even that cannot be written, the staged one
    is kept: it claims more, never less, so rollback can still undo what was written).
    """
    try:
        while len(staged) > 1:
            item, unchanged, replaced = staged[0]
            fs.commit(item, unchanged_since=unchanged)
            staged.pop(0)
            if replaced is None:
                if not fs.dry_run:
                    outcome.backups.append(item.spot.path)
            else:
                outcome.written.append(replaced.path)
    except (DeployError, OSError) as exc:
        if outcome.written:
            _record_partial(plan, fs, staged, manifest, key)
            raise DeployError(f"{exc}; already written: {', '.join(map(str, outcome.written))}") from None
        raise


def _record_partial(
    plan: SeatPlan,
    fs: RealFS,
    staged: list[tuple[Staged, Unchanged | None, FileChange | None]],
    manifest: Manifest,
    key: bytes,
) -> None:
    """After some files were written and one failed, leave a manifest that says so."""
    unwritten = {change.name for _, _, change in staged if change is not None}
    untaken = {item.spot.name for item, _, change in staged[:-1] if change is None}
    earlier = plan.manifest.files if plan.manifest else {}
    files = {name: record for name, record in manifest.files.items() if name not in unwritten}
    files.update({name: earlier[name] for name in unwritten if name in earlier})
    backups = {name: digest for name, digest in manifest.backups.items() if name not in untaken}
    truthful = dataclasses.replace(manifest, files=files, backups=backups)
    try:
        fs.write(Store.manifest(plan.state), truthful.to_bytes(key), private=True)
    except (DeployError, OSError):
        fs.commit(staged.pop()[0])  # the staged one claims more, and keeps every backup it names


def _records(plan: SeatPlan, pending: list[FileChange]) -> dict[str, FileRecord]:
    """Each file's manifest record before anything is written, from its plan's (the apply's own copy:
    backup and ``changed`` are set as they happen)."""
    earlier_files = plan.manifest.files if plan.manifest else {}
    records = {}
    for change in plan.files:
        digest = bytes_hash(change.new)
        record = dataclasses.replace(
            change.record, changed=False, backup=None, existed=change.old is not None, sha256=digest, seen=digest
        )
        record.spot = spot_record(change.spot)
        if not pending and change.name in earlier_files:
            # a manifest-only update: the last apply that wrote files stays the one to roll back
            earlier = earlier_files[change.name]
            record.changed, record.backup = earlier.changed, earlier.backup
            record.existed, record.sha256 = earlier.existed, earlier.sha256
        records[change.name] = record
    for refused in plan.refused:  # not reached this time: what the last apply recorded stays
        if refused.name in earlier_files:
            records[refused.name] = earlier_files[refused.name]
    return records


def spot_record(spot: Spot) -> SpotRecord:
    """A file's place as the manifest keeps it (the root absolute, so it holds from any folder)."""
    return os.path.abspath(spot.where.root), spot.where.parts, spot.where.home, spot.name


def _same_records(plan: SeatPlan) -> bool:
    """Whether the manifest already records what this plan would (nothing to update).

    With the plan's inputs known, that includes them and the bytes each file has now, so
    that the next run with the same inputs can tell at once that nothing changed.
    """
    assert plan.manifest is not None
    known = plan.manifest.files
    if known.keys() != {f.name for f in plan.files}:
        return False
    if plan.inputs is not None and plan.manifest.inputs != plan.inputs:
        return False
    for change in plan.files:
        earlier = known[change.name]
        if earlier.managed != change.record.managed or earlier.spot != spot_record(change.spot):
            return False  # a manifest from before spots were recorded gets them once
        if change.record.sha256 is not None and earlier.sha256 != change.record.sha256:  # judged on its bytes
            return False
        if plan.inputs is not None and earlier.seen != bytes_hash(change.new):
            return False
    return True


def _referenced_backups(manifest: Manifest) -> set[str]:
    names = {r.backup for r in manifest.files.values() if r.backup}
    if manifest.previous:
        names |= {r.backup for r in Manifest.from_json(manifest.previous).files.values() if r.backup}
    return names

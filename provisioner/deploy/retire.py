"""Retiring a seat that left the fleet: take back what the tool made, keep everything else.

A seat removed from the fleet has no fleet entry to say where its files are, so its
paths come from its manifest, sealed with the state folder's key (a manifest that does
not check out is never acted on). A launcher or phonebook the tool created is removed
when its bytes are still those the last apply wrote; an ini keeps MicroSIP's own state
and loses only the managed keys whose value is still the one the tool wrote. Anything
that changed since is kept and said so. Each file changed is backed up first; the
manifest goes last, and the backups stay in the seat's state folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from provisioner.deploy.apply import backup_file_name
from provisioner.errors import DeployError
from provisioner.files import microsip_ini
from provisioner.state import FileRecord, Manifest, backup_name, bytes_hash, is_backup_name
from provisioner.targetfs import safefs
from provisioner.targetfs.system import RealFS, Store
from provisioner.targetfs.targets import Location, Spot

#: Why a manifest from before the tool recorded where each file is cannot be retired.
NO_SPOTS = (
    "its manifest does not say where its files are (written by an older version of the tool); "
    "remove its launchers and ini keys by hand, or put the seat back in the fleet, apply once, then remove it"
)


@dataclass
class RetireOutcome:
    """What retiring one seat did (or, in a dry run, would do), file by file."""

    seat_id: str
    done: list[tuple[Path, str]] = field(default_factory=list)  # (file, what was done or why it was kept)
    dry_run: bool = False


def spots(manifest: Manifest) -> list[tuple[str, FileRecord, Spot]] | None:
    """Each recorded file with where it is; None when the manifest does not say for every file."""
    found = []
    for name, record in sorted(manifest.files.items()):
        if record.spot is None:
            return None
        root, parts, home, file_name = record.spot
        found.append((name, record, Spot(Location(Path(root), parts, home), file_name)))
    return found


def retire_seat(state: Location, manifest: Manifest, fs: RealFS, key: bytes, stamp: str) -> RetireOutcome:
    """Take back what the tool made for a seat that left the fleet, then forget the seat (DeployError if it cannot)."""
    files = spots(manifest)
    if files is None:
        raise DeployError(f"seat {manifest.seat}: {NO_SPOTS}")
    outcome = RetireOutcome(manifest.seat, dry_run=fs.dry_run)
    target = next((spot.where for _, record, spot in files if record.kind == "ini"), files[0][2].where)
    with fs.lock(state, f"seat {manifest.seat}"), fs.lock_target(target, f"seat {manifest.seat}"):
        taken = [n for n in fs.listdir(Store.backups(state)) if is_backup_name(n)]
        for name, record, spot in files:
            outcome.done.append((spot.path, _retire_file(fs, state, name, record, spot, stamp, taken)))
        fs.remove(Store.manifest(state))
    return outcome


def _retire_file(
    fs: RealFS, state: Location, name: str, record: FileRecord, spot: Spot, stamp: str, taken: list[str]
) -> str:
    """Retire one file; what was done, or why it was kept."""
    try:
        found = fs.read_stat(spot)
    except safefs.UnsafeError as exc:
        return f"kept: {exc}"
    if found is None:
        return "already gone"
    current, like = found
    if record.kind == "ini":
        what, new = microsip_ini.without_managed(record, current)
    elif record.existed:
        return "kept: it was there before the tool wrote it"
    elif bytes_hash(current) != record.sha256:
        return "kept: changed since the last apply"
    else:
        what, new = "removed", None
    if what.startswith("kept") or what.startswith("nothing"):
        return what
    backup = backup_name(backup_file_name(name), stamp, taken)
    taken.append(backup)
    fs.write(Spot(Store.backups(state), backup), current, private=True)
    if new is None:
        fs.remove(spot)
    else:
        fs.write(spot, new, private=True, like=like)
    return what

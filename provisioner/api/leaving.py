"""Seats that left the fleet: found in the state folder, listed by plan and verify, retired by ``apply --prune``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from provisioner import deploy
from provisioner.deploy import retire
from provisioner.errors import DeployError, display_path
from provisioner.fleet import Fleet
from provisioner.state import Manifest, ManifestError, parse_manifest
from provisioner.targetfs.targets import Location

#: What plan and verify say of a seat that left the fleet.
LEFT = "left the fleet; its files stay until `apply --prune` takes back what the tool made"


@dataclass
class Leaver:
    """A seat the state folder knows that the fleet no longer has."""

    seat_id: str
    state: Location
    manifest: Manifest | None
    files: list[Path]
    problem: str | None = None  # why it cannot be retired
    outcome: retire.RetireOutcome | None = None  # what apply --prune did

    @property
    def message(self) -> str:
        """What plan and verify say of it."""
        return LEFT

    def as_json(self) -> dict[str, object]:
        """Its entry in the JSON document's ``left`` list."""
        data: dict[str, object] = {"seat": self.seat_id, "files": [display_path(str(f)) for f in self.files]}
        if self.problem:
            data["error"] = self.problem
        if self.outcome is not None:
            data["retired"] = [{"path": display_path(str(p)), "result": what} for p, what in self.outcome.done]
        return data


def leavers(fleet: Fleet, store: deploy.Store, fs: deploy.RealFS, root: Path | None) -> list[Leaver]:
    """Each seat of this fleet the state folder recorded that the fleet no longer names.

    Only this fleet's manifests are looked at (a state folder may serve several fleets),
    and only seats whose id is gone: a seat that moved keeps its id and is not a leaver.
    Under ``root`` (a trial) a seat whose files lie outside it is listed, never retired.
    """
    if not store.exists():
        return []
    ids = {seat.id for seat in fleet.seats}
    found = []
    for name in sorted(fs.listdir(store.targets)):
        if store.seat_of(name) in ids:
            continue  # named after a seat the fleet has: its manifest need not be read
        state = store.targets.below(name)
        try:
            manifest = parse_manifest(fs.read(deploy.Store.manifest(state)), store.key())
        except (ManifestError, DeployError, OSError):
            continue  # not a manifest this state folder vouches for: never acted on
        if manifest is None or manifest.fleet != fleet.name or manifest.seat in ids:
            continue
        found.append(_leaver(state, manifest, root))
    fs.release()
    return found


def _leaver(state: Location, manifest: Manifest, root: Path | None) -> Leaver:
    placed = retire.spots(manifest)
    if placed is None:
        return Leaver(manifest.seat, state, manifest, [], retire.NO_SPOTS)
    files = [spot.path for _, _, spot in placed]
    outside = root is not None and not all(f.is_relative_to(root.absolute()) for f in files)
    problem = f"its files are not below --root {root}; left alone in this trial" if outside else None
    return Leaver(manifest.seat, state, manifest, files, problem)


def retire_all(found: list[Leaver], fs: deploy.RealFS, store: deploy.Store, stamp: str) -> None:
    """Retire each leaver that can be: one that cannot fails alone, and says why."""
    for leaver in found:
        if leaver.problem or leaver.manifest is None:
            continue
        try:
            leaver.outcome = retire.retire_seat(leaver.state, leaver.manifest, fs, store.key(), stamp)
        except (DeployError, OSError) as exc:
            leaver.problem = str(exc)
        finally:
            fs.release()

"""diff: which seats a change of fleet would change, from effective values (no secret is read).

Either side is a fleet file, a folder holding one, or a git revision of the checkout.
Both are loaded as ``validate`` loads them; nothing is rendered, so a secret is never
resolved: a changed reference shows as the reference (``env:PW_1000``), and a changed
plain-text password as a changed value that is never shown.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from provisioner import revisions
from provisioner.api.authoring import effective_values, shown_value
from provisioner.api.common import loaded
from provisioner.errors import FleetError, Loc, Problem, UsageError
from provisioner.fleet import Fleet, Seat
from provisioner.inputs.secrets import SecretRef

SeatChange = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class KeyChange:
    """One effective value that differs: its path and both sides as shown (None: not set there)."""

    path: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class SeatDiff:
    """One seat that the change adds, removes or changes."""

    seat_id: str
    change: SeatChange
    keys: tuple[KeyChange, ...] = ()


@dataclass
class FleetDiff:
    """Outcome of ``diff``: the seats that change, the fleet-wide values that do, and how many stay."""

    old: str  # each side as given (a path or a revision)
    new: str
    seats: list[SeatDiff] = field(default_factory=list)
    fleet: list[KeyChange] = field(default_factory=list)  # name, MicroSIP version
    unchanged: int = 0
    warnings: list[Problem] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything differs."""
        return bool(self.seats or self.fleet)

    def count(self, change: SeatChange) -> int:
        """How many seats have ``change``."""
        return sum(1 for seat in self.seats if seat.change == change)


def diff(old: str, new: str, *, fleet_name: str = "fleet.yaml", here: Path | None = None) -> FleetDiff:
    """Compare two fleets: each of ``old`` and ``new`` names a fleet file, a folder holding ``fleet_name``,
    or a git revision of the work tree around ``here`` (the current folder), whose ``fleet_name``
    (relative to ``here``) is read as that revision holds it."""
    folder = (here or Path.cwd()).resolve()
    with tempfile.TemporaryDirectory(prefix="provisioner-diff-") as scratch:
        before = _side(old, fleet_name, folder, Path(scratch) / "old")
        after = _side(new, fleet_name, folder, Path(scratch) / "new")
        return compare(before, after, old, new)


def compare(before: Fleet, after: Fleet, old: str = "old", new: str = "new") -> FleetDiff:
    """What differs between two loaded fleets, seat by seat."""
    result = FleetDiff(old, new, warnings=[*before.warnings, *after.warnings])
    result.fleet = _changes(_fleet_values(before), _fleet_values(after))
    earlier = {seat.id: seat for seat in before.seats}
    later = {seat.id: seat for seat in after.seats}
    for seat_id, seat in later.items():
        if seat_id not in earlier:
            result.seats.append(SeatDiff(seat_id, "added", tuple(_changes({}, _seat_values(seat)))))
            continue
        keys = _changes(_seat_values(earlier[seat_id]), _seat_values(seat))
        if keys:
            result.seats.append(SeatDiff(seat_id, "changed", tuple(keys)))
        else:
            result.unchanged += 1
    gone = [SeatDiff(seat_id, "removed") for seat_id in earlier if seat_id not in later]
    result.seats.extend(gone)
    return result


def _side(given: str, fleet_name: str, here: Path, scratch: Path) -> Fleet:
    """The fleet one side names: a file, a folder's ``fleet_name``, or a revision's."""
    path = Path(given)
    if path.is_file():
        return loaded(path)
    if path.is_dir():
        return loaded(path / fleet_name)
    top = revisions.top_level(here)
    revisions.extract(given, top, scratch)
    try:
        inside = (here / fleet_name).resolve().relative_to(top.resolve())
    except ValueError:
        raise UsageError(f"{fleet_name} is outside the git work tree {top}") from None
    try:
        return loaded(scratch / inside)
    except FleetError as exc:  # name the revision, not our scratch folder
        raise FleetError(_renamed(exc.errors, scratch, given), _renamed(exc.warnings, scratch, given)) from None


def _renamed(problems: list[Problem], scratch: Path, revision: str) -> list[Problem]:
    """Problems located in the extracted tree, as ``REVISION:path``."""
    out = []
    for problem in problems:
        file = problem.loc.file
        if file.startswith(str(scratch)):
            file = f"{revision}:{Path(file).relative_to(scratch).as_posix()}"
        loc = Loc(file, problem.loc.line, problem.loc.col)
        out.append(Problem(loc, problem.path, problem.message, problem.warning, code=problem.code))
    return out


#: A value as compared: what is shown, and what tells two apart when what is shown is the same.
Compared = tuple[str, str]


def _fleet_values(fleet: Fleet) -> dict[str, Compared]:
    return {"name": (fleet.name, fleet.name), "microsip": (fleet.version, fleet.version)}


def _seat_values(seat: Seat) -> dict[str, Compared]:
    """Every effective value of the seat, each contact on its own."""
    values = {path: _compared(value) for path, value in effective_values(seat) if path != "contacts"}
    for index, contact in enumerate(seat.contacts, start=1):
        text = ", ".join(f"{key}={value}" for key, value in sorted(contact.items()))
        values[f"contacts[{index}]"] = (text, text)
    return values


def _compared(value: Any) -> Compared:
    """A plain-text secret compares by a digest of it and shows as ``********``."""
    shown = shown_value(value)
    if isinstance(value, SecretRef) and value.kind == "literal":
        return shown, hashlib.sha256(value.ref.encode("utf-8")).hexdigest()
    return shown, shown


def _changes(before: dict[str, Compared], after: dict[str, Compared]) -> list[KeyChange]:
    return list(_each_change(before, after))


def _each_change(before: dict[str, Compared], after: dict[str, Compared]) -> Iterator[KeyChange]:
    for path in [*before, *(p for p in after if p not in before)]:
        old, new = before.get(path), after.get(path)
        if old is not None and new is not None and old[1] == new[1]:
            continue
        old_shown, new_shown = (old[0] if old else None), (new[0] if new else None)
        if old_shown is not None and old_shown == new_shown:  # a plain-text secret: say so, show neither
            new_shown = f"{new_shown} (another value)"
        yield KeyChange(path, old_shown, new_shown)

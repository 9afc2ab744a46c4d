"""Choosing seats and placing their files on their targets, before anything is read or written."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provisioner import deploy, runner
from provisioner.api.common import (
    FleetSource,
    exposed_folders,
    loaded,
    resolve_targets,
)
from provisioner.errors import (
    Problem,
    Problems,
)
from provisioner.files.change import SeatPlan
from provisioner.files.unchanged import unchanged_plan
from provisioner.fleet import Fleet, Seat
from provisioner.render.files import RenderedFile, RenderedSeat, Slot
from provisioner.render.renderer import Renderer, layout
from provisioner.runner import Keeper
from provisioner.targetfs import targets

Placed = list[tuple[targets.Spot, str, Slot]]
ProblemFields = tuple[str, int, int, str, str, bool, str]  # errors.Problem.as_tuple


@dataclass
class ChosenSeat:
    """A seat to deploy: its target, where each of its files goes there, and what they are made from."""

    seat: Seat
    target: targets.SeatTarget
    files: Placed  # (where, manifest name, slot)
    digests: Digests  # how :attr:`inputs` is worked out (one for the run)
    rendered: RenderedSeat | None = None  # made only when the seat is judged afresh
    kept: object = None  # or rendered by Prepared.check and kept by the runner's keeper until its turn
    #: The seat's manifest shows nothing changed since the last run: it is not rendered or judged.
    in_sync: bool = False
    # :attr:`inputs`, once worked out (kept in fields: a cached property would give each
    # seat a dictionary of its own, 1.5 KB in Python 3.11)
    _inputs: str | None = None
    _inputs_known: bool = False

    def unchanged(self, fleet: str, store: deploy.Store) -> SeatPlan:
        """The plan of a seat found in sync: every file unchanged (nothing was rendered)."""
        assert self.in_sync and self.inputs is not None
        placed = [(spot, name, slot[2]) for spot, name, slot in self.files]
        state = store.seat(self.target.seat_id, self.target.ini.spelled)
        return unchanged_plan(self.seat.id, fleet, placed, state, self.inputs)

    @property
    def inputs(self) -> str | None:
        """:meth:`Renderer.inputs` of the seat placed where its files go; None when it is always judged afresh.

        Worked out when first asked for, here or by a forked helper (which sends it back).
        """
        if not self._inputs_known:
            self.inputs = self.digests.of(self.seat, self.files)
        return self._inputs

    @inputs.setter
    def inputs(self, value: str | None) -> None:
        self._inputs, self._inputs_known = value, True

    def placed(self) -> list[tuple[targets.Spot, str, RenderedFile]]:
        """Each rendered file with where it goes (the seat must have been rendered)."""
        assert self.rendered is not None
        made = {file.slot: file for file in self.rendered.files}
        return [(spot, name, made[slot]) for spot, name, slot in self.files]


@dataclass(frozen=True)
class Digests:
    """Works out a seat's inputs digest, when first asked for (a forked helper may work it out instead)."""

    renderer: Renderer
    spelled: dict[Path, str]  # each target root as an absolute path (a .desktop launcher holds it)

    def of(self, seat: Seat, files: Placed) -> str | None:
        """The digest of the seat with its files placed as ``files``."""
        where = repr([(self.spelled[spot.where.root], spot.where.parts, spot.name, name) for spot, name, _ in files])
        return self.renderer.inputs(seat, where)


@dataclass
class Prepared:
    """A loaded fleet's chosen seats, placed on their targets, with the renderer that makes their files."""

    fleet: Fleet
    renderer: Renderer
    chosen: list[ChosenSeat]
    notes: list[Problem]  # what resolving the targets noticed (a Wine prefix that contradicts the fleet)
    keep: Callable[[], None]  # the runner's lasting(): what is built so far lives until the command ends

    #: What rendering found on the way (plan and verify render each seat as they judge it).
    problems: Problems = field(default_factory=Problems)
    keeper: Keeper | None = None  # how :meth:`check` keeps what it rendered

    @property
    def warnings(self) -> list[Problem]:
        """The fleet's warnings (rendering's among them, once :meth:`done`), then the targets' notes."""
        return [*self.fleet.warnings, *self.notes]

    def done(self) -> None:
        """Rendering is over: its warnings join the fleet's; FleetError if a seat could not be rendered."""
        self.fleet.add_warnings(self.problems.warnings)
        self.problems.raise_if_errors()

    def placed(self, item: ChosenSeat) -> list[tuple[targets.Spot, str, RenderedFile]] | None:
        """The seat's files with where each goes, rendered now unless they are already.

        None when the seat cannot be rendered: the problem is in :attr:`problems`.
        """
        if item.rendered is None and item.kept is not None and self.keeper is not None:
            item.rendered = RenderedSeat(item.seat, self.keeper.files(item.kept))
            item.kept = None
        elif item.rendered is None:
            item.rendered = self.renderer.render(item.seat, self.problems)
        return item.placed() if item.rendered is not None else None

    def check(self, items: list[ChosenSeat], *, digests: bool = True) -> None:
        """Render ``items`` now, so that bad input stops the run before anything is written.

        FleetError names every problem. What is rendered is kept by the runner's keeper
        (:meth:`provisioner.runner.Runner.keeper`), and written when each seat's turn comes:
        the files written are the files checked. The seats are rendered through the runner's
        map (on two cores, for the command line's), which also works out each seat's inputs
        digest unless ``digests`` is False (a run that will not record it).
        """
        if not items:
            return
        problems = Problems()
        run = runner.current()
        with run.bulk():
            first = items[0]  # its files are what the keeper keeps the others like
            first.rendered = self.renderer.render(first.seat, problems)
            self.keeper = run.keeper(first.rendered.files if first.rendered is not None else ())
            rest = items[1:]
            checked = run.map(rest, functools.partial(self._checked, digests=digests))
            for item, (found, inputs, kept) in zip(rest, checked, strict=True):
                for fields in found:
                    problem = Problem.of_tuple(fields)
                    (problems.warnings if problem.warning else problems.errors).append(problem)
                if digests:
                    item.inputs = inputs  # worked out already, perhaps by the helper
                item.kept = kept
        self.fleet.add_warnings(problems.warnings)
        problems.raise_if_errors()
        self.keep()

    def _checked(
        self, items: Sequence[ChosenSeat], *, digests: bool
    ) -> list[tuple[list[ProblemFields], str | None, object]]:
        """Render each seat: what rendering found, its inputs digest (if ``digests``) and its kept files."""
        assert self.keeper is not None
        answers = []
        for item in items:
            found = Problems()
            rendered = self.renderer.render(item.seat, found)
            kept = self.keeper.keep(rendered.files) if rendered else None
            inputs = item.inputs if digests else None
            answers.append(([problem.as_tuple() for problem in (*found.errors, *found.warnings)], inputs, kept))
        return answers


def prepare(
    fleet_path: FleetSource,
    seat_ids: list[str] | None,
    root: Path | None,
    environ: Mapping[str, str] | None,
    keep: Callable[[], None],
) -> Prepared:
    """Load, resolve targets and place each seat's files; FleetError on any bad input.

    Nothing is rendered and no secret read yet: a seat the manifest shows unchanged since
    the last run never is.
    Called inside the runner's :meth:`~provisioner.runner.Runner.lasting`, whose ``keep`` it is given.
    """
    fleet = loaded(fleet_path)
    keep()
    seats = fleet.chosen(seat_ids)
    resolved = resolve_targets(seats, root)
    renderer = Renderer(fleet, environ, root)
    chosen = []
    spelled: dict[Path, str] = {}  # each root as an absolute path (a .desktop launcher holds it)
    digests = Digests(renderer, spelled)
    with runner.current().bulk():
        for seat in seats:
            target = resolved[seat.id]
            files = placed_files(layout(seat), target)
            for spot, _, _ in files:
                if spot.where.root not in spelled:
                    spelled[spot.where.root] = os.path.abspath(spot.where.root)  # noqa: PTH100 - never resolved
            chosen.append(ChosenSeat(seat, target, files, digests))
    others = _the_others(fleet, seats, root) if seat_ids else []
    _check_collisions([(item.seat, item.files) for item in chosen] + others, spelled, {s.id for s in seats})
    notes = [
        Problem(seat.loc(("target",)), f"{seat.label}.target", note, warning=True, code="target-note")
        for seat in seats
        for note in resolved[seat.id].notes
    ]
    notes.extend(exposed_folders(fleet, seats, resolved))
    keep()
    return Prepared(fleet, renderer, chosen, notes, keep)


def _check_collisions(placed: list[tuple[Seat, Placed]], spelled: dict[Path, str], chosen: set[str]) -> None:
    """Two seats whose files land on the same path are bad input (exit 2), naming both.

    ``placed`` is every seat of the fleet that could be placed, with its files; only a
    pair with a ``chosen`` seat in it is reported (``--seat`` checks its seats against the
    whole fleet). ``spelled`` holds each root as an absolute path (the parts below are plain names).
    """
    owners: dict[str, Seat] = {}
    problems = Problems()
    reported: set[tuple[str, str]] = set()
    for seat, files in placed:
        for spot, _, _ in files:
            where = spot.where
            if where.root not in spelled:
                spelled[where.root] = os.path.abspath(where.root)  # noqa: PTH100 - never resolved
            key = os.path.normcase(os.path.join(spelled[where.root], *where.parts, spot.name))  # noqa: PTH118
            other = owners.setdefault(key, seat)
            if other is seat or (other.id, seat.id) in reported or not {other.id, seat.id} & chosen:
                continue
            reported.add((other.id, seat.id))
            problems.error(
                seat.source.loc(()),
                seat.label,
                f"{spot.path} is also a file of seat {other.id} ({other.source.loc(())}); two seats "
                "cannot share a file: give each its own user, folder or launcher name",
                code="shared-file",
            )
    problems.raise_if_errors()


def _the_others(fleet: Fleet, chosen: list[Seat], root: Path | None) -> list[tuple[Seat, Placed]]:
    """The fleet's other seats with their files, each that can be placed (the others' errors are not this run's)."""
    mine = {seat.id for seat in chosen}
    out = []
    for seat in fleet.seats:
        if seat.id in mine:
            continue
        try:
            out.append((seat, placed_files(layout(seat), targets.resolve(seat, root))))
        except targets.TargetError:
            continue
    return out


def placed_files(slots: tuple[Slot, ...], target: targets.SeatTarget) -> Placed:
    """Where each of the seat's files goes on this target, and its manifest name (relative to the ini)."""
    out = []
    home = target.ini.where
    for slot in slots:
        file_name, place, _ = slot
        where = target.place(place)
        if where is None:
            continue  # a place this target does not have
        spot = targets.Spot(where, file_name)
        if where.root == home.root:  # the usual case, worked out on the parts alone
            common = 0
            while common < min(len(where.parts), len(home.parts)) and where.parts[common] == home.parts[common]:
                common += 1
            steps = [".."] * (len(home.parts) - common) + list(where.parts[common:]) + [file_name]
            name = "/".join(steps)
        else:
            name = Path(os.path.relpath(spot.path, target.folder)).as_posix()
        out.append((spot, name, slot))
    return out

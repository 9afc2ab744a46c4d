"""plan, apply, verify and rollback: the seats' files judged against the disk, then written."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provisioner import deploy, runner
from provisioner.api import leaving
from provisioner.api.common import (
    MISSING_ROOT_HINTS,
    MISSING_ROOT_WORDS,
    FleetSource,
    loaded,
    resolve_targets,
    state_store,
)
from provisioner.api.placing import ChosenSeat, Prepared, placed_files, prepare
from provisioner.api.results import DeployResult, SeatReport
from provisioner.deploy import SeatOutcome
from provisioner.errors import (
    DeployError,
    UsageError,
)
from provisioner.files import KINDS
from provisioner.files.change import Drift, Judging, Refused, SeatPlan
from provisioner.files.unchanged import unchanged_since
from provisioner.fleet import Fleet, ini_key
from provisioner.render.files import RenderedFile
from provisioner.render.renderer import layout
from provisioner.state import EMPTY_HASH, FileRecord, Manifest, ManifestError, parse_manifest, unseal
from provisioner.targetfs import safefs, targets
from provisioner.targetfs.targets import Location


@dataclass(frozen=True)
class PlanOptions:
    """How plan and apply treat what is on disk: replace passwords, keep some of the user's values."""

    rotate_passwords: bool = False
    keep_user: frozenset[tuple[str, str]] = frozenset()  # --keep-user SECTION.KEY, this run only
    #: Render and judge every seat, even one its manifest shows unchanged since the last run
    #: (``--verbose``: only then can a plan say what it kept).
    judge_afresh: bool = False

    @property
    def default(self) -> bool:
        """Whether the files are judged as a plain ``apply`` judges them (what a manifest's inputs promise)."""
        return not self.rotate_passwords and not self.keep_user

    @classmethod
    def of(cls, rotate_passwords: bool, keep_user: list[str] | None, judge_afresh: bool = False) -> PlanOptions:
        """From the command line's words; UsageError for a name that is not SECTION.KEY."""
        pairs = set()
        for name in keep_user or []:
            section, key = ini_key(name)
            if not section or not key:
                raise UsageError(
                    f"--keep-user {name}: write SECTION.KEY as the ini names it, such as Settings.autoAnswer"
                )
            pairs.add((section, key))
        return cls(rotate_passwords, frozenset(pairs), judge_afresh)


def _manifest(fs: deploy.RealFS, store: deploy.Store, state: Location) -> tuple[Manifest | None, list[str]]:
    """The seat's manifest, if there is one, and a note when it is damaged (then there is none to trust)."""
    try:
        return (parse_manifest(fs.read(deploy.Store.manifest(state)), store.key()) if store.exists() else None), []
    except ManifestError as exc:
        return None, [f"{state.path}: {exc}; conflicts cannot be detected, --force rewrites it"]


def _in_sync(item: ChosenSeat, fs: deploy.RealFS, store: deploy.Store) -> bool:
    """Whether the seat's manifest shows nothing changed since the last run (:func:`unchanged_since`).

    That takes the same inputs the manifest records, and every file with the bytes that
    run left. A seat that cannot be read is not in sync: its own judging says why.
    """
    if item.inputs is None:
        return False
    state = store.seat(item.target.seat_id, item.target.ini.spelled)
    try:
        data = fs.read(deploy.Store.manifest(state))
        manifest = json.loads(unseal(data, store.key())) if data is not None else None
        if not isinstance(manifest, dict) or manifest.get("inputs") != item.inputs:
            return False
        found = {name: fs.read(spot) for spot, name, _ in item.files}
    except (DeployError, OSError, ValueError):
        return False
    finally:
        fs.release()
    return unchanged_since(manifest, item.inputs, found)


def _plan_seat(
    fleet: Fleet,
    item: ChosenSeat,
    files: list[tuple[targets.Spot, str, RenderedFile]],
    fs: deploy.RealFS,
    store: deploy.Store,
    options: PlanOptions,
) -> SeatPlan:
    target = item.target
    state = store.seat(target.seat_id, target.ini.spelled)
    manifest, notes = _manifest(fs, store, state)
    judging = Judging(fleet.ansi, options.rotate_passwords, options.keep_user, tuple(notes))
    changes = []
    refused = []
    for spot, name, file in files:
        earlier = manifest.files.get(name) if manifest else None
        try:
            current = _current(fs, spot, file, earlier)
        except safefs.UnsafeError as exc:
            if file.kind != "owned":
                raise  # the ini or the phonebook: the seat cannot be applied safely at all
            refused.append(Refused(name, spot.path, _refusal(exc, target, spot)))
            continue
        changes.append(KINDS[file.kind].plan(file, name, spot, current, earlier, judging))
    inputs = item.inputs if options.default and not refused else None  # recorded only when judged the default way
    return SeatPlan(
        target.seat_id, fleet.name, tuple(changes), state, manifest, tuple(notes), tuple(refused), inputs=inputs
    )


def _refusal(exc: safefs.UnsafeError, target: targets.SeatTarget, spot: targets.Spot) -> str:
    """Why a launcher is refused, with the way out (Wine's stock prefix links Desktop to $HOME)."""
    if target.kind == "wine" and "Desktop" in spot.where.parts:
        return (
            f"{exc}: Wine links Desktop to $HOME (wineboot makes it so); drop `desktop` from `shortcuts`, "
            "or make Desktop a plain folder in the prefix (remove the link, then mkdir Desktop)"
        )
    return str(exc)


def _current(fs: deploy.RealFS, spot: targets.Spot, file: RenderedFile, earlier: FileRecord | None) -> bytes | None:
    """The bytes a file has now; an ini is read until two reads agree (MicroSIP saves it in place).

    An ini found empty that held bytes when the tool last wrote it is never taken as the
    truth (it is most likely being saved this very moment): DeployError.
    """
    if file.kind != "ini":
        return fs.read(spot)
    found = fs.read_settled(spot)
    if found is not None and not found[0] and earlier is not None and earlier.sha256 not in (None, EMPTY_HASH):
        raise DeployError(
            f"{spot.path}: is empty, but held MicroSIP's settings when the tool last wrote it (MicroSIP may "
            "be saving it right now); left alone: run apply again, or delete the file if it was emptied on purpose",
            path=str(spot.path),
        )
    return found[0] if found is not None else None


def _seat_failure(report: SeatReport, exc: Exception, target: targets.SeatTarget) -> None:
    """Record why one seat could not be planned, applied or verified; the others go on."""
    waiting, message = _failure(exc, target)
    if waiting:
        report.waiting = message
    else:
        report.error = message
        report.error_path = exc.path if isinstance(exc, DeployError) else getattr(exc, "filename", None)


def _failure(exc: Exception, target: targets.SeatTarget) -> tuple[bool, str]:
    """``(waiting, message)``: a profile folder not there yet is waiting; anything else failed."""
    if isinstance(exc, safefs.MissingFolder) and exc.home:
        return True, (
            f"{exc.path} does not exist: {target.user or 'the user'} has not logged on yet "
            "(the profile folder is never created by this tool); run again after the first logon"
        )
    if isinstance(exc, safefs.MissingFolder):
        what, hint = MISSING_ROOT_WORDS[target.kind], MISSING_ROOT_HINTS[target.kind]
        return False, f"{exc.path}: the {what} does not exist (seat {target.seat_id}); {hint}"
    if isinstance(exc, DeployError):
        return False, str(exc)
    # an OSError the layer below did not word: still this seat's failure alone
    return False, f"seat {target.seat_id}: {type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"


def plan(
    fleet_path: FleetSource,
    *,
    seat_ids: list[str] | None = None,
    root: Path | None = None,
    rotate_passwords: bool = False,
    keep_user: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
    state: Path | None = None,
    judge_afresh: bool = False,
) -> DeployResult:
    """What ``apply`` would change on each target (nothing is written)."""
    options = PlanOptions.of(rotate_passwords, keep_user, judge_afresh)
    with runner.current().lasting() as keep:
        prepared = prepare(fleet_path, seat_ids, root, environ, keep)
        fs = deploy.RealFS()
        store = state_store(prepared.fleet.path, state)
        _sort_unchanged(prepared, store, options)

        def judge(item: ChosenSeat, report: SeatReport) -> None:
            files = prepared.placed(item)
            if files is not None:
                report.plan = _plan_seat(prepared.fleet, item, files, fs, store, options)

        reports = _judge_each(prepared, fs, store, judge, plans=True)
        left = leaving.leavers(prepared.fleet, store, deploy.RealFS(), root) if seat_ids is None else []
    return DeployResult(prepared.fleet, reports, prepared.warnings, left=left)


def _judge_each(
    prepared: Prepared,
    fs: deploy.RealFS,
    store: deploy.Store,
    judge: Callable[[ChosenSeat, SeatReport], None],
    *,
    plans: bool,
) -> list[SeatReport]:
    """Judge each seat not found unchanged, on its own: one that cannot be read fails alone, the others go on.

    With ``plans`` a seat found unchanged reports its plan (plan); otherwise only its report (verify).
    """
    reports = []
    for item in prepared.chosen:
        found = item.unchanged(prepared.fleet.name, store) if plans and item.in_sync else None
        report = SeatReport(found, item.seat.id)
        if not item.in_sync:
            try:
                judge(item, report)
            except (DeployError, OSError) as exc:
                report.drift = []
                _seat_failure(report, exc, item.target)
            finally:
                fs.release()
                item.rendered = None  # judged: its bytes need not be kept
        reports.append(report)
    fs.close()
    prepared.done()  # a seat that could not be rendered is bad input (exit 2)
    return reports


def _sort_unchanged(prepared: Prepared, store: deploy.Store, options: PlanOptions) -> list[ChosenSeat]:
    """Find the seats whose manifest shows nothing changed since the last run; return the others.

    Judged the default way only (what a manifest's inputs promise). Each seat's check only
    reads, so the runner's map may check a large fleet's seats on two cores.
    """
    chosen = prepared.chosen
    if options.judge_afresh or not options.default or not store.exists():
        return list(chosen)

    def check(items: Sequence[ChosenSeat]) -> list[tuple[str | None, bool]]:
        reader = deploy.RealFS()
        try:
            return [(item.inputs, _in_sync(item, reader, store)) for item in items]
        finally:
            reader.close()

    for item, (inputs, same) in zip(chosen, runner.current().map(chosen, check), strict=True):
        item.inputs = inputs  # worked out already, perhaps by the helper
        item.in_sync = same and inputs is not None
    return [item for item in chosen if not item.in_sync]


def apply(
    fleet_path: FleetSource,
    *,
    seat_ids: list[str] | None = None,
    root: Path | None = None,
    dry_run: bool = False,
    force: bool = False,
    rotate_passwords: bool = False,
    keep_user: list[str] | None = None,
    backup: bool = True,
    environ: Mapping[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    diffs: bool = False,
    state: Path | None = None,
    judge_afresh: bool = False,
    prune: bool = False,
) -> DeployResult:
    """Deploy: merge into existing files, back up, replace atomically, record a manifest.

    With ``diffs`` the result keeps each file's diff (for JSON output); otherwise
    file contents are released as soon as a seat is done. With ``prune``, each seat
    that left the fleet is retired (:mod:`provisioner.deploy.retire`).
    """
    if prune and seat_ids:
        raise UsageError("--prune retires the seats that left the fleet: it takes the whole fleet, not --seat")
    options = PlanOptions.of(rotate_passwords, keep_user, judge_afresh)
    with runner.current().lasting() as keep:
        prepared = prepare(fleet_path, seat_ids, root, environ, keep)
        fs = deploy.DryRunFS() if dry_run else deploy.RealFS()
        store = state_store(prepared.fleet.path, state)
        # bad input: nothing is written; a digest is recorded only when judged the default way
        prepared.check(_sort_unchanged(prepared, store, options), digests=options.default)
        left = leaving.leavers(prepared.fleet, store, fs, root) if seat_ids is None else []
        if not dry_run:
            store.ensure()
        run = _ApplyRun(prepared, fs, store, deploy.stamp_now(), force, backup, options, diffs)
        reports = run.all(prepared.chosen, progress)
        if prune:
            leaving.retire_all(left, fs, store, run.stamp)
        fs.close()
        prepared.fleet.add_warnings(prepared.problems.warnings)  # its errors failed their seats already
    return DeployResult(
        prepared.fleet, reports, prepared.warnings, dry_run=dry_run, applied=True, left=left, pruned=prune
    )


@dataclass
class _ApplyRun:
    """One apply over many seats: what every seat's apply shares."""

    prepared: Prepared
    fs: deploy.RealFS
    store: deploy.Store
    stamp: str
    force: bool
    backup: bool
    options: PlanOptions
    diffs: bool

    def all(self, chosen: list[ChosenSeat], progress: Callable[[int, int], None] | None) -> list[SeatReport]:
        """Plan and apply seat by seat, a batch at a time (:func:`deploy.apply_plans`).

        A seat found unchanged since the last run is not touched at all; one that cannot
        be planned or applied fails alone.
        """
        reports: list[SeatReport] = []
        for first in range(0, len(chosen), deploy.BATCH_SEATS):
            batch = chosen[first : first + deploy.BATCH_SEATS]
            for item, report in zip(batch, self._batch(batch), strict=True):
                if report.plan is not None:  # applied: what remains is the report
                    files = tuple(change.released(keep_diff=self.diffs) for change in report.plan.files)
                    report.plan = dataclasses.replace(report.plan, manifest=None, files=files)
                item.rendered = None
                reports.append(report)
                if progress:
                    progress(len(reports), len(chosen))
        return reports

    def _batch(self, batch: list[ChosenSeat]) -> list[SeatReport]:
        reports = [SeatReport(None, item.seat.id) for item in batch]
        planned = [(item, report) for item, report in zip(batch, reports, strict=True) if self._plan(item, report)]
        applied = deploy.apply_plans(
            [report.plan for _, report in planned if report.plan is not None],
            self.fs,
            self.store.key(),
            force=self.force,
            backup=self.backup,
            stamp=self.stamp,
        )
        for (item, report), result in zip(planned, applied, strict=True):
            if isinstance(result, deploy.SeatOutcome):
                report.outcome = result
            else:
                _seat_failure(report, result, item.target)
        return reports

    def _plan(self, item: ChosenSeat, report: SeatReport) -> bool:
        """Plan one seat into its report; whether it is to be applied (not unchanged, not failed)."""
        if item.in_sync:
            report.plan = item.unchanged(self.prepared.fleet.name, self.store)
            report.outcome = SeatOutcome(item.seat.id, "unchanged")
            return False
        try:
            files = self.prepared.placed(item)
            if files is None:  # rendered once already: only a template that changed meanwhile
                why = "; ".join(str(problem) for problem in self.prepared.problems.errors)
                raise DeployError(f"seat {item.seat.id}: cannot be rendered again: {why}")
            report.plan = _plan_seat(self.prepared.fleet, item, files, self.fs, self.store, self.options)
        except (DeployError, OSError) as exc:
            _seat_failure(report, exc, item.target)
            return False
        return True


def verify(
    fleet_path: FleetSource,
    *,
    seat_ids: list[str] | None = None,
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
    state: Path | None = None,
    judge_afresh: bool = False,
) -> DeployResult:
    """Compare deployed files with the fleet, key by managed key.

    A seat whose manifest shows nothing changed since the last run (same inputs, every
    file as that run left it, which was in sync) is not rendered or judged again.
    """
    with runner.current().lasting() as keep:
        prepared = prepare(fleet_path, seat_ids, root, environ, keep)
        fs = deploy.RealFS()
        store = state_store(prepared.fleet.path, state)
        _sort_unchanged(prepared, store, PlanOptions(judge_afresh=judge_afresh))
        judging = Judging(prepared.fleet.ansi)

        def judge(item: ChosenSeat, report: SeatReport) -> None:
            for spot, name, file in prepared.placed(item) or []:
                report.drift += _verify_file(fs, spot, name, file, item.target, judging)

        reports = _judge_each(prepared, fs, store, judge, plans=False)
        left = leaving.leavers(prepared.fleet, store, deploy.RealFS(), root) if seat_ids is None else []
    return DeployResult(prepared.fleet, reports, prepared.warnings, verified=True, left=left)


def _verify_file(
    fs: deploy.RealFS, spot: targets.Spot, name: str, file: RenderedFile, target: targets.SeatTarget, judging: Judging
) -> list[Drift]:
    """How one deployed file differs from the fleet; a launcher that cannot be reached safely is said so alone."""
    try:
        current = fs.read(spot)
    except safefs.UnsafeError as exc:
        if file.kind != "owned":
            raise  # the ini or the phonebook: the seat cannot be checked at all
        return [Drift(spot.path, "", f"cannot be checked: {_refusal(exc, target, spot)}")]
    return KINDS[file.kind].verify(file, name, spot.path, current, judging)


@dataclass
class RollbackResult:
    """Outcome of ``rollback`` over the named seats."""

    seats: list[deploy.RollbackOutcome]
    errors: list[tuple[str, str]] = field(default_factory=list)  # (seat, why it failed)
    backups: dict[str, list[deploy.BackupEntry]] = field(default_factory=dict)  # --list


def rollback(
    fleet_path: FleetSource,
    seat_ids: list[str],
    *,
    root: Path | None = None,
    dry_run: bool = False,
    to: str | None = None,
    list_only: bool = False,
    state: Path | None = None,
) -> RollbackResult:
    """Undo each named seat's last apply (or go back to the backups taken at ``to``); or list backups."""
    fleet = loaded(fleet_path)
    seats = fleet.chosen(seat_ids)
    resolved = resolve_targets(seats, root)
    store = state_store(fleet.path, state)
    fs = deploy.DryRunFS() if dry_run or list_only else deploy.RealFS()
    result = RollbackResult([])
    stamp = deploy.stamp_now()
    for seat in seats:
        target = resolved[seat.id]
        seat_state = store.seat(seat.id, target.ini_path)
        try:
            if not store.exists():
                result.backups[seat.id] = []
                if not list_only:
                    result.seats.append(deploy.RollbackOutcome(seat.id, nothing=deploy.NOTHING_RECORDED))
                continue
            if list_only:
                result.backups[seat.id] = deploy.list_backups(fs, seat_state, store.key())
                continue
            files = [deploy.SeatFile(spot, name, slot[2]) for spot, name, slot in placed_files(layout(seat), target)]
            result.seats.append(deploy.rollback_seat(seat.id, files, seat_state, fs, store.key(), to=to, stamp=stamp))
        except (DeployError, OSError) as exc:
            result.errors.append((seat.id, _failure(exc, target)[1]))
        finally:
            fs.release()
    fs.close()
    return result

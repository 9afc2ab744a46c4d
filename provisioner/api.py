"""What the CLI calls: one function per command, returning plain results.

Nothing here prints; the CLI decides how results look. Errors are raised as
:class:`provisioner.errors.ProvisionerError` subclasses carrying their exit code.
"""

from __future__ import annotations

import codecs
import json
import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provisioner import __version__, catalogue, deploy, launch_rules, legacy_flags, safefs, targets
from provisioner._resources import data_dir
from provisioner.deploy import SeatOutcome
from provisioner.errors import (
    DeployError,
    FleetError,
    Loc,
    Problem,
    Problems,
    UsageError,
    display_path,
    quoted,
    sort_problems,
)
from provisioner.fleet import Fleet, Seat, ini_key, load_fleet, origin_loc
from provisioner.loading import bulk_allocation, long_lived
from provisioner.models import fleet_models
from provisioner.plan import KINDS, Drift, Judging, SeatPlan, unchanged_plan, unchanged_since
from provisioner.rendered import RENDER_PLACES, RenderedFile, RenderedSeat, Slot
from provisioner.rendering import Renderer, layout, render_fleet
from provisioner.secrets import SecretRef
from provisioner.state import Manifest, ManifestError, parse_manifest
from provisioner.targets import Location


@dataclass
class ValidateResult:
    """Outcome of ``validate``."""

    fleet: Fleet
    warnings: list[Problem]
    secrets_checked: bool = False


def validate(
    fleet_path: FleetSource,
    *,
    strict: bool = False,
    secrets: bool = False,
    check_targets: bool = False,
    environ: Mapping[str, str] | None = None,
) -> ValidateResult:
    """Load, merge and check a fleet, and resolve every seat's target (on paper).

    With ``secrets``, also resolve every secret (in memory); with ``check_targets``,
    also check that every target root exists on this machine.
    """
    fleet = _loaded(fleet_path, strict=strict)
    resolved = _resolve_targets([seat for seat in fleet.seats if seat.target], None)
    if check_targets:
        _check_roots(fleet, resolved)
    if secrets:
        render_fleet(fleet, environ=environ)
    return ValidateResult(fleet, fleet.warnings, secrets)


#: What to do about a target root that does not exist (validate --targets, plan, apply).
MISSING_ROOT_HINT = (
    "create it, point the target at the folder that holds the user profiles "
    "(C:/Users on a Windows admin PC, a mounted //server/profiles share), or re-root a trial with --root DIR"
)


def _check_roots(fleet: Fleet, resolved: dict[str, targets.SeatTarget]) -> None:
    """FleetError for each target root that is not a folder here, at the line that names it."""
    problems = Problems()
    reported: set[Path] = set()
    for seat in fleet.seats:
        target = resolved.get(seat.id)
        if target is None or target.root in reported:
            continue
        field_name = {"appdata": "root", "portable": "path", "wine": "prefix"}[target.kind]
        if target.kind == "portable" or target.root.is_dir():
            continue  # a portable folder (a USB stick, say) is created below an existing parent
        reported.add(target.root)
        problems.error(
            seat.loc(("target", field_name)),
            f"{seat.label}.target.{field_name}",
            f"the target root {display_path(str(target.root))} does not exist; {MISSING_ROOT_HINT}",
        )
    problems.raise_if_errors()


@dataclass
class RenderResult:
    """Outcome of ``render``: the files written."""

    fleet: Fleet
    written: list[Path] = field(default_factory=list)


def render(
    fleet_path: FleetSource,
    out: Path,
    *,
    seat_ids: list[str] | None = None,
    strict: bool = False,
    environ: Mapping[str, str] | None = None,
) -> RenderResult:
    """Render seats into ``out/<seat id>/``; everything is rendered in memory before any write."""
    fleet = _loaded(fleet_path, strict=strict)
    rendered = render_fleet(fleet, seat_ids, environ)
    files = [(out / r.seat.id / RENDER_PLACES[f.place] / f.name, f.data) for r in rendered for f in r.files]
    return RenderResult(fleet, deploy.write_files(files))


@dataclass
class SeatRow:
    """One line of ``seats``: who the seat is for and where it goes."""

    id: str
    user: str
    target: str  # "appdata users", "portable E:/MicroSIP", ... ("-" without one)
    profiles: list[str]
    computer: str | None = None


def seats(fleet_path: FleetSource) -> tuple[list[SeatRow], list[Problem]]:
    """The fleet's seats, each with its user, target and profiles (and the fleet's warnings)."""
    fleet = _loaded(fleet_path)
    rows = []
    for seat in fleet.seats:
        target = seat.target or {}
        where = target.get("root") or target.get("path") or target.get("prefix") or ""
        shown = f"{target['type']} {where}".strip() if target else "-"
        rows.append(SeatRow(seat.id, seat.user, shown, list(seat.profiles), seat.computer))
    return rows, fleet.warnings


@dataclass
class ExplainRow:
    """One effective value of a seat and where it came from."""

    path: str
    value: str
    origin: str
    layer: str


def _shown(value: Any) -> str:
    if isinstance(value, SecretRef):
        return value.describe()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if value == "":
        return '""'
    return str(value)


@dataclass
class ExplainResult:
    """Outcome of ``explain``: each named seat with its rows."""

    seats: list[tuple[Seat, list[ExplainRow]]]
    warnings: list[Problem]


def explain(fleet_path: FleetSource, seat_ids: list[str]) -> ExplainResult:
    """Each named seat's effective values, with the file:line and layer that set each (secrets masked)."""
    fleet = _loaded(fleet_path)
    return ExplainResult([(seat, _explain_seat(seat)) for seat in fleet.chosen(seat_ids)], fleet.warnings)


def _explain_seat(seat: Seat) -> list[ExplainRow]:
    rows: list[ExplainRow] = []

    def add(path: str, value: Any, origins: dict[Any, Any], key: tuple[Any, ...], fallback: str) -> None:
        origin = origins.get(key)
        if origin is None:
            rows.append(ExplainRow(path, _shown(value), "-", seat.implied.get(key, fallback)))
        else:
            rows.append(ExplainRow(path, _shown(value), str(origin_loc(origin, key)), origin[0].label))

    seat_fields = seat.source.doc.get(seat.source.prefix) or {}
    own = {("user",): (seat.source, ()), ("active_account",): (seat.source, ())}
    own = {k: v for k, v in own.items() if k[0] in seat_fields}
    add("user", seat.user, own, ("user",), "default (the seat id)")
    add("install.mode", seat.install_mode, seat.origins, ("install", "mode"), "implied by the target")
    add("install.exe", seat.exe, seat.origins, ("install", "exe"), "default for the install mode")
    for section in ("target", "launch"):
        values = seat.target if section == "target" else seat.launch
        for name, value in (values or {}).items():
            add(f"{section}.{name}", value, seat.origins, (section, name), "-")
    add("active_account", seat.active_account, own, ("active_account",), "default")
    for name, value in seat.settings.items():
        add(f"settings.{name}", value, seat.origins, ("settings", name), "-")
    for index, account in enumerate(seat.accounts):
        for name, value in account.items():
            add(f"accounts[{index + 1}].{name}", value, seat.account_origins[index], (name,), "-")
    for section, entries in seat.ini.items():
        for name, value in entries.items():
            add(f"ini.{section}.{name}", value, seat.origins, ("ini", section, name), "-")
    if seat.enforce:
        add("enforce", seat.enforce, seat.origins, ("enforce",), "-")
    for index, dial in enumerate(seat.speed_dials, start=1):
        text = f"{dial['label']} -> {dial.get('number') or '(the current call)'} ({dial.get('type') or 'call'})"
        add(f"speed_dials[{index}]", text, seat.origins, ("speed_dials",), "-")
    if seat.contacts:
        text = f"{len(seat.contacts)} contact{'s' if len(seat.contacts) != 1 else ''} ({seat.contacts_mode})"
        add("contacts", text, seat.origins, ("contacts",), "-")
    return rows


def keys(name: str | None = None) -> list[catalogue.Key]:
    """Catalogue entries: all of them, or those matching ``name`` (case-insensitive)."""
    if name is None:
        return list(catalogue.all_keys())
    found = catalogue.find(name)
    if not found:
        hint = catalogue.did_you_mean(name, [k.name for k in catalogue.all_keys()])
        raise UsageError(f"no key named {quoted(name)} in the catalogue{hint}")
    return found


def schema(version: str | None = None) -> dict[str, Any]:
    """JSON Schema of the fleet format, for editors' YAML language servers."""
    version = version or catalogue.default_version()
    if version not in catalogue.versions():
        raise UsageError(f"unknown MicroSIP version {quoted(version)}; use one of {', '.join(catalogue.versions())}")
    document = fleet_models(version)["fleet"].model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"microsip-provisioner fleet (format 1, MicroSIP {version})",
        **document,
    }


STARTER_FILES = ("fleet.yaml", "secrets/alice.txt", ".gitignore")
#: The starter seat's profile folder in the scratch tree the starter fleet targets.
STARTER_PROFILE = Path("users") / "alice"


def init(folder: Path) -> list[Path]:
    """Write a starter fleet project into ``folder`` (which may exist, but not hold these files)."""
    source = data_dir("profiles") / "starter"
    files = [
        (
            folder / name,
            (source / name.replace(".gitignore", "gitignore")).read_bytes(),
            0o600 if name.startswith("secrets/") else 0o644,
        )
        for name in STARTER_FILES
    ]
    try:
        existing = [str(p) for p, _, _ in files if p.exists() or p.is_symlink()]
    except OSError as exc:
        raise UsageError(f"{folder}: cannot be used ({exc.strerror or exc})") from None
    if existing:
        raise UsageError(f"{existing[0]} already exists; choose an empty folder (nothing was written)")
    written = deploy.write_new_files(files)
    profile = folder / STARTER_PROFILE
    if not profile.exists():  # Alice's profile folder in the scratch tree, so `plan` works as shipped
        deploy.make_folders(profile)
        written.append(profile)
    return written


# --- deploy: plan, apply, verify, rollback -----------------------------------------------------

#: The admin's state folder (manifests, backups, locks), relative to the fleet file's folder.
STATE_FOLDER = ".provisioner-state"


#: A fleet file, or a fleet already loaded with :func:`load` (load once, then plan, apply, verify...).
FleetSource = Path | Fleet


def load(fleet_path: Path, *, strict: bool = False) -> Fleet:
    """Load, validate and merge a fleet once; every command below also takes the result."""
    return _loaded(fleet_path, strict=strict)


def _loaded(source: FleetSource, *, strict: bool = False) -> Fleet:
    return source if isinstance(source, Fleet) else load_fleet(source, strict=strict)


def state_store(fleet_path: Path, state: Path | None) -> deploy.Store:
    """Where manifests and backups live: ``--state``, else ``$PROVISIONER_STATE``, else beside the fleet."""
    chosen = state or (Path(os.environ["PROVISIONER_STATE"]) if os.environ.get("PROVISIONER_STATE") else None)
    return deploy.Store(chosen if chosen is not None else fleet_path.parent / STATE_FOLDER)


@dataclass
class SeatReport:
    """One seat in a plan, apply or verify result."""

    plan: SeatPlan | None
    seat_id: str
    outcome: SeatOutcome | None = None
    drift: list[Drift] = field(default_factory=list)
    error: str | None = None
    waiting: str | None = None  # the user's profile folder does not exist yet
    #: The file or folder a failure is about (DeployError.path), for scripts.
    error_path: str | None = None

    @property
    def status(self) -> str:
        """failed, waiting, or the plan's/outcome's word."""
        if self.error is not None:
            return "failed"
        if self.waiting is not None:
            return "waiting"
        if self.outcome is not None:
            return self.outcome.status
        return self.plan.action if self.plan is not None else "unchanged"


@dataclass
class DeployResult:
    """Outcome of plan, apply or verify over the chosen seats."""

    fleet: Fleet
    seats: list[SeatReport]
    warnings: list[Problem]
    dry_run: bool = False
    applied: bool = False  # from apply (its JSON says whether it was a dry run)
    verified: bool = False  # from verify: drift, not changes

    @property
    def pending(self) -> bool:
        """Whether applying would still change something."""
        return any(r.plan is not None and r.plan.action != "unchanged" for r in self.seats)

    @property
    def failed(self) -> bool:
        """Whether a seat failed or was refused (exit 3)."""
        return any(
            r.error is not None or (r.outcome is not None and r.outcome.status == "conflict") for r in self.seats
        )

    def exit_code(self, *, pending_is_failure: bool = False) -> int:
        """The command's exit code (the contract's): 3 when a seat failed or was refused, 1 for drift from
        ``verify`` or, with ``pending_is_failure`` (``plan --exit-code``, ``apply --dry-run``), for pending
        changes, else 0."""
        if self.failed or any(r.error for r in self.seats):
            return 3
        if self.verified:
            return 1 if any(r.drift for r in self.seats) else 0
        return 1 if pending_is_failure and self.pending else 0

    def as_json(self, exit_code: int) -> dict[str, Any]:
        """The JSON document the CLI prints: ``ok`` is true exactly when ``exit_code`` is 0."""
        targets_json = [t for r in self.seats for t in (_verify_json(r) if self.verified else _target_json(r))]
        counts: dict[str, int] = {}
        for target in targets_json if self.verified else [{"action": r.status} for r in self.seats]:
            counts[target["action"]] = counts.get(target["action"], 0) + 1
        return {
            "ok": exit_code == 0,
            "errors": [],
            "warnings": [p.as_json() for p in self.warnings],
            "exit_code": exit_code,
            **({} if self.verified else {"dry_run": self.dry_run} if self.applied else {}),
            "tool": TOOL,
            "summary": counts,
            "targets": targets_json,
        }


#: Named in JSON output, so a CI log says which version produced it.
TOOL = f"microsip-provisioner {__version__}"


def _target_json(report: SeatReport) -> list[dict[str, Any]]:
    if report.plan is None:
        word = "waiting" if report.waiting else "failed"
        return [
            {
                "seat": report.seat_id,
                "path": None,
                "action": word,
                "diff": "",
                ("message" if report.waiting else "error"): report.waiting or report.error,
                **({"error_path": report.error_path} if report.error_path else {}),
            }
        ]
    out = []
    for change in report.plan.files:
        entry: dict[str, Any] = {
            "seat": report.seat_id,
            "path": display_path(str(change.path)),
            "action": change.action,
            "diff": change.diff,
            "notes": change.notes + change.details,
            "conflicts": change.conflicts,
        }
        if report.outcome is not None:
            entry["result"] = report.outcome.status
        if report.error:
            entry["error"] = report.error
        out.append(entry)
    return out


def _verify_json(report: SeatReport) -> list[dict[str, Any]]:
    action = "failed" if report.error else "waiting" if report.waiting else "drift" if report.drift else "unchanged"
    return [
        {
            "seat": report.seat_id,
            "path": display_path(str(report.drift[0].file)) if report.drift else None,
            "action": action,
            "diff": "",
            "drift": [{"key": d.key, "message": d.message} for d in report.drift],
            **({"error": report.error} if report.error else {}),
            **({"error_path": report.error_path} if report.error_path else {}),
            **({"message": report.waiting} if report.waiting else {}),
        }
    ]


Placed = list[tuple[targets.Spot, str, Slot]]


@dataclass
class ChosenSeat:
    """A seat to deploy: its target, where each of its files goes there, and what they are made from."""

    seat: Seat
    target: targets.SeatTarget
    files: Placed  # (where, manifest name, slot)
    inputs: str | None  # Renderer.inputs: None when the seat is always judged afresh
    rendered: RenderedSeat | None = None  # made only when the seat is judged afresh
    #: The seat's plan when the manifest shows nothing changed since the last run (nothing rendered).
    unchanged: SeatPlan | None = None

    def placed(self) -> list[tuple[targets.Spot, str, RenderedFile]]:
        """Each rendered file with where it goes (the seat must have been rendered)."""
        assert self.rendered is not None
        made = {file.slot: file for file in self.rendered.files}
        return [(spot, name, made[slot]) for spot, name, slot in self.files]


def _resolve_targets(seats: list[Seat], root: Path | None) -> dict[str, targets.SeatTarget]:
    """Each seat's target; FleetError naming every seat whose target cannot be resolved."""
    problems = Problems()
    resolved: dict[str, targets.SeatTarget] = {}
    for seat in seats:
        try:
            resolved[seat.id] = targets.resolve(seat, root)
        except targets.TargetError as exc:
            problems.errors.extend(exc.errors)
    problems.raise_if_errors()
    return resolved


@dataclass
class _Prepared:
    """A loaded fleet's chosen seats, placed on their targets, with the renderer that makes their files."""

    fleet: Fleet
    renderer: Renderer
    chosen: list[ChosenSeat]
    warnings: list[Problem]
    keep: Callable[[], None]  # loading.long_lived: what is built so far lives until the command ends

    def render(self, items: list[ChosenSeat]) -> None:
        """Render ``items`` (each once); FleetError, naming every problem, if any cannot be."""
        problems = Problems()
        with bulk_allocation():
            for item in items:
                if item.rendered is None:
                    item.rendered = self.renderer.render(item.seat, problems)
        problems.raise_if_errors()
        self.keep()


def _prepare(
    fleet_path: FleetSource,
    seat_ids: list[str] | None,
    root: Path | None,
    environ: Mapping[str, str] | None,
    keep: Callable[[], None],
) -> _Prepared:
    """Load, resolve targets, place each seat's files and resolve its secrets; FleetError on any bad input.

    Nothing is rendered yet: a seat the manifest shows unchanged since the last run never is.
    Called inside :func:`provisioner.loading.long_lived`, whose ``keep`` it is given.
    """
    fleet = _loaded(fleet_path)
    keep()
    seats = fleet.chosen(seat_ids)
    resolved = _resolve_targets(seats, root)
    renderer = Renderer(fleet, environ, root)
    problems = Problems()
    chosen = []
    with bulk_allocation():
        for seat in seats:
            target = resolved[seat.id]
            files = _placed_files(layout(seat), target)
            where = repr([(str(spot.where.root), spot.where.parts, spot.name, name) for spot, name, _ in files])
            chosen.append(ChosenSeat(seat, target, files, renderer.inputs(seat, where, problems)))
    problems.raise_if_errors()
    _check_collisions(chosen)
    known = {str(p) for p in fleet.warnings}
    fleet.warnings.extend(p for p in sort_problems(problems.warnings) if str(p) not in known)
    warnings = list(fleet.warnings)
    for seat in seats:
        for note in resolved[seat.id].notes:
            warnings.append(Problem(seat.loc(("target",)), f"{seat.label}.target", note, warning=True))
    keep()
    return _Prepared(fleet, renderer, chosen, warnings, keep)


def _check_collisions(chosen: list[ChosenSeat]) -> None:
    """Two seats whose files land on the same path are bad input (exit 2), naming both."""
    owners: dict[str, Seat] = {}
    problems = Problems()
    reported: set[tuple[str, str]] = set()
    roots: dict[Path, str] = {}  # each root spelled absolute once: the parts below are plain names
    for item in chosen:
        seat = item.seat
        for spot, _, _ in item.files:
            where = spot.where
            if where.root not in roots:
                roots[where.root] = os.path.abspath(where.root)  # noqa: PTH100 - lexical, never resolved
            key = os.path.normcase(os.path.join(roots[where.root], *where.parts, spot.name))  # noqa: PTH118 - strings
            other = owners.setdefault(key, seat)
            if other is seat or (other.id, seat.id) in reported:
                continue
            reported.add((other.id, seat.id))
            problems.error(
                seat.source.loc(()),
                seat.label,
                f"{spot.path} is also a file of seat {other.id} ({other.source.loc(())}); two seats "
                "cannot share a file: give each its own user, folder or launcher name",
            )
    problems.raise_if_errors()


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
        return (parse_manifest(fs.read(deploy.Store.manifest(state))) if store.exists() else None), []
    except ManifestError as exc:
        return None, [f"{state.path}: {exc}; conflicts cannot be detected, --force rewrites it"]


def _unchanged(
    fleet: Fleet, item: ChosenSeat, fs: deploy.RealFS, store: deploy.Store, options: PlanOptions
) -> SeatPlan | None:
    """The seat's plan, judged without rendering, when its manifest shows nothing changed since the last run.

    That takes the default options, the same inputs the manifest records, and every file
    with the bytes that run left. Anything else (or a seat that cannot be read: its own
    judging says why) is None: the seat is rendered and judged afresh.
    """
    if item.inputs is None or options.judge_afresh or not options.default or not store.exists():
        return None
    state = store.seat(item.target.seat_id, item.target.ini_path)
    try:
        data = fs.read(deploy.Store.manifest(state))
        manifest = json.loads(data) if data is not None else None
        if not isinstance(manifest, dict) or manifest.get("inputs") != item.inputs:
            return None
        found = {name: fs.read(spot) for spot, name, _ in item.files}
    except (DeployError, OSError, ValueError):
        return None
    finally:
        fs.release()
    if not unchanged_since(manifest, item.inputs, found):
        return None
    placed = [(spot, name, slot[2]) for spot, name, slot in item.files]
    return unchanged_plan(item.seat.id, fleet.name, placed, state, item.inputs)


def _plan_seat(
    fleet: Fleet,
    item: ChosenSeat,
    fs: deploy.RealFS,
    store: deploy.Store,
    options: PlanOptions,
) -> SeatPlan:
    target = item.target
    state = store.seat(target.seat_id, target.ini_path)
    manifest, notes = _manifest(fs, store, state)
    judging = Judging(fleet.ansi, options.rotate_passwords, options.keep_user, tuple(notes))
    changes = []
    for spot, name, file in item.placed():
        earlier = manifest.files.get(name) if manifest else None
        change = KINDS[file.kind].plan(file, name, spot.path, fs.read(spot), earlier, judging)
        change.spot = spot
        changes.append(change)
    inputs = item.inputs if options.default else None  # recorded only when judged the default way
    return SeatPlan(target.seat_id, fleet.name, changes, state, manifest, notes, inputs=inputs)


def _placed_files(slots: tuple[Slot, ...], target: targets.SeatTarget) -> Placed:
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
        return False, f"{exc.path}: the target root does not exist (seat {target.seat_id}); {MISSING_ROOT_HINT}"
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
    with long_lived() as keep:
        prepared = _prepare(fleet_path, seat_ids, root, environ, keep)
        fs = deploy.RealFS()
        store = state_store(prepared.fleet.path, state)
        _sort_unchanged(prepared, fs, store, options)
        reports = []
        for item in prepared.chosen:
            report = SeatReport(item.unchanged, item.seat.id)
            if item.unchanged is None:
                try:
                    report.plan = _plan_seat(prepared.fleet, item, fs, store, options)
                except (DeployError, OSError) as exc:
                    _seat_failure(report, exc, item.target)
                finally:
                    fs.release()
                    item.rendered = None
            reports.append(report)
        fs.close()
    return DeployResult(prepared.fleet, reports, prepared.warnings)


def _sort_unchanged(prepared: _Prepared, fs: deploy.RealFS, store: deploy.Store, options: PlanOptions) -> None:
    """Find the seats whose manifest shows nothing changed since the last run; render all the others.

    Every seat that must be judged afresh is rendered before any is judged, so that bad
    input (exit 2) stops the run before anything is written.
    """
    for item in prepared.chosen:
        item.unchanged = _unchanged(prepared.fleet, item, fs, store, options)
    prepared.render([item for item in prepared.chosen if item.unchanged is None])


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
) -> DeployResult:
    """Deploy: merge into existing files, back up, replace atomically, record a manifest.

    With ``diffs`` the result keeps each file's diff (for JSON output); otherwise
    file contents are released as soon as a seat is done.
    """
    options = PlanOptions.of(rotate_passwords, keep_user, judge_afresh)
    with long_lived() as keep:
        prepared = _prepare(fleet_path, seat_ids, root, environ, keep)
        fs = deploy.DryRunFS() if dry_run else deploy.RealFS()
        store = state_store(prepared.fleet.path, state)
        _sort_unchanged(prepared, fs, store, options)
        if not dry_run:
            store.ensure()
        run = _ApplyRun(prepared.fleet, fs, store, deploy.stamp_now(), force, backup, options, diffs)
        reports = run.all(prepared.chosen, progress)
        fs.close()
    return DeployResult(prepared.fleet, reports, prepared.warnings, dry_run=dry_run, applied=True)


#: Seats applied together, sharing each wait for the disk. Bounded so that their open
#: folders stay well inside the descriptor limit and a failed sync fails few seats.
APPLY_BATCH = 64


@dataclass
class _ApplyRun:
    """One apply over many seats: what every seat's apply shares."""

    fleet: Fleet
    fs: deploy.RealFS
    store: deploy.Store
    stamp: str
    force: bool
    backup: bool
    options: PlanOptions
    diffs: bool

    def all(self, chosen: list[ChosenSeat], progress: Callable[[int, int], None] | None) -> list[SeatReport]:
        """Apply seat by seat, in batches: each batch's files are staged, made durable together, then renamed.

        Every seat keeps its own guarantees (its lock, old-or-new files, its manifest written
        last, after its renames are durable); a batch only shares the waits for the disk. A
        seat found unchanged since the last run is not touched at all.
        """
        reports: list[SeatReport] = []
        for first in range(0, len(chosen), APPLY_BATCH):
            batch = [_SeatRun(item, SeatReport(None, item.seat.id)) for item in chosen[first : first + APPLY_BATCH]]
            self._batch(batch)
            for seat_run in batch:
                plan = seat_run.report.plan
                if plan is not None:
                    plan.manifest = None  # applied: what remains is the report
                    for change in plan.files:
                        change.release(keep_diff=self.diffs)
                seat_run.item.rendered = None
                reports.append(seat_run.report)
                if progress:
                    progress(len(reports), len(chosen))
        return reports

    def _batch(self, batch: list[_SeatRun]) -> None:
        running = []
        for seat_run in batch:
            item, report = seat_run.item, seat_run.report
            if item.unchanged is not None:
                report.plan, report.outcome = item.unchanged, SeatOutcome(item.seat.id, "unchanged")
                continue
            try:
                report.plan = _plan_seat(self.fleet, item, self.fs, self.store, self.options)
            except (DeployError, OSError) as exc:
                _seat_failure(report, exc, item.target)
                continue
            seat_run.steps = deploy.seat_steps(
                report.plan, self.fs, force=self.force, backup=self.backup, stamp=self.stamp
            )
            if seat_run.resume():
                running.append(seat_run)
        for _ in range(2):  # staged files, then renames and manifests, become durable
            try:
                self.fs.make_durable()
            except OSError as exc:
                for seat_run in running:
                    seat_run.fail(exc)
                running = []
            running = [seat_run for seat_run in running if seat_run.resume()]
        self.fs.release()


@dataclass
class _SeatRun:
    """One seat's apply while its batch runs."""

    item: ChosenSeat
    report: SeatReport
    steps: deploy.Steps | None = None

    def resume(self) -> bool:
        """Run the seat to its next stop; False once it is done (its outcome or failure is in the report)."""
        assert self.steps is not None
        try:
            next(self.steps)
            return True
        except StopIteration as done:
            self.report.outcome = done.value
        except (DeployError, OSError) as exc:
            _seat_failure(self.report, exc, self.item.target)
        return False

    def fail(self, exc: Exception) -> None:
        """Give up on the seat (what it staged is removed, nothing it did not rename is replaced)."""
        assert self.steps is not None
        self.steps.close()
        _seat_failure(self.report, exc, self.item.target)


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
    with long_lived() as keep:
        prepared = _prepare(fleet_path, seat_ids, root, environ, keep)
        fs = deploy.RealFS()
        store = state_store(prepared.fleet.path, state)
        _sort_unchanged(prepared, fs, store, PlanOptions(judge_afresh=judge_afresh))
        judging = Judging(prepared.fleet.ansi)
        reports = []
        for item in prepared.chosen:
            report = SeatReport(None, item.seat.id)
            if item.unchanged is None:
                try:
                    for spot, name, file in item.placed():
                        report.drift += KINDS[file.kind].verify(file, name, spot.path, fs.read(spot), judging)
                except (DeployError, OSError) as exc:
                    report.drift = []
                    _seat_failure(report, exc, item.target)
                finally:
                    fs.release()
                    item.rendered = None
            reports.append(report)
        fs.close()
    return DeployResult(prepared.fleet, reports, prepared.warnings, verified=True)


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
    fleet = _loaded(fleet_path)
    seats = fleet.chosen(seat_ids)
    resolved = _resolve_targets(seats, root)
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
                result.backups[seat.id] = deploy.list_backups(fs, seat_state)
                continue
            files = [deploy.SeatFile(spot, name, slot[2]) for spot, name, slot in _placed_files(layout(seat), target)]
            result.seats.append(deploy.rollback_seat(seat.id, files, seat_state, fs, to=to, stamp=stamp))
        except (DeployError, OSError) as exc:
            result.errors.append((seat.id, _failure(exc, target)[1]))
        finally:
            fs.release()
    fs.close()
    return result


@dataclass
class PublishResult:
    """Outcome of ``publish``."""

    out: Path
    seats: list[dict[str, Any]]
    skipped: list[str]
    written: list[Path]
    removed: list[str]
    warnings: list[Problem]


def publish(
    fleet_path: FleetSource,
    out: Path,
    *,
    passwords: bool = True,
    environ: Mapping[str, str] | None = None,
) -> PublishResult:
    """Write a distribution point for Windows PCs: seats, agent, logon and ACL scripts, publish.json."""
    from provisioner import publish as publishing

    fleet = _loaded(fleet_path)
    wanted = [seat for seat in fleet.seats if publishing.skip_reason(seat) is None]
    chosen = [s.id for s in wanted]
    rendered = {r.seat.id: r for r in render_fleet(fleet, chosen, environ, passwords=passwords)} if wanted else {}
    seats_dir = out / "seats"
    existing = sorted(p.name for p in seats_dir.iterdir() if (p / "seat.ini").is_file()) if seats_dir.is_dir() else []
    previous = {name: (seats_dir / name / "seat.ini").read_bytes() for name in existing}
    built = publishing.build(fleet, rendered, passwords=passwords, previous=previous)
    current = {entry["folder"].split("/", 1)[1] for entry in built.seats}
    stale = [f"seats/{name}" for name in existing if name not in current]
    written = deploy.write_share(out, built.files, private_prefix="seats/", stale=stale)
    return PublishResult(out, built.seats, built.skipped, written, stale, fleet.warnings)


def status(share: Path) -> list[Any]:
    """Where each published seat stands, from the agents' reports."""
    from provisioner import rollout

    return rollout.read(share)


@dataclass
class FlagsResult:
    """Outcome of ``translate-flags``: fleet YAML to paste, and the warnings."""

    yaml: str
    warnings: list[str]


def translate_flags(argv: list[str]) -> FlagsResult:
    """Translate the seed document's ``--user``/``--dn``/... flags into fleet YAML."""
    translation = legacy_flags.translate_flags(argv)
    if translation.errors:
        raise UsageError("; ".join(translation.errors))
    layer = translation.layer(password={"env": legacy_flags.PASSWORD_VARIABLE})
    if layer.get("launch", {}).get("args"):
        problem = launch_rules.check_args(layer["launch"]["args"], catalogue.default_version())
        if problem:
            raise UsageError(f"launch.args: {problem}")
    shown = []
    hide_next = False
    for token in argv:
        flag = token.split("=", 1)[0]
        if hide_next:
            shown.append("'********'")
            hide_next = False
        elif flag == "--password" and "=" in token:
            shown.append("--password='********'")
            hide_next = token == "--password="  # the shell split `--password= value`
        else:
            shown.append(shlex.quote(token))
            hide_next = token == "--password"
    text = yaml.safe_dump(layer, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)
    lines = [f"# translated from: {' '.join(shown) or '(nothing)'}"]
    if not layer:
        return FlagsResult("\n".join([*lines, "{}  # nothing MicroSIP reads"]) + "\n", translation.warnings)
    for line in text.splitlines():
        if line.strip() == "password:":
            continue
        if line.strip() == f"env: {legacy_flags.PASSWORD_VARIABLE}":
            lines.append(
                f"  password: {{env: {legacy_flags.PASSWORD_VARIABLE}}}  # the password from the command line "
                f"is not copied: set {legacy_flags.PASSWORD_VARIABLE}, or use {{file: path}}"
            )
            continue
        lines.append(line)
    return FlagsResult("\n".join(lines) + "\n", translation.warnings)


@dataclass
class BundleResult:
    """Outcome of ``bundle``."""

    out: Path
    files: list[str]
    warnings: list[str]


def bundle(
    fleet_path: FleetSource,
    seat_id: str,
    microsip: Path,
    out: Path,
    *,
    instances: str = "single",
    passwords: bool = True,
    environ: Mapping[str, str] | None = None,
) -> BundleResult:
    """Build a portable MicroSIP folder or zip for one seat from a MicroSIP distribution."""
    from provisioner import bundle as bundling

    fleet = _loaded(fleet_path)
    seat = fleet.seat(seat_id)
    bundling.check_output(out, microsip)
    distribution = bundling.read_distribution(microsip)
    exe = bundling.find_exe(distribution, microsip)
    built = bundling.build(
        fleet,
        seat,
        distribution,
        exe,
        instances="per-account" if instances == "per-account" else "single",
        passwords=passwords,
        environ=environ,
    )
    if out.suffix.lower() == ".zip":
        deploy.write_atomic(out, bundling.zip_bytes(built.files))
    else:
        deploy.write_tree(out, built.files)
    return BundleResult(out, sorted(built.files), built.warnings)


def import_inis(paths: list[Path], *, name: str = "imported", code_page: int = 1252) -> Any:
    """Existing microsip.ini files as a fleet YAML (checked to validate before it is returned).

    A file without a BOM is read in the Windows ANSI ``code_page``, as MicroSIP reads it.
    """
    from provisioner import importing

    try:
        codecs.lookup(f"cp{code_page}")
    except LookupError:
        raise UsageError(f"--code-page {code_page}: not a Windows ANSI code page this tool can read") from None
    result = importing.import_inis(paths, name, ansi=f"cp{code_page}")
    try:
        load_fleet(Path("imported.yaml"), text=result.yaml)
    except FleetError as exc:
        # What MicroSIP tolerates the fleet format refuses (an account with a server and no
        # user name, say): the ini is the problem, so say which one and print nothing.
        sources = {seat.id: seat.source for seat in result.seats}
        problems = []
        for problem in exc.errors:
            seat_id = problem.path.split("[", 2)[1].split("]", 1)[0] if problem.path.startswith("seats[") else ""
            where = sources.get(seat_id, str(paths[0]))
            detail = problem.path.split("].", 1)[1] if "]." in problem.path else problem.path
            problems.append(Problem(Loc(where), "", f"cannot be imported as it is: {detail}: {problem.message}"))
        raise FleetError(problems) from None
    return result


__all__ = [
    "apply",
    "bundle",
    "explain",
    "import_inis",
    "init",
    "keys",
    "plan",
    "render",
    "rollback",
    "schema",
    "translate_flags",
    "validate",
    "verify",
]

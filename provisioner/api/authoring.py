"""Writing and checking a fleet: validate, render, seats, explain, keys, schema, init, translate-flags, import."""

from __future__ import annotations

import codecs
import dataclasses
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provisioner import admin_files, catalogue, runner
from provisioner._resources import data_dir
from provisioner.api.common import (
    MISSING_ROOT_HINTS,
    MISSING_ROOT_WORDS,
    FleetSource,
    exposed_folders,
    loaded,
    resolve_targets,
)
from provisioner.errors import (
    FleetError,
    Loc,
    Problem,
    Problems,
    UsageError,
    display_path,
    quoted,
)
from provisioner.fleet import Fleet, Provenance, Seat, load_fleet, origin_loc
from provisioner.inputs.secrets import SecretRef
from provisioner.launchers import command_line, seed_flags
from provisioner.models import fleet_models
from provisioner.render.files import RENDER_PLACES
from provisioner.render.renderer import render_fleet
from provisioner.targetfs import targets


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
    root: Path | None = None,
) -> ValidateResult:
    """Load, merge and check a fleet, and resolve every seat's target (on paper, below ``root`` if given).

    With ``secrets``, also resolve every secret (in memory); with ``check_targets``,
    also check that every target root (a portable seat's folder, a Wine prefix) exists
    on this machine. Every problem of every kind is reported at once: FleetError.
    """
    with runner.current().lasting():  # the loaded fleet stays out of the collector's way
        fleet = loaded(fleet_path, strict=strict)
        problems = Problems()
        resolved = resolve_targets([seat for seat in fleet.seats if seat.target], root, problems)
        if check_targets:
            _check_roots(fleet, resolved, problems)
            _exposed(fleet, resolved, problems, strict=strict)
        if secrets:
            try:
                render_fleet(fleet, environ=environ)
            except FleetError as exc:
                problems.errors.extend(exc.errors)
        if problems.errors:
            raise FleetError(problems.errors, [*fleet.warnings, *problems.warnings])
        fleet.add_warnings(problems.warnings)
    return ValidateResult(fleet, fleet.warnings, secrets)


def _exposed(fleet: Fleet, resolved: dict[str, targets.SeatTarget], problems: Problems, *, strict: bool) -> None:
    """Folders others may write, as warnings (errors with ``strict``)."""
    found = exposed_folders(fleet, [seat for seat in fleet.seats if seat.id in resolved], resolved)
    if strict:
        problems.errors.extend(dataclasses.replace(problem, warning=False) for problem in found)
    else:
        problems.warnings.extend(found)


def _check_roots(fleet: Fleet, resolved: dict[str, targets.SeatTarget], problems: Problems) -> None:
    """An error for each target root that is not a folder here, at the line that names it."""
    reported: set[Path] = set()
    for seat in fleet.seats:
        target = resolved.get(seat.id)
        if target is None or target.root in reported or target.root.is_dir():
            continue
        field_name = {"appdata": "root", "portable": "path", "wine": "prefix"}[target.kind]
        what = MISSING_ROOT_WORDS[target.kind]
        reported.add(target.root)
        problems.error(
            seat.loc(("target", field_name)),
            f"{seat.label}.target.{field_name}",
            f"the {what} {display_path(str(target.root))} does not exist; {MISSING_ROOT_HINTS[target.kind]}",
            code="missing-root",
        )


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
    with runner.current().lasting():  # the loaded fleet and its rendered files stay out of the collector's way
        fleet = loaded(fleet_path, strict=strict)
        rendered = render_fleet(fleet, seat_ids, environ)
        files = [(out / r.seat.id / RENDER_PLACES[f.place] / f.name, f.data) for r in rendered for f in r.files]
        return RenderResult(fleet, admin_files.write_files(files))


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
    fleet = loaded(fleet_path)
    rows = []
    for seat in fleet.seats:
        shown = f"{seat.target.type} {seat.target.where}".strip() if seat.target else "-"
        rows.append(SeatRow(seat.id, seat.user, shown, list(seat.profiles), seat.computer))
    return rows, fleet.warnings


@dataclass
class ExplainRow:
    """One effective value of a seat and where it came from."""

    path: str
    value: str
    origin: str
    layer: str


def shown_value(value: Any) -> str:
    """A value as ``explain`` shows it: a secret by its reference (a plain-text one as ``********``)."""
    if isinstance(value, SecretRef):
        return value.describe()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(shown_value(v) for v in value) + "]"
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
    fleet = loaded(fleet_path)
    return ExplainResult([(seat, _explain_seat(seat)) for seat in fleet.chosen(seat_ids)], fleet.warnings)


#: One explained value: its path, the value, where its origins are kept, its key there, and
#: what to say when no layer set it.
Explained = tuple[str, Any, Provenance | dict[Any, Any], tuple[Any, ...], str]


def _explain_seat(seat: Seat) -> list[ExplainRow]:
    rows: list[ExplainRow] = []
    for path, value, origins, key, fallback in [*_placement(seat), *_values(seat)]:
        origin = origins.get(key)
        if origin is None:
            rows.append(ExplainRow(path, shown_value(value), "-", seat.implied.get(key, fallback)))
        else:
            rows.append(ExplainRow(path, shown_value(value), str(origin_loc(origin, key)), origin[0].label))
    return rows


def effective_values(seat: Seat) -> Iterator[tuple[str, Any]]:
    """Each effective value of the seat by its path (``settings.autoAnswer``), as ``explain`` lists them;
    a secret stays a :class:`SecretRef` (never resolved)."""
    for path, value, _, _, _ in [*_placement(seat), *_values(seat)]:
        yield path, value


def _placement(seat: Seat) -> Iterator[Explained]:
    """Who the seat is for, where MicroSIP lives and how it starts."""
    seat_fields = seat.source.doc.get(seat.source.prefix) or {}
    own = {("user",): (seat.source, ()), ("active_account",): (seat.source, ())}
    own = {k: v for k, v in own.items() if k[0] in seat_fields}
    yield "user", seat.user, own, ("user",), "default (the seat id)"
    yield "install.mode", seat.install_mode, seat.origins, ("install", "mode"), "implied by the target"
    yield "install.exe", seat.exe, seat.origins, ("install", "exe"), "default for the install mode"
    for section, values in (
        ("target", seat.target.written() if seat.target else {}),
        ("launch", seat.launch.written()),
    ):
        for name, value in values.items():
            yield f"{section}.{name}", value, seat.origins, (section, name), "-"
    yield "active_account", seat.active_account, own, ("active_account",), "default"


def _values(seat: Seat) -> Iterator[Explained]:
    """What goes into the seat's files: settings, accounts, raw ini keys, speed dials, contacts."""
    for name, value in seat.settings.items():
        yield f"settings.{name}", value, seat.origins, ("settings", name), "-"
    for index, account in enumerate(seat.accounts):
        for name, value in account.items():
            yield f"accounts[{index + 1}].{name}", value, seat.account_origins[index], (name,), "-"
    for section, entries in seat.ini.items():
        for name, value in entries.items():
            yield f"ini.{section}.{name}", value, seat.origins, ("ini", section, name), "-"
    if seat.enforce:
        yield "enforce", seat.enforce, seat.origins, ("enforce",), "-"
    for index, dial in enumerate(seat.speed_dials, start=1):
        text = f"{dial.label} -> {dial.number or '(the current call)'} ({dial.type})"
        yield f"speed_dials[{index}]", text, seat.origins, ("speed_dials",), "-"
    if seat.contacts:
        text = f"{len(seat.contacts)} contact{'s' if len(seat.contacts) != 1 else ''} ({seat.contacts_mode})"
        yield "contacts", text, seat.origins, ("contacts",), "-"


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
    written = admin_files.write_new_files(files)
    profile = folder / STARTER_PROFILE
    if not profile.exists():  # Alice's profile folder in the scratch tree, so `plan` works as shipped
        admin_files.make_folders(profile)
        written.append(profile)
    return written


@dataclass
class FlagsResult:
    """Outcome of ``translate-flags``: fleet YAML to paste, and the warnings."""

    yaml: str
    warnings: list[str]


def translate_flags(argv: list[str]) -> FlagsResult:
    """Translate the seed document's ``--user``/``--dn``/... flags into fleet YAML."""
    translation = seed_flags.translate_flags(argv)
    if translation.errors:
        raise UsageError("; ".join(translation.errors))
    layer = translation.layer(password={"env": seed_flags.PASSWORD_VARIABLE})
    if layer.get("launch", {}).get("args"):
        problem = command_line.check_args(layer["launch"]["args"], catalogue.default_version())
        if problem:
            raise UsageError(f"launch.args: {problem}")
    text = yaml.safe_dump(layer, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)
    lines = [f"# translated from: {' '.join(_masked(argv)) or '(nothing)'}"]
    if not layer:
        return FlagsResult("\n".join([*lines, "{}  # nothing MicroSIP reads"]) + "\n", translation.warnings)
    for line in text.splitlines():
        if line.strip() == "password:":
            continue
        if line.strip() == f"env: {seed_flags.PASSWORD_VARIABLE}":
            lines.append(
                f"  password: {{env: {seed_flags.PASSWORD_VARIABLE}}}  # the password from the command line "
                f"is not copied: set {seed_flags.PASSWORD_VARIABLE}, or use {{file: path}}"
            )
            continue
        lines.append(line)
    return FlagsResult("\n".join(lines) + "\n", translation.warnings)


def _masked(argv: list[str]) -> list[str]:
    """The command line as the shell would take it back, with the password masked."""
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
    return shown


def import_inis(paths: list[Path], *, name: str = "imported", code_page: int = 1252, out: Path | None = None) -> Any:
    """Existing microsip.ini files as a fleet YAML (checked to validate before it is returned).

    A file without a BOM is read in the Windows ANSI ``code_page``, as MicroSIP reads it.
    Target paths are written relative to ``out``'s folder (where the YAML is to be saved)
    when below it, else absolute, so the fleet plans as it is wherever it is saved.
    """
    from provisioner import importing

    try:
        codecs.lookup(f"cp{code_page}")
    except LookupError:
        raise UsageError(f"--code-page {code_page}: not a Windows ANSI code page this tool can read") from None
    result = importing.import_inis(paths, name, ansi=f"cp{code_page}", base=out.parent if out else None)
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
            problems.append(
                Problem(
                    Loc(where), "", f"cannot be imported as it is: {detail}: {problem.message}", code="import-refused"
                )
            )
        raise FleetError(problems) from None
    return result

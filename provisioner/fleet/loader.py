"""Loading a fleet: collect every file's layers, then resolve each seat."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner import runner
from provisioner.errors import FleetError, Problem, Problems, quoted
from provisioner.fleet.csv_seats import load_seat_files
from provisioner.fleet.diagnostics import kind_of, label_path, validate
from provisioner.fleet.effective import SharedLayers, effective_seat
from provisioner.fleet.layer_data import dump_layer, layer_warnings
from provisioner.fleet.seat import LAYER_FIELDS, Fleet, LayerSource, Seat
from provisioner.fleet.sources import check_top, load_includes, valid_name, version_of
from provisioner.ini import DEFAULT_ANSI
from provisioner.inputs.yaml_reader import (
    Document,
    Path_,
    load_file,
    load_text,
)
from provisioner.models import (
    fleet_models,
)


def load_fleet(path: Path, *, strict: bool = False, text: str | None = None) -> Fleet:
    """Load, validate and merge a fleet. Raise :class:`FleetError` with every problem found.

    With ``text`` the fleet is read from it instead of the file (``path`` still
    names it and anchors relative paths).
    """
    with runner.current().bulk():
        return _load_fleet(path, strict, text)


@dataclass
class _Layers:
    """Every validated layer of the fleet's files, before any seat is merged."""

    defaults: LayerSource | None = None
    defaults_broken: bool = False  # then no seat can be judged
    profiles: dict[str, tuple[LayerSource, list[str]] | None] = field(default_factory=dict)  # None: did not validate
    seats: list[tuple[LayerSource, dict[str, Any]]] = field(default_factory=list)  # (layer, all its fields)


def _load_fleet(path: Path, strict: bool, text: str | None) -> Fleet:
    top = load_file(path) if text is None else load_text(text, str(path))
    problems = Problems()
    if not isinstance(top.data, dict):
        raise FleetError(
            [
                Problem(
                    top.locate(()),
                    "",
                    f"the top level must be a mapping (version, name, seats, ...), got {kind_of(top.data)}",
                    code="top-level",
                )
            ]
        )
    version = version_of(top, problems)
    check_top(fleet_models(version)["fleet"], top, version, problems)
    docs = load_includes(top, problems)
    root = Path(top.path).parent.resolve()
    docs += load_seat_files(docs, version, problems, root)
    layers = _collect_layers(top, docs, version, root, problems)
    seats = _resolve_seats(layers, version, problems)
    if not seats and not problems.errors and not any(doc.data.get("seats") for doc in docs):
        problems.warn(top.locate(()), "seats", "the fleet has no seats", code="no-seats")
    if strict and problems.warnings:
        problems.errors.extend(w.refused() for w in problems.warnings)
        problems.warnings = []
    problems.raise_if_errors()
    return Fleet(
        path=Path(top.path),
        name=str(top.data["name"]),
        version=version,
        templates_dir=_templates_dir(top),
        documents=docs,
        seats=seats,
        warnings=problems.warnings,
        ansi=f"cp{top.data['ansi_code_page']}" if top.data.get("ansi_code_page") else DEFAULT_ANSI,
    )


def _collect_layers(top: Document, docs: list[Document], version: str, root: Path, problems: Problems) -> _Layers:
    """Validate every layer of every file on its own (all problems in one pass): defaults, profiles, seats."""
    models = fleet_models(version)
    found = _Layers()
    first_profile: dict[str, Document] = {}
    seat_seen: dict[str, tuple[Document, int]] = {}
    for doc in docs:
        data = doc.data
        if doc is not top:
            shallow = {k: (None if k in ("profiles", "seats") else v) for k, v in data.items()}
            validate(models["include"], shallow, doc, (), version, problems)
        elif data.get("defaults") is not None:
            model = validate(models["layer"], data["defaults"], doc, ("defaults",), version, problems)
            if model is not None:
                dumped = dump_layer(model, doc, ("defaults",), "defaults", version, problems, root)
                found.defaults = LayerSource(doc, ("defaults",), "defaults", dumped)
            else:
                found.defaults_broken = True
        _collect_profiles(doc, models["profile"], version, root, found, first_profile, problems)
        _collect_seats(doc, models["seat"], version, root, found, seat_seen, problems)
    return found


def _collect_profiles(
    doc: Document,
    model_type: Any,
    version: str,
    root: Path,
    found: _Layers,
    first_seen: dict[str, Document],
    problems: Problems,
) -> None:
    raw_profiles = doc.data.get("profiles")
    if raw_profiles is not None and not isinstance(raw_profiles, dict):
        problems.error(
            doc.locate(("profiles",)), "profiles", "expected a mapping of profile names to layers", code="wrong-type"
        )
        return
    for name, body in (raw_profiles or {}).items():
        if not valid_name(name):
            problems.error(
                doc.locate(("profiles", name), key=True),
                f"profiles[{name}]",
                f"{quoted(name)} is not a valid profile name: letters, digits, '.', '_' or '-'",
                code="bad-name",
            )
            continue
        if name in first_seen:  # positions are looked up only for the message
            first = first_seen[name].locate(("profiles", name), key=True)
            problems.error(
                doc.locate(("profiles", name), key=True),
                f"profiles[{name}]",
                f"profile {quoted(name)} is defined twice (first at {first}); rename or remove one",
                code="duplicate-profile",
            )
            continue
        first_seen[name] = doc
        model = validate(model_type, body if body is not None else {}, doc, ("profiles", name), version, problems)
        found.profiles[name] = None  # known, but broken until it validates
        if model is not None:
            dumped = dump_layer(model, doc, ("profiles", name), f"profiles[{name}]", version, problems, root)
            extends = dumped.pop("extends", None) or []
            found.profiles[name] = (LayerSource(doc, ("profiles", name), f"profiles[{name}]", dumped), extends)


def _collect_seats(
    doc: Document,
    model_type: Any,
    version: str,
    root: Path,
    found: _Layers,
    seat_seen: dict[str, tuple[Document, int]],
    problems: Problems,
) -> None:
    raw_seats = doc.data.get("seats")
    if raw_seats is not None and not isinstance(raw_seats, list):
        problems.error(doc.locate(("seats",)), "seats", "expected a list of seats", code="wrong-type")
        return
    for i, body in enumerate(raw_seats or []):
        prefix: Path_ = ("seats", i)
        label = label_path(doc, prefix)
        model = validate(model_type, body, doc, prefix, version, problems)
        if model is None:
            continue
        dumped = dump_layer(model, doc, prefix, label, version, problems, root)
        sid = dumped["id"]
        if sid in seat_seen:  # positions are looked up only for the message
            first_doc, first_index = seat_seen[sid]
            problems.error(
                doc.locate((*prefix, "id")),
                label,
                f"seat id {quoted(sid)} is used twice (first at {first_doc.locate(('seats', first_index, 'id'))}); "
                "seat ids must be unique",
                code="duplicate-seat-id",
            )
            continue
        seat_seen[sid] = (doc, i)
        layer = {k: v for k, v in dumped.items() if k in LAYER_FIELDS}
        found.seats.append((LayerSource(doc, prefix, label, layer), dumped))


def _resolve_seats(found: _Layers, version: str, problems: Problems) -> list[Seat]:
    """Warn about each layer once, then merge each seat's layers and check the merged seat."""
    layers = (
        ([found.defaults] if found.defaults else [])
        + [p[0] for p in found.profiles.values() if p is not None]
        + [s for s, _ in found.seats]
    )
    seat_accounts = {id(source): dumped.get("accounts") for source, dumped in found.seats}
    for source in layers:
        layer_warnings(source, seat_accounts.get(id(source)), version, problems)
    if found.defaults_broken:
        return []  # a seat's own rules cannot be judged on a layer that did not validate
    seats = []
    prefixes: dict[tuple[int, ...], SharedLayers] = {}
    for source, dumped in found.seats:
        seat = effective_seat(source, dumped, found.defaults, found.profiles, version, problems, prefixes)
        if seat is not None:
            seats.append(seat)
    return seats


def _templates_dir(top: Document) -> Path | None:
    """The fleet's own templates folder, if it names one; FleetError when it is not a folder."""
    templates = top.data.get("templates")
    templates_dir = (Path(top.path).parent / templates) if isinstance(templates, str) else None
    try:
        templates_missing = templates_dir is not None and not templates_dir.is_dir()
    except OSError:
        templates_missing = True
    if templates_missing:
        raise FleetError(
            [
                Problem(
                    top.locate(("templates",)), "templates", f"{quoted(templates)} is not a folder", code="not-a-folder"
                )
            ]
        )
    return templates_dir

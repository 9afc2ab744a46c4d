"""What the CLI calls: one function per command, returning plain results.

Nothing here prints; the CLI decides how results look. Errors are raised as
:class:`provisioner.errors.ProvisionerError` subclasses carrying their exit code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner import catalogue, deploy
from provisioner._resources import data_dir
from provisioner.errors import Problem, UsageError
from provisioner.fleet import Fleet, Seat, load_fleet, origin_loc
from provisioner.models import fleet_models
from provisioner.rendering import render_fleet
from provisioner.secrets import SecretRef


@dataclass
class ValidateResult:
    """Outcome of ``validate``."""

    fleet: Fleet
    warnings: list[Problem]
    secrets_checked: bool = False


def validate(
    fleet_path: Path,
    *,
    strict: bool = False,
    secrets: bool = False,
    environ: Mapping[str, str] | None = None,
) -> ValidateResult:
    """Load, merge and check a fleet; with ``secrets``, also resolve every secret (in memory)."""
    fleet = load_fleet(fleet_path, strict=strict)
    if secrets:
        render_fleet(fleet, environ=environ)
    return ValidateResult(fleet, fleet.warnings, secrets)


@dataclass
class RenderResult:
    """Outcome of ``render``: the files written."""

    fleet: Fleet
    written: list[Path] = field(default_factory=list)


def render(
    fleet_path: Path,
    out: Path,
    *,
    seat_ids: list[str] | None = None,
    strict: bool = False,
    environ: Mapping[str, str] | None = None,
) -> RenderResult:
    """Render seats into ``out/<seat id>/``; everything is rendered in memory before any write."""
    fleet = load_fleet(fleet_path, strict=strict)
    rendered = render_fleet(fleet, seat_ids, environ)
    files = [(out / r.seat.id / f.name, f.data) for r in rendered for f in r.files]
    return RenderResult(fleet, deploy.write_files(files))


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


def explain(fleet_path: Path, seat_id: str) -> tuple[Seat, list[ExplainRow], list[Problem]]:
    """A seat's effective values, each with the file:line and layer that set it (secrets masked)."""
    fleet = load_fleet(fleet_path)
    seat = fleet.seat(seat_id)
    rows: list[ExplainRow] = []

    def add(path: str, value: Any, origins: dict[Any, Any], key: tuple[Any, ...], fallback: str) -> None:
        origin = origins.get(key)
        if origin is None:
            rows.append(ExplainRow(path, _shown(value), "-", fallback))
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
    return seat, rows, fleet.warnings


def keys(name: str | None = None) -> list[catalogue.Key]:
    """Catalogue entries: all of them, or those matching ``name`` (case-insensitive)."""
    if name is None:
        return list(catalogue.all_keys())
    found = catalogue.find(name)
    if not found:
        guess = catalogue.suggest(name, [k.name for k in catalogue.all_keys()])
        hint = f" (did you mean {guess!r}?)" if guess else ""
        raise UsageError(f"no key named {name!r} in the catalogue{hint}")
    return found


def schema(version: str | None = None) -> dict[str, Any]:
    """JSON Schema of the fleet format, for editors' YAML language servers."""
    version = version or catalogue.default_version()
    if version not in catalogue.versions():
        raise UsageError(
            f"unknown MicroSIP version {version!r}; use one of {', '.join(catalogue.versions())}"
        )
    document = fleet_models(version)["fleet"].model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"microsip-provisioner fleet (format 1, MicroSIP {version})",
        **document,
    }


STARTER_FILES = ("fleet.yaml", "secrets/alice.txt", ".gitignore")


def init(folder: Path) -> list[Path]:
    """Write a starter fleet project into ``folder`` (which may exist, but not hold these files)."""
    source = data_dir("profiles") / "starter"
    files = [
        (folder / name, (source / name.replace(".gitignore", "gitignore")).read_bytes())
        for name in STARTER_FILES
    ]
    existing = [str(p) for p, _ in files if p.exists()]
    if existing:
        raise UsageError(f"{existing[0]} already exists; choose an empty folder (nothing was written)")
    return deploy.write_new_files(files)


def dump_json(document: Any) -> str:
    """JSON as the CLI prints it."""
    return json.dumps(document, indent=2, ensure_ascii=False)


__all__ = ["explain", "init", "keys", "render", "schema", "validate"]

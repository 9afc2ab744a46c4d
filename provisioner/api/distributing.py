"""Getting seats to PCs: publish (a share for the agent), package-agent (its installer), status (its
reports), bundle (a portable copy)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioner import admin_files
from provisioner.api.common import (
    FleetSource,
    loaded,
)
from provisioner.errors import (
    Problem,
)
from provisioner.render.renderer import render_fleet

if TYPE_CHECKING:  # imported when called: a command that does not need it does not load it
    from provisioner.distribution.rollout import Rollout


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
    share_path: str | None = None,
) -> PublishResult:
    """Write a distribution point for Windows PCs: seats, agent, logon and ACL scripts, publish.json.

    With ``share_path`` (the share as the PCs reach it, ``\\\\server\\share``) also ``task.xml``.
    """
    from provisioner.distribution import publish as publishing
    from provisioner.distribution import scheduled_task

    unc = scheduled_task.share_path(share_path) if share_path is not None else None

    fleet = loaded(fleet_path)
    wanted = [seat for seat in fleet.seats if publishing.skip_reason(seat) is None]
    chosen = [s.id for s in wanted]
    rendered = {r.seat.id: r for r in render_fleet(fleet, chosen, environ, passwords=passwords)} if wanted else {}
    seats_dir = out / "seats"
    existing = sorted(p.name for p in seats_dir.iterdir() if (p / "seat.ini").is_file()) if seats_dir.is_dir() else []
    previous = {name: (seats_dir / name / "seat.ini").read_bytes() for name in existing}
    built = publishing.build(fleet, rendered, passwords=passwords, previous=previous)
    if unc is not None:
        built.files["task.xml"] = scheduled_task.task_xml(unc, fleet.name)
    current = {entry["folder"].split("/", 1)[1] for entry in built.seats}
    stale = [f"seats/{name}" for name in existing if name not in current]
    reports = ("status", *(f"status/{user}" for user in publishing.status_users(built.seats)))
    written = admin_files.write_share(out, built.files, private_prefix="seats/", stale=stale, open_folders=reports)
    return PublishResult(out, built.seats, built.skipped, written, stale, fleet.warnings)


def package_agent(
    out: Path,
    *,
    sign_cert: Path | None = None,
    sign_key: Path | None = None,
    timestamp_url: str | None = None,
) -> list[Path]:
    """Write the agent and its Windows Installer package (signed with a certificate) into ``out``."""
    from provisioner.distribution import agent_package

    signing = agent_package.signing(sign_cert, sign_key, timestamp_url)
    return agent_package.build(out, signing)


def status(share: Path) -> Rollout:
    """Where each published seat stands, from the agents' reports."""
    from provisioner.distribution import rollout

    return rollout.read(share)


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
    from provisioner.distribution import bundle as bundling

    fleet = loaded(fleet_path)
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
        admin_files.write_atomic(out, bundling.zip_bytes(built.files))
    else:
        admin_files.write_tree(out, built.files)
    return BundleResult(out, sorted(built.files), built.warnings)

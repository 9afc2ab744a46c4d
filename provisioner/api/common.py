"""What every command shares: loading a fleet once, the state folder, the tool's name in JSON."""

from __future__ import annotations

import os
from pathlib import Path

from provisioner import __version__, admin_folders, deploy
from provisioner.errors import (
    Loc,
    Problem,
    Problems,
)
from provisioner.fleet import Fleet, Seat, load_fleet
from provisioner.targetfs import targets

#: What to do about a target root that does not exist (validate --targets, plan, apply).
MISSING_ROOT_HINT = (
    "create it, point the target at the folder that holds the user profiles "
    "(C:/Users on a Windows admin PC, a mounted //server/profiles share), or re-root a trial with --root DIR"
)

#: What to do about a missing root, by target type (a portable seat's root is its MicroSIP folder).
MISSING_ROOT_HINTS = {
    "appdata": MISSING_ROOT_HINT,
    "portable": (
        "plug in the drive that holds the portable MicroSIP (a USB stick keeps its folder), create the folder "
        "beside its exe (`provisioner bundle` builds one), or re-root a trial with --root DIR"
    ),
    "wine": "create the prefix first (WINEPREFIX=DIR wineboot), or re-root a trial with --root DIR",
}
#: What a missing root is called, by target type.
MISSING_ROOT_WORDS = {"appdata": "target root", "portable": "portable folder", "wine": "target root"}


#: The admin's state folder (manifests, backups, locks), relative to the fleet file's folder.
STATE_FOLDER = ".provisioner-state"


#: A fleet file, or a fleet already loaded with :func:`load` (load once, then plan, apply, verify...).
FleetSource = Path | Fleet


def load(fleet_path: Path, *, strict: bool = False) -> Fleet:
    """Load, validate and merge a fleet once; every command below also takes the result."""
    return loaded(fleet_path, strict=strict)


def loaded(source: FleetSource, *, strict: bool = False) -> Fleet:
    return source if isinstance(source, Fleet) else load_fleet(source, strict=strict)


def state_store(fleet_path: Path, state: Path | None) -> deploy.Store:
    """Where manifests and backups live: ``--state``, else ``$PROVISIONER_STATE``, else beside the fleet.

    DeployError when that folder, or one on the way to it, is not the admin's alone.
    """
    chosen = state or (Path(os.environ["PROVISIONER_STATE"]) if os.environ.get("PROVISIONER_STATE") else None)
    store = deploy.Store(chosen if chosen is not None else fleet_path.parent / STATE_FOLDER)
    store.check()
    return store


#: Named in JSON output, so a CI log says which version produced it.
TOOL = f"microsip-provisioner {__version__}"


def resolve_targets(
    seats: list[Seat], root: Path | None, problems: Problems | None = None
) -> dict[str, targets.SeatTarget]:
    """Each seat's target; FleetError naming every seat whose target cannot be resolved.

    Given ``problems``, those are added there instead (the caller reports them with others).
    """
    found = Problems() if problems is None else problems
    resolved: dict[str, targets.SeatTarget] = {}
    for seat in seats:
        try:
            resolved[seat.id] = targets.resolve(seat, root)
        except targets.TargetError as exc:
            found.errors.extend(exc.errors)
    if problems is None:
        found.raise_if_errors()
    return resolved


def exposed_folders(fleet: Fleet, seats: list[Seat], resolved: dict[str, targets.SeatTarget]) -> list[Problem]:
    """Warnings for the fleet's folder and each folder of profile folders that others may write.

    Whoever may write the fleet's folder may replace its files or plant a state folder
    there; whoever may write the folder that holds users' profile folders may make a new
    user's folder before the first deploy, and would receive that user's password.
    """
    out = []
    folder = fleet.path.parent
    who = admin_folders.writable_by_others(folder)
    if who is not None:
        out.append(
            Problem(
                Loc(str(fleet.path), 1, 1),
                "",
                f"the fleet's folder {folder} is writable by {who}: they may replace its files or plant "
                f"a state folder there; chmod go-w {folder}",
                warning=True,
                code="exposed-folder",
            )
        )
    seen: set[Path] = set()
    for seat in seats:
        holder = resolved[seat.id].ini.where.profiles
        if holder is None or holder in seen:
            continue  # a portable folder (nobody's profile), or said already
        seen.add(holder)
        who = admin_folders.writable_by_others(holder)
        if who is not None:
            out.append(
                Problem(
                    seat.loc(("target",)),
                    f"{seat.label}.target",
                    f"{holder} is writable by {who}: whoever makes a user's folder there before the user's "
                    "first deploy would receive the password, so a folder there is used only when its owner "
                    f"is named like it; chmod go-w {holder}",
                    warning=True,
                    code="exposed-folder",
                )
            )
    return out

"""Whether a seat's files are unchanged since the last run, without rendering them. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioner.files.change import FileChange, SeatPlan
from provisioner.render.files import FileKind
from provisioner.state import MANIFEST_VERSION, FileRecord, bytes_hash
from provisioner.targetfs.targets import Location, Spot


def unchanged_since(manifest: Mapping[str, Any], inputs: str | None, on_disk: Mapping[str, bytes | None]) -> bool:
    """Whether the last run already judged these files, made from the same inputs, to be in sync.

    ``manifest`` is the seat's manifest document as read (JSON, not yet checked: only what
    is asked here is looked at, and anything unexpected means no); ``on_disk`` holds each of
    the seat's files (by manifest name) as found now. True only when the manifest was
    written from the same ``inputs`` (the same fleet values, templates and tool) and names
    exactly these files, each with the same bytes as that run left them: planning again
    would find nothing to do, and verify no drift, so neither need render.
    """
    files = manifest.get("files")
    if manifest.get("manifest") != MANIFEST_VERSION or not isinstance(files, dict):
        return False
    if inputs is None or manifest.get("inputs") != inputs:
        return False
    if files.keys() != on_disk.keys():
        return False
    for name, data in on_disk.items():
        record = files[name]
        if data is None or not isinstance(record, dict) or record.get("seen") != bytes_hash(data):
            return False
        if "spot" not in record:
            return False  # judged once more, so that the manifest learns where the file is
    return True


def unchanged_plan(
    seat_id: str, fleet: str, placed: list[tuple[Spot, str, FileKind]], state: Location, inputs: str
) -> SeatPlan:
    """The plan of a seat :func:`unchanged_since` found in sync: every file unchanged, nothing to record."""
    note = "unchanged since the last run: the same fleet values, and the file as that run left it"
    files = []
    for spot, name, kind in placed:
        files.append(
            FileChange(spot, name, kind, "unchanged", None, b"", record=FileRecord(kind), details=[note], shown_diff="")
        )
    return SeatPlan(seat_id, fleet, tuple(files), state, None, inputs=inputs)

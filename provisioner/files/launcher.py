"""A launcher (``.lnk``, ``.cmd``, ``.desktop``) as a deployed file: the tool's whole, judged on its bytes. Pure."""

from __future__ import annotations

from pathlib import Path

from provisioner.files.change import Drift, FileChange, Judging, recorded_whole, undo_whole
from provisioner.render.files import RenderedFile
from provisioner.state import FileRecord, bytes_hash
from provisioner.targetfs.targets import Spot

#: A launcher holds no password.
private = False
undo = undo_whole
recorded = recorded_whole


def plan(
    file: RenderedFile, name: str, spot: Spot, old: bytes | None, previous: FileRecord | None, judging: Judging
) -> FileChange:
    """Create or update it; a conflict when someone changed it on disk since the last apply."""
    data = file.data
    record = FileRecord("owned", sha256=bytes_hash(data))
    if old is None:
        return FileChange(spot, name, "owned", "create", None, data, record=record)
    if old == data:
        return FileChange(spot, name, "owned", "unchanged", old, data, record=record)
    if previous is not None and previous.sha256 is not None and bytes_hash(old) != previous.sha256:
        return FileChange(
            spot,
            name,
            "owned",
            "conflict",
            old,
            data,
            conflicts=[f"{name}: changed on disk since the last apply"],
            record=record,
        )
    return FileChange(spot, name, "owned", "update", old, data, record=record)


def verify(file: RenderedFile, name: str, path: Path, current: bytes | None, judging: Judging) -> list[Drift]:
    """In sync only when its bytes are the fleet's."""
    if current is None:
        return [Drift(path, "", "the file does not exist")]
    if current != file.data:
        return [Drift(path, "", "differs from the launcher the fleet writes here")]
    return []

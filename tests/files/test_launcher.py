"""A launcher as a deployed file: the tool's whole, judged on its bytes (no CLI, no disk)."""

from __future__ import annotations

from pathlib import Path

from provisioner.files import KINDS, launcher
from provisioner.files.change import FileChange, Judging
from provisioner.render.files import RenderedFile
from provisioner.state import FileRecord, bytes_hash
from provisioner.targetfs.targets import Location, Spot

# the file's folder below the target root users/, jdoe's profile folder first
SPOT = Spot(Location(Path("users"), ("jdoe", "Desktop"), home=1), "MicroSIP.lnk")
PATH = SPOT.path
FILE = RenderedFile("MicroSIP.lnk", b"L\x00\x00\x00 the fleet's shortcut", place="desktop", kind="owned")


def plan(old: bytes | None, previous: FileRecord | None = None) -> FileChange:
    return launcher.plan(FILE, "MicroSIP.lnk", SPOT, old, previous, Judging())


def test_a_launcher_is_created_updated_or_left_by_its_bytes() -> None:
    assert KINDS["owned"] is launcher and launcher.private is False
    created = plan(None)
    assert (created.action, created.record) == ("create", FileRecord("owned", sha256=bytes_hash(FILE.data)))
    assert plan(FILE.data).action == "unchanged"
    older = b"L\x00\x00\x00 last run's shortcut"
    assert plan(older, FileRecord("owned", sha256=bytes_hash(older))).action == "update"


def test_a_launcher_someone_changed_since_the_last_apply_is_a_conflict() -> None:
    ours = b"L\x00\x00\x00 last run's shortcut"
    change = plan(b"L\x00\x00\x00 the user's own", FileRecord("owned", sha256=bytes_hash(ours)))
    assert (change.action, change.conflicts) == ("conflict", ["MicroSIP.lnk: changed on disk since the last apply"])


def test_verify_and_undo_go_by_the_whole_file() -> None:
    assert launcher.verify(FILE, "MicroSIP.lnk", PATH, FILE.data, Judging()) == []
    assert [d.message for d in launcher.verify(FILE, "MicroSIP.lnk", PATH, b"other", Judging())] == [
        "differs from the launcher the fleet writes here"
    ]
    record = FileRecord("owned", sha256=bytes_hash(FILE.data))
    assert launcher.undo(record, b"before", FILE.data, ours=True) == ("restored from the backup", b"before")
    assert launcher.undo(record, b"before", b"theirs", ours=False) == (
        "kept: it changed since the apply wrote it (MicroSIP or the user wrote it)",
        None,
    )
    assert launcher.recorded(record, b"before") == FileRecord("owned", sha256=bytes_hash(b"before"))

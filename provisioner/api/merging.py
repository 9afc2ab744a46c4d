"""The pure merge for other engines: what ``apply`` would write into each of a seat's files, from bytes in memory.

An engine that moves files its own way (Ansible, a configuration-management agent)
asks :func:`seat_files` where each file goes, reads its current bytes from the host,
hands them and the file's last record to :func:`merge_file` (:func:`merge_seat` for
the ini), pushes the bytes it returns when the action says so, and keeps the new record
once the push succeeded. No file is read or written here: the judging is ``apply``'s
own (each kind's ``plan`` in :mod:`provisioner.files`), so the merge, the conflicts and
the kept password are the same whichever engine delivers the file.
"""

from __future__ import annotations

import ntpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.api.common import FleetSource, loaded
from provisioner.api.deploying import PlanOptions
from provisioner.errors import UsageError
from provisioner.files import KINDS
from provisioner.files.change import Action, Judging
from provisioner.fleet import Seat
from provisioner.render.renderer import layout, render_fleet
from provisioner.state import FileRecord, bytes_hash
from provisioner.targetfs import targets
from provisioner.targetfs.targets import Location, Spot


@dataclass(frozen=True)
class MergeResult:
    """What applying the fleet would do to one of a seat's files."""

    #: create, update, unchanged, or conflict (a managed key changed since ``record``).
    action: Action
    #: The bytes to write: the merge (for a conflict, what ``--force`` would write).
    data: bytes
    #: A unified diff of the text, secrets masked ("" when nothing changes).
    diff: str
    #: The record to keep once ``data`` is written (``FileRecord.as_json``): the next merge's ``record``.
    record: dict[str, Any]
    #: Why the action is a conflict, in the words ``apply`` prints.
    conflicts: tuple[str, ...] = ()
    #: What the merge did besides setting keys (a password written, an encoding converted).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SeatFile:
    """One file of a seat as an engine delivers it: its key, where it goes on the host, its kind."""

    #: ``<place>/<file name>`` (``ini/microsip.ini``, ``desktop/MicroSIP.lnk``): the key of its record.
    name: str
    #: Its path on the host.
    dest: str
    #: ini (merged key by key), owned (a launcher: judged on its bytes) or contacts (merged by number).
    kind: str
    #: Whether it holds a password (write it readable by its owner only).
    private: bool


def merge_seat(
    fleet: FleetSource,
    seat_id: str,
    existing: bytes | None,
    record: FileRecord | Mapping[str, Any] | None = None,
    *,
    rotate_passwords: bool = False,
    keep_user: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> MergeResult:
    """Merge the seat's rendered ini into ``existing`` (None: there is no file yet), judged against
    ``record``, the record the last write of this file left (None: never written by the tool).

    Secrets are resolved from ``environ`` (default: the process's) as ``render`` does. Bad input
    raises FleetError (an unknown seat among it); a ``keep_user`` name that is not SECTION.KEY
    raises UsageError.
    """
    chosen = loaded(fleet)
    file_name, place, _ = layout(chosen.seat(seat_id))[0]  # the ini comes first
    return merge_file(
        chosen,
        seat_id,
        f"{place}/{file_name}",
        existing,
        record,
        rotate_passwords=rotate_passwords,
        keep_user=keep_user,
        environ=environ,
    )


def merge_file(
    fleet: FleetSource,
    seat_id: str,
    name: str,
    existing: bytes | None,
    record: FileRecord | Mapping[str, Any] | None = None,
    *,
    rotate_passwords: bool = False,
    keep_user: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> MergeResult:
    """What applying would do to one file of the seat (``name`` as :func:`seat_files` gives it): the ini
    merged key by key, the phonebook by number, a launcher judged on its bytes, as ``apply`` judges each."""
    chosen = loaded(fleet)
    files = {f"{f.place}/{f.name}": f for f in render_fleet(chosen, [seat_id], environ)[0].files}
    if name not in files:
        raise UsageError(f"seat {seat_id} has no file {name!r}; it has {', '.join(files)}")
    rendered = files[name]
    earlier = record if isinstance(record, FileRecord) or record is None else FileRecord.from_json(dict(record))
    options = PlanOptions.of(rotate_passwords, list(keep_user))
    judging = Judging(chosen.ansi, options.rotate_passwords, options.keep_user)
    spot = Spot(Location(Path()), rendered.name)
    change = KINDS[rendered.kind].plan(rendered, rendered.name, spot, existing, earlier, judging)
    kept = change.record
    kept.sha256 = kept.seen = bytes_hash(change.new)
    kept.existed = existing is not None
    return MergeResult(
        change.action, change.new, change.diff, kept.as_json(), tuple(change.conflicts), tuple(change.notes)
    )


def seat_files(fleet: FleetSource, seat_id: str, *, windows: bool) -> list[SeatFile]:
    """Each file the seat deploys and where it goes on its host: on Windows, an installed MicroSIP's ini
    in ``C:\\Users\\<user>\\AppData\\Roaming\\MicroSIP``, a portable one's beside its exe, shortcuts in the
    user's profile; elsewhere (a Wine prefix, a portable folder) as this machine resolves the target.
    A file whose place the host does not have (a ``.desktop`` file on Windows) is left out."""
    seat = loaded(fleet).seat(seat_id)
    target = None if windows else targets.resolve(seat)
    out = []
    for file_name, place, kind in layout(seat):
        folder = _windows_folder(seat, place) if target is None else _folder(target, place)
        if folder is not None:
            dest = ntpath.join(folder, file_name) if windows else str(Path(folder) / file_name)
            out.append(SeatFile(f"{place}/{file_name}", dest, kind, bool(KINDS[kind].private)))
    return out


def ini_destination(fleet: FleetSource, seat_id: str, *, windows: bool) -> str:
    """Where the seat's ini lives on its host (the first of :func:`seat_files`)."""
    return seat_files(fleet, seat_id, windows=windows)[0].dest


def _folder(target: targets.SeatTarget, place: str) -> str | None:
    where = target.place(place)
    return str(where.path) if where is not None else None


def _windows_folder(seat: Seat, place: str) -> str | None:
    profile = ntpath.join("C:\\Users", seat.user)
    if place in ("ini", "portable") and seat.install_mode == "portable":
        return ntpath.dirname(seat.exe.replace("/", "\\"))
    if place in ("ini", "portable"):
        return ntpath.join(profile, "AppData", "Roaming", "MicroSIP")
    if place in targets.PROFILE_FOLDERS:
        return ntpath.join(profile, *targets.PROFILE_FOLDERS[place])
    return None

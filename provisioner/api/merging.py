"""The pure merge for other engines: what ``apply`` would write into one seat's ini, from bytes in memory.

An engine that moves files its own way (Ansible, a configuration-management agent)
reads the seat's current ini, hands the bytes and the seat's last record to
:func:`merge_seat`, pushes the bytes it returns when the action says so, and keeps the
new record once the push succeeded. No file is read or written here: the judging is
``apply``'s own (:func:`provisioner.files.microsip_ini.plan`), so the merge, the
conflicts and the kept password are the same whichever engine delivers the file.
"""

from __future__ import annotations

import ntpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.api.common import FleetSource, loaded
from provisioner.api.deploying import PlanOptions
from provisioner.files import microsip_ini
from provisioner.files.change import Action, Judging
from provisioner.render.renderer import render_fleet
from provisioner.state import FileRecord, bytes_hash
from provisioner.targetfs import targets
from provisioner.targetfs.targets import Location, Spot


@dataclass(frozen=True)
class MergeResult:
    """What applying the fleet would do to one seat's ini."""

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
    rendered = render_fleet(chosen, [seat_id], environ)[0].ini
    earlier = record if isinstance(record, FileRecord) or record is None else FileRecord.from_json(dict(record))
    options = PlanOptions.of(rotate_passwords, list(keep_user))
    judging = Judging(chosen.ansi, options.rotate_passwords, options.keep_user)
    spot = Spot(Location(Path()), rendered.name)
    change = microsip_ini.plan(rendered, rendered.name, spot, existing, earlier, judging)
    kept = change.record
    kept.sha256 = kept.seen = bytes_hash(change.new)
    kept.existed = existing is not None
    return MergeResult(
        change.action, change.new, change.diff, kept.as_json(), tuple(change.conflicts), tuple(change.notes)
    )


def ini_destination(fleet: FleetSource, seat_id: str, *, windows: bool) -> str:
    """Where the seat's ini lives on its PC, for an engine that writes it there itself.

    On Windows: an installed MicroSIP reads ``C:\\Users\\<user>\\AppData\\Roaming\\MicroSIP``, a
    portable one the folder of its exe. Elsewhere (a Wine prefix, a portable folder) the seat's
    target as this machine resolves it.
    """
    seat = loaded(fleet).seat(seat_id)
    if not windows:
        return targets.resolve(seat).ini.spelled
    if seat.install_mode == "portable":
        return ntpath.join(ntpath.dirname(seat.exe.replace("/", "\\")), seat.ini_name)
    return ntpath.join("C:\\Users", seat.user, "AppData", "Roaming", "MicroSIP", seat.ini_name)

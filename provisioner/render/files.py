"""What rendering produces: each seat's files as bytes, with what deploy needs to know of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from provisioner.fleet import Seat

#: ini: merged by key; owned: a launcher, the tool's whole; contacts: merged by number.
FileKind = Literal["ini", "owned", "contacts"]
#: Where a file goes: beside the ini, beside a portable exe, or one of the user's shortcut folders.
Place = Literal["ini", "portable", "desktop", "start_menu", "startup", "applications"]

Managed = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]

#: A file a seat deploys, before its bytes are known: ``(name, place, kind)``.
Slot = tuple[str, Place, FileKind]


@dataclass(frozen=True)
class RenderedFile:
    """One output file of a seat: its name (relative to the seat's folder) and bytes.

    For the ini, ``managed`` lists the sections and ``(key, written value)`` pairs
    the fleet manages (what deploy merges into an existing file), ``secrets`` the
    ``(section, key)`` pairs (lower-cased) whose values are secrets, and
    ``seeded`` those written only where the file has no value yet, and ``enforced``
    those MicroSIP rewrites at run time that the fleet puts back on every apply (its
    ``enforce`` list and what its other values imply): never a conflict.
    """

    name: str
    data: bytes
    managed: Managed = ()
    secrets: frozenset[tuple[str, str]] = frozenset()
    seeded: frozenset[tuple[str, str]] = frozenset()
    enforced: frozenset[tuple[str, str]] = frozenset()
    place: Place = "ini"
    kind: FileKind = "ini"
    replace: bool = False  # contacts only: contacts_mode replace

    @property
    def slot(self) -> Slot:
        """Its name, place and kind: what :func:`provisioner.render.renderer.layout` says of it before rendering."""
        return (self.name, self.place, self.kind)


@dataclass(frozen=True)
class RenderedSeat:
    """Everything a seat deploys."""

    seat: Seat
    files: tuple[RenderedFile, ...]

    @property
    def ini(self) -> RenderedFile:
        """The seat's ini file."""
        return self.files[0]

    @property
    def launchers(self) -> tuple[RenderedFile, ...]:
        """The seat's launcher files (owned whole by the tool)."""
        return tuple(f for f in self.files if f.kind == "owned")


#: Where ``render`` puts each launcher place, below ``OUT/<seat id>/``.
RENDER_PLACES = {
    "ini": "",
    "portable": "",
    "desktop": "Desktop",
    "start_menu": "Start Menu/Programs",
    "startup": "Start Menu/Programs/Startup",
    "applications": "applications",
}

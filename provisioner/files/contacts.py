"""MicroSIP's phonebook, ``Contacts.xml``, as a deployed file: merged contact by contact (by number),
the user's own contacts kept; rolled back whole. Pure."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from provisioner.errors import quoted
from provisioner.files.change import Action, Drift, FileChange, Judging, recorded_whole, undo_whole
from provisioner.ini import MAX_INI_BYTES
from provisioner.render.files import RenderedFile
from provisioner.state import FileRecord
from provisioner.targetfs.targets import Spot

#: The phonebook holds no password.
private = False
undo = undo_whole
recorded = recorded_whole


def _contacts_on_disk(data: bytes) -> list[ET.Element] | str:
    """The ``<contact>`` elements of an existing Contacts.xml, or why it cannot be read."""
    if len(data) > MAX_INI_BYTES:
        return f"{len(data)} bytes, far larger than a phonebook"
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        return f"not well-formed XML ({exc})"
    if root.tag != "contacts":
        return f"the root element is <{root.tag}>, not <contacts>"
    # MicroSIP's phonebook holds <contact/> elements and nothing else; anything more is not
    # ours to drop (the Windows agent leaves such a file alone too)
    for child in root:
        if child.tag != "contact":
            return f"it holds a <{child.tag}> element besides the contacts"
        if len(child) or (child.text or "").strip():
            return "a <contact> holds text or elements"
    if (root.text or "").strip() or any((child.tail or "").strip() for child in root):
        return "it holds text between the contacts"
    return list(root)


def _first_by_number(elements: list[ET.Element]) -> dict[str | None, ET.Element]:
    """Contacts by number; the first of duplicated numbers is the one matched."""
    out: dict[str | None, ET.Element] = {}
    for element in elements:
        out.setdefault(element.get("number"), element)
    return out


def plan(
    file: RenderedFile, name: str, spot: Spot, old: bytes | None, previous: FileRecord | None, judging: Judging
) -> FileChange:
    """Plan Contacts.xml: add or update the fleet's contacts by number, keep the user's own.

    With ``contacts_mode: replace`` the file becomes exactly the fleet's list.
    """
    from provisioner.render.contacts_xml import contacts_document

    record = FileRecord("contacts")
    name = file.name  # the file's own name, as the manifest holds it
    if old is None:
        return FileChange(spot, name, "contacts", "create", None, file.data, record=record)
    existing = _contacts_on_disk(old)
    if isinstance(existing, str):
        return FileChange(
            spot,
            name,
            "contacts",
            "conflict",
            old,
            file.data,
            record=record,
            conflicts=[
                f"the existing Contacts.xml cannot be read ({existing}); --force replaces it "
                "(the old bytes are kept in the backup)"
            ],
        )
    wanted = list(ET.fromstring(file.data))
    if file.replace:
        same = [e.attrib for e in existing] == [e.attrib for e in wanted]
        new = old if same else file.data
        return FileChange(spot, name, "contacts", "unchanged" if same else "update", old, new, record=record)
    by_number = _first_by_number(existing)
    changed = False
    notes = []
    for element in wanted:
        current = by_number.get(element.get("number"))
        if current is None:
            existing.append(element)
            notes.append(f"contact {quoted(element.get('name'))} ({element.get('number')}): added")
            changed = True
        elif any(current.get(k) != v for k, v in element.attrib.items()):
            current.attrib.update(element.attrib)
            notes.append(f"contact {quoted(element.get('name'))} ({element.get('number')}): updated")
            changed = True
    new = contacts_document(existing) if changed else old
    action: Action = "update" if changed else "unchanged"
    return FileChange(spot, name, "contacts", action, old, new, notes=notes, record=record)


def verify(file: RenderedFile, name: str, path: Path, current: bytes | None, judging: Judging) -> list[Drift]:
    """The fleet's contacts are on disk with the fleet's attributes (replace: and nothing else)."""
    if current is None:
        return [Drift(path, "", "the file does not exist")]
    existing = _contacts_on_disk(current)
    if isinstance(existing, str):
        return [Drift(path, "", f"the file cannot be read ({existing})")]
    wanted = list(ET.fromstring(file.data))
    by_number = _first_by_number(existing)
    drift = []
    for element in wanted:
        found = by_number.get(element.get("number"))
        label = f"contact {element.get('number')}"
        if found is None:
            drift.append(Drift(path, label, "missing"))
        elif any(found.get(k) != v for k, v in element.attrib.items()):
            drift.append(Drift(path, label, "differs from the fleet"))
    if file.replace:
        extra = sorted(set(by_number) - {e.get("number") for e in wanted}, key=str)
        drift += [Drift(path, f"contact {n}", "not in the fleet (contacts_mode: replace)") for n in extra]
    return drift

"""Plan a deploy: compare what the fleet wants with what is on disk. Pure.

Given a seat's rendered files, the bytes currently on disk and the manifest of
the last apply, :func:`plan_ini` decides per file whether it is to be created,
updated, left unchanged, or is in conflict (a managed key someone else changed
since the last apply, or an existing file that is not a readable ini), and
produces the merged bytes and a unified diff in which every secret is masked.
Nothing here reads or writes files; :mod:`provisioner.deploy` does that.
"""

from __future__ import annotations

import difflib
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from provisioner import ini
from provisioner.errors import quoted
from provisioner.ini import MAX_INI_BYTES, encoding_note, read_ini
from provisioner.rendered import FileKind, RenderedFile
from provisioner.secrets import MASK
from provisioner.state import MANIFEST_VERSION, FileRecord, Manifest, bytes_hash, value_hash
from provisioner.targets import Location, Spot

Action = Literal["create", "update", "unchanged", "conflict"]
_NO_SECRETS: frozenset[tuple[str, str]] = frozenset()


@dataclass
class FileChange:
    """What applying would do to one file."""

    path: Path
    name: str  # the manifest's name for it (relative to the ini folder)
    kind: Literal["ini", "owned", "contacts"]
    action: Action
    old: bytes | None
    new: bytes
    secrets: frozenset[tuple[str, str]] = frozenset()
    notes: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    record: FileRecord = field(default_factory=lambda: FileRecord("ini"))
    #: Notes about what was left as it is (a password kept): shown with --verbose only.
    details: list[str] = field(default_factory=list)
    spot: Spot | None = None  # where the file is reached without following links (set by the caller)
    _diff: str | None = None

    @property
    def pending(self) -> bool:
        """Whether applying would write this file."""
        return self.action != "unchanged"

    @property
    def diff(self) -> str:
        """Unified diff of the decoded text, secrets masked (computed on first use)."""
        if self._diff is None:
            self._diff = self._compute_diff()
        return self._diff

    def _compute_diff(self) -> str:
        if self.kind == "contacts" and self.new != self.old:
            before = self.old.decode("utf-8", "replace") if self.old is not None else ""
            lines = difflib.unified_diff(
                before.splitlines(),
                self.new.decode("utf-8").splitlines(),
                f"a/{self.name}",
                f"b/{self.name}",
                lineterm="",
            )
            return "\n".join(lines)
        if self.kind != "ini" or self.new == self.old:
            return ""
        try:
            old_text = ini.decode(self.old)[0] if self.old is not None else ""
        except ini.DecodeError:
            return ""
        return unified_diff(self.name, old_text, ini.decode(self.new)[0], self.secrets)

    def release(self, *, keep_diff: bool) -> None:
        """Drop the file bytes once applied (a 10,000-seat apply need not hold them all)."""
        self._diff = self.diff if keep_diff else ""
        self.old = None
        self.new = b""
        self.record = FileRecord(self.record.kind)
        self.secrets = _NO_SECRETS  # only the diff needed them


def mask(text: str, secrets: frozenset[tuple[str, str]]) -> str:
    """``text`` with the value of every secret key (and every ``password``) replaced by the mask."""
    out = []
    section = ""
    for line in ini.split_lines(text):
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped[1:].split("]", 1)[0].strip().lower()
        elif "=" in line and not stripped.startswith(";"):
            key, _, value = line.partition("=")
            lowered = key.strip().lower()
            if value.strip() and (lowered == "password" or (section, lowered) in secrets):
                line = f"{key}={MASK}"
        out.append(line)
    return "\n".join(out)


def unified_diff(name: str, old: str, new: str, secrets: frozenset[tuple[str, str]]) -> str:
    """A unified diff of two ini texts, secrets masked."""
    before = mask(old, secrets).splitlines(keepends=False)
    after = mask(new, secrets).splitlines(keepends=False)
    lines = difflib.unified_diff(before, after, f"a/{name}", f"b/{name}", lineterm="", n=2)
    return "\n".join(lines)


def _record(rendered: RenderedFile) -> FileRecord:
    managed: dict[str, dict[str, str]] = {}
    for section, entries in rendered.managed:
        for key, text in entries:
            pair = (section.lower(), key.lower())
            if pair in rendered.secrets or pair in rendered.seeded:
                continue
            managed.setdefault(section, {})[key] = value_hash(ini.read_value(text))
    return FileRecord("ini", managed)


def _wanted(rendered: RenderedFile) -> dict[tuple[str, str], str]:
    return {
        (section.lower(), key.lower()): ini.read_value(text)
        for section, entries in rendered.managed
        for key, text in entries
    }


def plan_ini(
    rendered: RenderedFile,
    path: Path,
    old: bytes | None,
    previous: FileRecord | None,
    *,
    rotate_passwords: bool = False,
    ansi: str = ini.DEFAULT_ANSI,
    keep_user: frozenset[tuple[str, str]] = frozenset(),
) -> FileChange:
    """Plan one seat's ini against the bytes on disk and the manifest record of the last apply.

    ``keep_user`` keys (``--keep-user``) keep the value on disk for this run: they are
    not written, not a conflict, and their record stays as the last apply left it, so
    the next run without the option sees the same conflict again.
    """
    record = _record(rendered)
    if keep_user:
        _keep_records(record, previous, keep_user)
    name = rendered.name
    if old is None:
        return FileChange(path, name, "ini", "create", None, rendered.data, rendered.secrets, record=record)
    found = read_ini(old, ansi)
    if isinstance(found, str):
        return FileChange(
            path,
            name,
            "ini",
            "conflict",
            old,
            rendered.data,
            conflicts=[
                f"the existing file is not an ini MicroSIP could read ({found}); --force "
                "replaces it with the fleet's file (the old bytes are kept in the backup)"
            ],
            record=record,
        )
    old_text, encoding = found.text, found.encoding
    seeded = set(rendered.seeded) | set(keep_user)
    if rotate_passwords:
        seeded = {pair for pair in seeded if pair[1] != "password"}
    merged = ini.merge(old_text, [(s, list(e)) for s, e in rendered.managed], seeded, parsed=found.parsed)
    new = old if not merged.changed and encoding == "utf-16-le" else ini.encode(merged.text)
    notes = list(merged.notes)
    details = [
        f"[{section}] password: kept the one on disk (MicroSIP encrypts it; --rotate-passwords replaces it)"
        for section, key in merged.kept
        if key.lower() == "password"
    ]
    for section, key in merged.written:
        if key.lower() == "password":
            notes.append(f"[{section}] password: written (none on disk)")
    converted = encoding_note(old, encoding, ansi)
    if converted:
        notes.append(converted)
    conflicts = _conflicts(rendered, found.parsed.as_dict(), previous, keep_user)
    action: Action = "conflict" if conflicts else ("unchanged" if new == old else "update")
    return FileChange(path, name, "ini", action, old, new, rendered.secrets, notes, conflicts, record, details=details)


def _keep_records(record: FileRecord, previous: FileRecord | None, keep: frozenset[tuple[str, str]]) -> None:
    """Keys kept as the user has them this run keep the record of the last apply (or none)."""
    earlier = {
        (section.lower(), key.lower()): (section, key, written)
        for section, keys in (previous.managed if previous else {}).items()
        for key, written in keys.items()
    }
    for section in list(record.managed):
        for key in list(record.managed[section]):
            pair = (section.lower(), key.lower())
            if pair in keep:
                del record.managed[section][key]
                if pair in earlier:
                    record.managed[section][earlier[pair][1]] = earlier[pair][2]
        if not record.managed[section]:
            del record.managed[section]


def _conflicts(
    rendered: RenderedFile,
    on_disk: dict[str, dict[str, str]],
    previous: FileRecord | None,
    keep_user: frozenset[tuple[str, str]] = frozenset(),
) -> list[str]:
    """Managed keys changed on disk since the last apply, to something the fleet does not want.

    Each names both values (a secret's are not shown) and both ways out.
    """
    if previous is None:
        return []
    wanted = _wanted(rendered)
    found = []
    for section, keys in previous.managed.items():
        for key, written in keys.items():
            pair = (section.lower(), key.lower())
            if pair not in wanted or pair in keep_user or pair in rendered.seeded:
                continue  # no longer managed (or only seeded), or kept as the user has it this run
            current = on_disk.get(pair[0], {}).get(pair[1])
            if current is not None and value_hash(current) == written:
                continue  # as we left it
            if current == wanted[pair]:
                continue  # changed, but to what the fleet wants
            if pair in rendered.secrets:
                values = "the secret on disk differs from the fleet's (not shown)"
            else:
                on = "removed on disk" if current is None else f"{quoted(current)} on disk"
                values = f"{on}, the fleet says {quoted(wanted[pair])}"
            found.append(
                f"[{section}] {key}: changed since the last apply: {values}; --force writes the fleet's, "
                f"--keep-user {section}.{key} keeps the user's this time (`unmanage: [{section}.{key}]` for good)"
            )
    return found


def plan_owned(name: str, path: Path, data: bytes, old: bytes | None, previous: FileRecord | None) -> FileChange:
    """Plan a file the tool owns whole (a launcher): judged on its bytes."""
    record = FileRecord("owned", sha256=bytes_hash(data))
    if old is None:
        return FileChange(path, name, "owned", "create", None, data, record=record)
    if old == data:
        return FileChange(path, name, "owned", "unchanged", old, data, record=record)
    if previous is not None and previous.sha256 is not None and bytes_hash(old) != previous.sha256:
        return FileChange(
            path,
            name,
            "owned",
            "conflict",
            old,
            data,
            conflicts=[f"{name}: changed on disk since the last apply"],
            record=record,
        )
    return FileChange(path, name, "owned", "update", old, data, record=record)


@dataclass
class Drift:
    """One difference ``verify`` found."""

    file: Path
    key: str
    message: str


def verify_ini(rendered: RenderedFile, path: Path, data: bytes | None, ansi: str = ini.DEFAULT_ANSI) -> list[Drift]:
    """Managed keys on disk, as MicroSIP reads them, that differ from the fleet (any non-empty password is in sync).

    A file without a BOM is read in the ANSI code page, as MicroSIP reads it; UTF-8 text
    with non-ASCII characters is reported, since MicroSIP shows it as mojibake.
    """
    if data is None:
        return [Drift(path, "", "the file does not exist")]
    found = read_ini(data, ansi)
    if isinstance(found, str):
        return [Drift(path, "", f"the file is not a readable ini ({found})")]
    on_disk = found.parsed.as_dict()
    drift = []
    mojibake = ini.utf8_as_ansi(data, ansi)
    if mojibake:
        drift.append(
            Drift(
                path,
                "",
                f"UTF-8 without a BOM: MicroSIP reads it in the ANSI code page ({ansi}) and shows {mojibake}; "
                "apply rewrites it as UTF-16LE",
            )
        )
    for section, entries in rendered.managed:
        for key, text in entries:
            pair = (section.lower(), key.lower())
            why = _key_drift(rendered, pair, on_disk.get(pair[0], {}).get(pair[1]), ini.read_value(text))
            if why:
                drift.append(Drift(path, f"[{section}] {key}", why))
    return drift


def _key_drift(rendered: RenderedFile, pair: tuple[str, str], current: str | None, wanted: str) -> str | None:
    """How one managed key on disk differs from the fleet, or None (a seeded key only when missing or empty)."""
    if pair in rendered.seeded:
        return "missing or empty on disk" if not current and wanted else None
    if current == wanted:
        return None
    if current is None:
        return "missing on disk"
    if pair in rendered.secrets:
        return "differs from the fleet (secret, not shown)"
    return f"{quoted(current)} on disk, the fleet says {quoted(wanted)}"


def verify_owned(name: str, path: Path, data: bytes, current: bytes | None) -> list[Drift]:
    """A file the tool owns whole: in sync only when its bytes are the fleet's."""
    if current is None:
        return [Drift(path, "", "the file does not exist")]
    if current != data:
        return [Drift(path, "", "differs from the launcher the fleet writes here")]
    return []


@dataclass
class SeatPlan:
    """Everything applying one seat would do."""

    seat_id: str
    fleet: str
    files: list[FileChange]
    state: Location  # the seat's folder in the admin's state store
    manifest: Manifest | None
    notes: list[str] = field(default_factory=list)
    #: What the seat's files are made from (recorded in the manifest); None: judge afresh next time.
    inputs: str | None = None

    @property
    def action(self) -> Action:
        """The seat's overall action."""
        actions = {f.action for f in self.files}
        for action in ("conflict", "create", "update"):
            if action in actions:
                return action
        return "unchanged"


def unchanged_since(manifest: Mapping[str, Any], inputs: str | None, on_disk: dict[str, bytes | None]) -> bool:
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
    return True


def unchanged_plan(
    seat_id: str, fleet: str, placed: list[tuple[Spot, str, FileKind]], state: Location, inputs: str
) -> SeatPlan:
    """The plan of a seat :func:`unchanged_since` found in sync: every file unchanged, nothing to record."""
    note = "unchanged since the last run: the same fleet values, and the file as that run left it"
    files = []
    for spot, name, kind in placed:
        change = FileChange(
            spot.path, name, kind, "unchanged", None, b"", record=FileRecord(kind), details=[note], _diff=""
        )
        change.spot = spot
        files.append(change)
    return SeatPlan(seat_id, fleet, files, state, None, inputs=inputs)


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


def plan_contacts(rendered: RenderedFile, path: Path, old: bytes | None) -> FileChange:
    """Plan Contacts.xml: add or update the fleet's contacts by number, keep the user's own.

    With ``contacts_mode: replace`` the file becomes exactly the fleet's list.
    """
    from provisioner.phonebook import contacts_document

    record = FileRecord("contacts")
    name = rendered.name
    if old is None:
        return FileChange(path, name, "contacts", "create", None, rendered.data, record=record)
    existing = _contacts_on_disk(old)
    if isinstance(existing, str):
        return FileChange(
            path,
            name,
            "contacts",
            "conflict",
            old,
            rendered.data,
            record=record,
            conflicts=[
                f"the existing Contacts.xml cannot be read ({existing}); --force replaces it "
                "(the old bytes are kept in the backup)"
            ],
        )
    wanted = list(ET.fromstring(rendered.data))
    if rendered.replace:
        same = [e.attrib for e in existing] == [e.attrib for e in wanted]
        new = old if same else rendered.data
        return FileChange(path, name, "contacts", "unchanged" if same else "update", old, new, record=record)
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
    return FileChange(path, name, "contacts", action, old, new, notes=notes, record=record)


def verify_contacts(rendered: RenderedFile, path: Path, data: bytes | None) -> list[Drift]:
    """The fleet's contacts are on disk with the fleet's attributes (replace: and nothing else)."""
    if data is None:
        return [Drift(path, "", "the file does not exist")]
    existing = _contacts_on_disk(data)
    if isinstance(existing, str):
        return [Drift(path, "", f"the file cannot be read ({existing})")]
    wanted = list(ET.fromstring(rendered.data))
    by_number = _first_by_number(existing)
    drift = []
    for element in wanted:
        current = by_number.get(element.get("number"))
        label = f"contact {element.get('number')}"
        if current is None:
            drift.append(Drift(path, label, "missing"))
        elif any(current.get(k) != v for k, v in element.attrib.items()):
            drift.append(Drift(path, label, "differs from the fleet"))
    if rendered.replace:
        extra = sorted(set(by_number) - {e.get("number") for e in wanted}, key=str)
        drift += [Drift(path, f"contact {n}", "not in the fleet (contacts_mode: replace)") for n in extra]
    return drift

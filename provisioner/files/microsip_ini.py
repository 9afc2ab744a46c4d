"""MicroSIP's ini as a deployed file: merged key by key, judged on the keys the fleet manages. Pure.

:func:`plan` decides whether the file is to be created, updated, left unchanged, or is
in conflict (a managed key someone else changed since the last apply, or an existing
file that is not a readable ini), and produces the merged bytes; a password MicroSIP
encrypted is kept. Nothing here reads or writes files; :mod:`provisioner.deploy` does.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from provisioner import ini
from provisioner.errors import quoted
from provisioner.files.change import Action, Drift, FileChange, Judging
from provisioner.ini import encoding_note, read_ini
from provisioner.render.files import RenderedFile
from provisioner.state import FileRecord, bytes_hash, value_hash
from provisioner.targetfs.targets import Spot

#: The ini holds passwords: written 0600, never readable by group or others.
private = True


def plan(
    file: RenderedFile, name: str, spot: Spot, old: bytes | None, previous: FileRecord | None, judging: Judging
) -> FileChange:
    """Plan one seat's ini against the bytes on disk and the manifest record of the last apply.

    ``judging.keep_user`` keys (``--keep-user``) keep the value on disk for this run: they
    are not written, not a conflict, and their record stays as the last apply left it, so
    the next run without the option sees the same conflict again. A seat whose state cannot
    be trusted has every pending change turned into a conflict.
    """
    change = _plan(file, spot, old, previous, judging)
    if judging.untrusted_state and change.action != "conflict" and change.pending:
        return dataclasses.replace(change, action="conflict", conflicts=[*change.conflicts, *judging.untrusted_state])
    return change


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


def _plan(
    rendered: RenderedFile, spot: Spot, old: bytes | None, previous: FileRecord | None, judging: Judging
) -> FileChange:
    """The ini's change, before an untrusted state is taken into account."""
    rotate_passwords, ansi, keep_user = judging.rotate_passwords, judging.ansi, judging.keep_user
    record = _record(rendered)
    if keep_user:
        _keep_records(record, previous, keep_user)
    name = rendered.name
    if old is None:
        return FileChange(spot, name, "ini", "create", None, rendered.data, rendered.secrets, record=record)
    found = read_ini(old, ansi)
    if isinstance(found, str):
        return FileChange(
            spot,
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
    on_disk = found.parsed.as_dict()
    details += _put_back(rendered, on_disk)
    conflicts = _conflicts(rendered, on_disk, previous, keep_user)
    action: Action = "conflict" if conflicts else ("unchanged" if new == old else "update")
    return FileChange(spot, name, "ini", action, old, new, rendered.secrets, notes, conflicts, record, details=details)


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


def _put_back(rendered: RenderedFile, on_disk: dict[str, dict[str, str]]) -> list[str]:
    """What each enforced key MicroSIP changed is set back to (never a conflict, as the agent does)."""
    said: list[str] = []
    if not rendered.enforced:
        return said  # most seats: nothing is enforced
    for section, entries in rendered.managed:
        for key, text in entries:
            pair = (section.lower(), key.lower())
            if pair not in rendered.enforced:
                continue
            current, wanted = on_disk.get(pair[0], {}).get(pair[1]), ini.read_value(text)
            if current is not None and current != wanted:
                said.append(
                    f"[{section}] {key}: set back to {quoted(wanted)} "
                    f"({quoted(current)} on disk; the fleet enforces it on every apply)"
                )
    return said


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
            if pair not in wanted or pair in keep_user or pair in rendered.seeded or pair in rendered.enforced:
                continue  # no longer managed (or only seeded), kept as the user has it this run, or put back
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


def verify(file: RenderedFile, name: str, path: Path, current: bytes | None, judging: Judging) -> list[Drift]:
    """Managed keys on disk, as MicroSIP reads them, that differ from the fleet (any non-empty password is in sync).

    A file without a BOM is read in the ANSI code page, as MicroSIP reads it; UTF-8 text
    with non-ASCII characters is reported, since MicroSIP shows it as mojibake.
    """
    return _verify(file, path, current, judging.ansi)


def _verify(rendered: RenderedFile, path: Path, data: bytes | None, ansi: str) -> list[Drift]:
    """See :func:`verify`."""
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


def undo(record: FileRecord, backup: bytes, current: bytes, ours: bool) -> tuple[str, bytes | None]:
    """The keys the apply managed go back to the backup's values; MicroSIP's own state since is kept."""
    now, before = read_ini(current), read_ini(backup)
    if isinstance(now, str) or isinstance(before, str):
        return f"kept: it cannot be merged ({now if isinstance(now, str) else before})", None
    earlier = ini.raw_values(before.text)
    keys = [
        (section, key, earlier.get((section.lower(), key.lower())))
        for section, names in record.managed.items()
        for key in names
    ]
    merged = ini.restore(now.text, keys)
    if not merged.changed:
        return "managed keys already as before the apply", None
    return "managed keys restored (MicroSIP's own state since the apply kept)", ini.encode(merged.text)


def without_managed(record: FileRecord, current: bytes) -> tuple[str, bytes | None]:
    """The ini without the keys the tool manages that still hold the value it wrote (a seat left the fleet);
    a key changed since stays, and so does MicroSIP's own state. What was done, and the new bytes."""
    found = read_ini(current)
    if isinstance(found, str):
        return f"kept: it cannot be merged ({found})", None
    now = recorded(record, current).managed
    ours: list[tuple[str, str, str | None]] = [
        (section, key, None)
        for section, keys in record.managed.items()
        for key, digest in keys.items()
        if now.get(section, {}).get(key) == digest
    ]
    merged = ini.restore(found.text, ours)
    if not merged.changed:
        return "nothing to take back: every managed key changed since", None
    kept = sum(len(keys) for keys in record.managed.values()) - len(ours)
    also = f"; {kept} changed since, kept" if kept else ""
    return f"managed keys removed ({len(ours)}{also}; MicroSIP's own state kept)", ini.encode(merged.text)


def recorded(earlier: FileRecord, data: bytes) -> FileRecord:
    """The bytes, and a hash of each key the apply managed as it is now."""
    record = FileRecord("ini", sha256=bytes_hash(data))
    found = read_ini(data)
    if not isinstance(found, str):
        on_disk = found.parsed.as_dict()
        for section, names in earlier.managed.items():
            for key in names:
                value = on_disk.get(section.lower(), {}).get(key.lower())
                if value is not None:
                    record.managed.setdefault(section, {})[key] = value_hash(value)
    return record

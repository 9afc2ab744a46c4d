"""Each kind of file a seat deploys, and how it is planned, verified and rolled back. Pure.

chezmoi's way: the code that knows an ini from a launcher lives in one class per
kind, and the callers (:mod:`provisioner.api`, :mod:`provisioner.deploy`) ask
:data:`KINDS` instead of testing ``kind``. The ini is merged key by key and judged
on the keys the fleet manages; a launcher is the tool's whole and judged on its
bytes; ``Contacts.xml`` is merged contact by contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from provisioner import ini
from provisioner.ini import read_ini
from provisioner.plan import (
    Drift,
    FileChange,
    plan_contacts,
    plan_ini,
    plan_owned,
    verify_contacts,
    verify_ini,
    verify_owned,
)
from provisioner.rendered import FileKind, RenderedFile
from provisioner.state import FileRecord, bytes_hash, value_hash


@dataclass(frozen=True)
class Judging:
    """What a plan or verify knows besides the file: how to read it, what the admin asked this run."""

    ansi: str = ini.DEFAULT_ANSI
    rotate_passwords: bool = False
    keep_user: frozenset[tuple[str, str]] = frozenset()
    #: Why the seat's state cannot be trusted (a damaged manifest): every pending change is a conflict.
    untrusted_state: tuple[str, ...] = ()


class DeployedFile(Protocol):
    """A kind of file a seat deploys: it plans itself against the disk, verifies itself, and rolls itself back."""

    #: Whether the file holds a password: written 0600, never readable by group or others.
    private: ClassVar[bool]

    @staticmethod
    def plan(
        file: RenderedFile, name: str, path: Path, old: bytes | None, previous: FileRecord | None, judging: Judging
    ) -> FileChange: ...

    @staticmethod
    def verify(file: RenderedFile, name: str, path: Path, current: bytes | None, judging: Judging) -> list[Drift]: ...

    @staticmethod
    def undo(record: FileRecord, backup: bytes, current: bytes, ours: bool) -> tuple[str, bytes | None]:
        """Roll back a file that is not simply restored whole: (what to say, its new bytes, or None to keep it).

        ``ours`` says whether the file is byte for byte what the apply wrote.
        """
        ...

    @staticmethod
    def recorded(earlier: FileRecord, data: bytes) -> FileRecord:
        """The manifest's record of the file once a rollback has left ``data`` on disk."""
        ...


class IniFile:
    """MicroSIP's ini: merged key by key, judged on the managed keys."""

    private: ClassVar[bool] = True

    @staticmethod
    def plan(
        file: RenderedFile, name: str, path: Path, old: bytes | None, previous: FileRecord | None, judging: Judging
    ) -> FileChange:
        change = plan_ini(
            file,
            path,
            old,
            previous,
            rotate_passwords=judging.rotate_passwords,
            ansi=judging.ansi,
            keep_user=judging.keep_user,
        )
        if judging.untrusted_state and change.action != "conflict" and change.pending:
            change.conflicts.extend(judging.untrusted_state)
            change.action = "conflict"
        return change

    @staticmethod
    def verify(file: RenderedFile, name: str, path: Path, current: bytes | None, judging: Judging) -> list[Drift]:
        return verify_ini(file, path, current, judging.ansi)

    @staticmethod
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

    @staticmethod
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


class _RolledBackWhole:
    """A file rollback restores whole or not at all (a launcher, the phonebook)."""

    @staticmethod
    def undo(record: FileRecord, backup: bytes, current: bytes, ours: bool) -> tuple[str, bytes | None]:
        """Restored only while it is what the apply wrote; else someone else's since, and kept."""
        if ours:
            return "restored from the backup", backup
        return "kept: it changed since the apply wrote it (MicroSIP or the user wrote it)", None

    @staticmethod
    def recorded(earlier: FileRecord, data: bytes) -> FileRecord:
        """Its bytes."""
        return FileRecord(earlier.kind, sha256=bytes_hash(data))


class OwnedFile(_RolledBackWhole):
    """A file the tool owns whole (a launcher): judged on its bytes."""

    private: ClassVar[bool] = False

    @staticmethod
    def plan(
        file: RenderedFile, name: str, path: Path, old: bytes | None, previous: FileRecord | None, judging: Judging
    ) -> FileChange:
        return plan_owned(name, path, file.data, old, previous)

    @staticmethod
    def verify(file: RenderedFile, name: str, path: Path, current: bytes | None, judging: Judging) -> list[Drift]:
        return verify_owned(name, path, file.data, current)


class ContactsFile(_RolledBackWhole):
    """MicroSIP's Contacts.xml: merged contact by contact (by number); rolled back whole."""

    private: ClassVar[bool] = False

    @staticmethod
    def plan(
        file: RenderedFile, name: str, path: Path, old: bytes | None, previous: FileRecord | None, judging: Judging
    ) -> FileChange:
        return plan_contacts(file, path, old)

    @staticmethod
    def verify(file: RenderedFile, name: str, path: Path, current: bytes | None, judging: Judging) -> list[Drift]:
        return verify_contacts(file, path, current)


#: Each kind of file a seat deploys, by :attr:`RenderedFile.kind`.
KINDS: dict[FileKind, DeployedFile] = {"ini": IniFile(), "owned": OwnedFile(), "contacts": ContactsFile()}

"""What planning and verifying a file produce, and what every kind of deployed file provides. Pure.

A :class:`FileChange` says what applying would do to one file; a :class:`SeatPlan`
gathers a seat's changes; a :class:`Drift` is one difference ``verify`` found.
:class:`DeployedFile` is what each kind of file (:mod:`provisioner.files`) provides.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from provisioner import ini
from provisioner.inputs.secrets import MASK
from provisioner.render.files import RenderedFile
from provisioner.state import FileRecord, Manifest, bytes_hash
from provisioner.targetfs.targets import Location, Spot

Action = Literal["create", "update", "unchanged", "conflict"]
_NO_SECRETS: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class FileChange:
    """What applying would do to one file: made once by its kind's ``plan``, never changed."""

    spot: Spot  # where the file is reached without following links
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
    #: The diff when it is known already ("" for none); else worked out when first asked for.
    shown_diff: str | None = None

    @property
    def path(self) -> Path:
        """Where the file is, for messages."""
        return self.spot.path

    @property
    def pending(self) -> bool:
        """Whether applying would write this file."""
        return self.action != "unchanged"

    @property
    def diff(self) -> str:
        """Unified diff of the decoded text, secrets masked (worked out on first use)."""
        return self.shown_diff if self.shown_diff is not None else self._worked_out_diff

    @functools.cached_property
    def _worked_out_diff(self) -> str:
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

    def released(self, *, keep_diff: bool) -> FileChange:
        """The change once applied, without the file's bytes (a large apply need not hold them all)."""
        return dataclasses.replace(
            self,
            old=None,
            new=b"",
            record=FileRecord(self.record.kind),
            secrets=_NO_SECRETS,  # only the diff needed them
            shown_diff=self.diff if keep_diff else "",
        )


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


@dataclass
class Drift:
    """One difference ``verify`` found."""

    file: Path
    key: str
    message: str


@dataclass(frozen=True)
class Refused:
    """A seat's file left out of its plan: it cannot be reached safely."""

    name: str  # as the manifest names it
    path: Path
    why: str


@dataclass(frozen=True)
class SeatPlan:
    """Everything applying one seat would do (made once, by planning; an apply reports a released copy)."""

    seat_id: str
    fleet: str
    files: tuple[FileChange, ...]
    state: Location  # the seat's folder in the admin's state store
    manifest: Manifest | None
    notes: tuple[str, ...] = ()
    #: Files left out because they cannot be reached safely (a launcher's folder is a link), each with why:
    #: the seat's other files are applied, and the seat reports a partial failure.
    refused: tuple[Refused, ...] = ()
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


@dataclass(frozen=True)
class Judging:
    """What a plan or verify knows besides the file: how to read it, what the admin asked this run."""

    ansi: str = ini.DEFAULT_ANSI
    rotate_passwords: bool = False
    keep_user: frozenset[tuple[str, str]] = frozenset()
    #: Why the seat's state cannot be trusted (a damaged manifest): every pending change is a conflict.
    untrusted_state: tuple[str, ...] = ()


class DeployedFile(Protocol):
    """A kind of file a seat deploys (a module of :mod:`provisioner.files`): it plans itself against
    the disk, verifies itself, and rolls itself back."""

    #: Whether the file holds a password: written 0600, never readable by group or others.
    @property
    def private(self) -> bool: ...

    def plan(
        self,
        file: RenderedFile,
        name: str,
        spot: Spot,
        old: bytes | None,
        previous: FileRecord | None,
        judging: Judging,
    ) -> FileChange: ...

    def verify(
        self, file: RenderedFile, name: str, path: Path, current: bytes | None, judging: Judging
    ) -> list[Drift]: ...

    def undo(self, record: FileRecord, backup: bytes, current: bytes, ours: bool) -> tuple[str, bytes | None]:
        """Roll back a file that is not simply restored whole: (what to say, its new bytes, or None to keep it).

        ``ours`` says whether the file is byte for byte what the apply wrote.
        """
        ...

    def recorded(self, earlier: FileRecord, data: bytes) -> FileRecord:
        """The manifest's record of the file once a rollback has left ``data`` on disk."""
        ...


def undo_whole(record: FileRecord, backup: bytes, current: bytes, ours: bool) -> tuple[str, bytes | None]:
    """A file rollback restores whole or not at all (a launcher, the phonebook): restored only while
    it is what the apply wrote; else someone else's since, and kept."""
    if ours:
        return "restored from the backup", backup
    return "kept: it changed since the apply wrote it (MicroSIP or the user wrote it)", None


def recorded_whole(earlier: FileRecord, data: bytes) -> FileRecord:
    """A file rolled back whole is recorded by its bytes."""
    return FileRecord(earlier.kind, sha256=bytes_hash(data))

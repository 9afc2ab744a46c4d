"""What the tool remembers about a target: the manifest and the backups.

Manifests and backups live in the admin's state folder (``--state``, by default
``.provisioner-state/`` beside the fleet), one folder per seat target, out of the
profile owner's reach. A manifest records, per managed ini key, a hash of the
value last written (never the value, and nothing at all for passwords and other
secrets), the hash of the bytes each file was left with, and which backup holds
each file's previous bytes. With them it records a digest of what the seat's files were
made from (``inputs``, never holding a secret) and the hash of each file as the run
left it (``seen``): a later run with the same inputs that finds the same bytes knows
the answer without rendering again. It is written last, after every file of the seat, so
it never claims a write that did not happen. This module only builds and reads
that data; :mod:`provisioner.deploy` writes it.

Every manifest carries a keyed integrity check (HMAC-SHA256 with the state folder's
own key, which only the admin can read) on a second line, and records the SHA-256 of
every backup it keeps: a manifest or backup changed by anyone without the key is
reported as forged and never followed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any

from provisioner import __version__

MANIFEST_VERSION = 3
#: Backups kept per file; older ones are removed after a successful apply.
BACKUPS_KEPT = 10
_BACKUP = re.compile(r"^(?P<name>.+)\.(?P<stamp>[0-9]{8}T[0-9]{6}Z)\.(?P<seq>[0-9]+)\.bak$")


@functools.lru_cache(maxsize=1 << 16)
def value_hash(value: str) -> str:
    """The hash stored for a managed value (salted with the tool's name, hex; remembered: seats share values)."""
    return hashlib.sha256(("microsip-provisioner\0" + value).encode("utf-8")).hexdigest()


def bytes_hash(data: bytes) -> str:
    """The hash stored for a file the tool owns whole."""
    return hashlib.sha256(data).hexdigest()


#: :func:`bytes_hash` of an empty file.
EMPTY_HASH = bytes_hash(b"")


#: A file's place as the manifest keeps it: ``(root, parts, home, name)`` of its Spot, the root absolute.
SpotRecord = tuple[str, tuple[str, ...], int, str]


@dataclass
class FileRecord:
    """What the manifest knows about one file."""

    kind: str  # "ini" (merged, judged per managed key) or "owned" (judged on its bytes)
    managed: dict[str, dict[str, str]] = field(default_factory=dict)  # section -> key -> value hash
    sha256: str | None = None  # the bytes the last writing apply left (every kind)
    backup: str | None = None  # backup of the bytes the last apply replaced
    existed: bool = True  # whether the file existed before the last apply
    changed: bool = False  # whether the last apply wrote it
    seen: str | None = None  # the bytes the apply that wrote this manifest left (judged in sync with ``inputs``)
    #: Where the file is (its target root, the parts below it, how many of them are the owner's folder,
    #: its name): what retiring a seat that left the fleet reaches it by, with no fleet entry to ask.
    spot: SpotRecord | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = {
            "kind": self.kind,
            "backup": self.backup,
            "existed": self.existed,
            "changed": self.changed,
        }
        if self.kind == "ini":
            data["managed"] = self.managed
        data["sha256"] = self.sha256
        if self.seen is not None:
            data["seen"] = self.seen
        if self.spot is not None:
            root, parts, home, name = self.spot
            data["spot"] = {"root": root, "parts": list(parts), "home": home, "name": name}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileRecord:
        """Read the JSON form."""
        return cls(
            kind=str(data["kind"]),
            managed={str(s): {str(k): str(v) for k, v in keys.items()} for s, keys in data.get("managed", {}).items()},
            sha256=data.get("sha256"),
            backup=data.get("backup"),
            existed=bool(data.get("existed", True)),
            changed=bool(data.get("changed", False)),
            seen=str(data["seen"]) if data.get("seen") else None,
            spot=_spot(data["spot"]) if data.get("spot") else None,
        )


def _spot(data: dict[str, Any]) -> SpotRecord:
    parts = tuple(str(part) for part in data["parts"])
    return str(data["root"]), parts, int(data["home"]), str(data["name"])


@dataclass
class Manifest:
    """The state of one seat's target after an apply."""

    fleet: str
    seat: str
    files: dict[str, FileRecord] = field(default_factory=dict)  # path relative to the ini folder
    previous: dict[str, Any] | None = None  # the manifest this apply replaced (for rollback)
    stamp: str = ""  # when the last apply that wrote files ran (its backups carry this stamp)
    undone: str | None = None  # the stamp of an apply that rollback undid since
    #: What the seat's files were made from (:meth:`provisioner.render.renderer.Renderer.inputs`), when
    #: the run that wrote this manifest judged them with the default options; else None.
    inputs: str | None = None
    #: Each backup kept for the seat (file name) and the SHA-256 of its bytes.
    backups: dict[str, str] = field(default_factory=dict)

    def to_bytes(self, key: bytes) -> bytes:
        """Serialized, deterministic, sealed with ``key`` (:func:`seal`)."""
        document = {
            "manifest": MANIFEST_VERSION,
            "tool": f"microsip-provisioner {__version__}",
            "fleet": self.fleet,
            "seat": self.seat,
            "files": {name: record.as_json() for name, record in sorted(self.files.items())},
            "previous": self.previous,
            "stamp": self.stamp,
            "undone": self.undone,
            "inputs": self.inputs,
            "backups": dict(sorted(self.backups.items())),
        }
        # one line: the C encoder does it (an indented dump is Python's, and was a tenth of a
        # 10,000-seat apply); `jq . manifest.json` shows it indented
        text = json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        return seal(text.encode("utf-8"), key)

    def as_previous(self) -> dict[str, Any]:
        """This manifest as the ``previous`` entry of the next one (one level kept)."""
        return {
            "fleet": self.fleet,
            "seat": self.seat,
            "stamp": self.stamp,
            "files": {name: record.as_json() for name, record in sorted(self.files.items())},
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Manifest:
        """Read a manifest document (or a ``previous`` entry)."""
        return cls(
            fleet=str(document.get("fleet", "")),
            seat=str(document.get("seat", "")),
            files={str(n): FileRecord.from_json(r) for n, r in (document.get("files") or {}).items()},
            previous=document.get("previous"),
            stamp=str(document.get("stamp") or ""),
            undone=document.get("undone"),
            inputs=str(document["inputs"]) if document.get("inputs") else None,
            backups={str(n): str(h) for n, h in (document.get("backups") or {}).items()},
        )


class ManifestError(ValueError):
    """A manifest that cannot be read, or that fails its integrity check."""


FORGED = (
    "its integrity check fails: it was not written by this tool with this state folder's key "
    "(changed by hand, forged, or written before manifests were sealed)"
)


def _mac(document: bytes, key: bytes) -> bytes:
    return hmac.new(key, document, hashlib.sha256).hexdigest().encode("ascii")


def seal(document: bytes, key: bytes) -> bytes:
    """A one-line JSON ``document`` followed by a line holding its HMAC (``jq`` shows both)."""
    return document + b'\n{"mac":"hmac-sha256:' + _mac(document, key) + b'"}\n'


def unseal(data: bytes, key: bytes) -> bytes:
    """The document :func:`seal` sealed with ``key``; ManifestError when it does not check out."""
    document, _, rest = data.partition(b"\n")
    expected = b'{"mac":"hmac-sha256:' + _mac(document, key) + b'"}\n'
    if not key or not hmac.compare_digest(rest, expected):
        raise ManifestError(FORGED)
    return document


def parse_manifest(data: bytes | None, key: bytes) -> Manifest | None:
    """Read manifest bytes sealed with ``key``; None when there is none. ManifestError when damaged or forged."""
    if data is None:
        return None
    try:
        document = json.loads(unseal(data, key).decode("utf-8"))
        if not isinstance(document, dict) or document.get("manifest") != MANIFEST_VERSION:
            raise ManifestError("not a manifest of this tool's version")
        return Manifest.from_json(document)
    except ManifestError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ManifestError(f"damaged manifest ({type(exc).__name__})") from None


def is_backup_name(name: str) -> bool:
    """Whether ``name`` is spelled as this tool names backups (nothing else is ever read back)."""
    return bool(_BACKUP.match(name)) and "/" not in name and "\\" not in name and "\x00" not in name


def backup_stamp(name: str) -> str:
    """The stamp in a backup's name (``20261126T132500Z``)."""
    match = _BACKUP.match(name)
    return match.group("stamp") if match else ""


def backup_sequence(name: str) -> int:
    """The sequence number in a backup's name (several backups of one file in one second)."""
    match = _BACKUP.match(name)
    return int(match.group("seq")) if match else 0


def backup_file(name: str) -> str:
    """The flat file name a backup was taken of."""
    match = _BACKUP.match(name)
    return match.group("name") if match else ""


def backup_name(file_name: str, stamp: str, existing: list[str]) -> str:
    """A new backup file name for ``file_name``: ``name.20261126T132500Z.1.bak``."""
    seq = 1 + max(
        (
            int(m.group("seq"))
            for m in map(_BACKUP.match, existing)
            if m and m.group("stamp") == stamp and m.group("name") == file_name
        ),
        default=0,
    )
    return f"{file_name}.{stamp}.{seq}.bak"


def backups_to_prune(
    file_name: str, existing: list[str], keep: int = BACKUPS_KEPT, protect: set[str] | None = None
) -> list[str]:
    """The oldest backups of ``file_name`` beyond the newest ``keep`` (never a protected one)."""
    mine = []
    for name in existing:
        match = _BACKUP.match(name)
        if match and match.group("name") == file_name:
            mine.append((match.group("stamp"), int(match.group("seq")), name))
    mine.sort()
    old = [name for _, _, name in mine[:-keep]] if len(mine) > keep else []
    return [n for n in old if n not in (protect or set())]

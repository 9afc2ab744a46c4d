"""Secret references: ``{env: NAME}``, ``{file: path}`` or a literal password.

A :class:`SecretRef` is what the models hold instead of a secret value. It is
resolved only when output is produced (render, plan, apply, bundle), and it never
shows its value: ``repr``, ``str`` and :meth:`SecretRef.describe` print the
reference (``env:SIP_PASS_1001``) or ``********`` for a literal.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from provisioner.errors import quoted
from provisioner.inputs.regular_files import NotRegular, TooLarge, read_regular

MASK = "********"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: A secret file larger than this is certainly not a password.
MAX_SECRET_FILE = 64 * 1024

Kind = Literal["env", "file", "literal"]


class SecretRef:
    """A reference to a secret, or a literal secret that must never be shown."""

    __slots__ = ("base_dir", "confine", "kind", "ref")

    def __init__(self, kind: Kind, ref: str, base_dir: str = "", confine: str | None = None) -> None:
        self.kind = kind
        self.ref = ref
        self.base_dir = base_dir
        self.confine = confine  # a folder the file must stay in (references from CSV data)

    def describe(self) -> str:
        """How the reference reads in messages: ``env:NAME``, ``file:path``, or the mask."""
        if self.kind == "literal":
            return MASK
        return f"{self.kind}:{self.ref}"

    def __repr__(self) -> str:
        return f"SecretRef({self.describe()})"

    __str__ = describe

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretRef) and (self.kind, self.ref, self.base_dir) == (
            other.kind,
            other.ref,
            other.base_dir,
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.ref, self.base_dir))

    @property
    def file_path(self) -> Path:
        """The file a ``file:`` reference names, resolved against the declaring file's folder."""
        return Path(self.base_dir, self.ref)


def parse_reference(value: Mapping[str, Any], base_dir: str, confine: str | None = None) -> SecretRef | str:
    """Read ``{env: NAME}`` or ``{file: path}``; return the reference or an error message.

    ``confine`` (set for references read from CSV files, which are data, not the
    admin's configuration) is a folder a ``file:`` reference must stay inside.
    """
    keys = sorted(str(k) for k in value)
    if keys == ["env"]:
        name = value["env"]
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            return f"{{env: ...}} needs an environment variable name, got {quoted(name)}"
        return SecretRef("env", name)
    if keys == ["file"]:
        path = value["file"]
        if not isinstance(path, str) or not path.strip():
            return "{file: ...} needs a path (relative to the file that declares it)"
        if "\x00" in path:
            return "{file: ...}: the path holds a NUL character"
        ref = SecretRef("file", path, base_dir, confine)
        if confine is not None and not _within(ref.file_path, confine, real=False):
            return f"{{file: {path}}} leaves the fleet's folder; a CSV file may only name secret files inside it"
        return ref
    return f"a secret reference is {{env: NAME}} or {{file: path}}, got a mapping with {', '.join(keys) or 'no keys'}"


def _within(path: Path, folder: str, *, real: bool) -> bool:
    """Whether ``path`` lies inside ``folder`` (by spelling, or with every link resolved)."""
    if real:
        return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))
    spelled = os.path.normpath(os.path.abspath(path))  # noqa: PTH100 - by spelling, no link resolved
    return Path(spelled).is_relative_to(os.path.abspath(folder))  # noqa: PTH100


#: Every secret value resolved in this process, so that a crash report can mask them.
_RESOLVED: set[str] = set()


def redact(text: str) -> str:
    """``text`` with every secret value this process resolved replaced by the mask (longest first)."""
    for value in sorted(_RESOLVED, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


class SecretError(Exception):
    """A reference that does not resolve; the message never holds the value."""


def resolve(ref: SecretRef, environ: Mapping[str, str] | None = None, warn: Callable[[str], None] | None = None) -> str:
    """The secret's value, read now. Raise :class:`SecretError` when it is missing or empty.

    ``warn`` hears about a secret file that group or others may read (as ssh warns
    about keys).
    """
    value = _resolve(ref, environ, warn)
    _RESOLVED.add(value)
    return value


def _resolve(ref: SecretRef, environ: Mapping[str, str] | None, warn: Callable[[str], None] | None) -> str:
    if ref.kind == "literal":
        return ref.ref
    if ref.kind == "env":
        env = os.environ if environ is None else environ
        if ref.ref not in env:
            raise SecretError(f"environment variable {ref.ref} is not set")
        value = env[ref.ref]
        if not value:
            raise SecretError(f"environment variable {ref.ref} is empty; an empty password is never written")
        if not _is_text(value):
            raise SecretError(f"environment variable {ref.ref} is not valid UTF-8 text")
        return value
    text = _read_secret_file(ref, warn)
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise SecretError(f"secret file {ref.ref} is empty; an empty password is never written")
    return text


def _is_text(value: str) -> bool:
    """Whether ``value`` is real text (no lone surrogates standing for undecodable bytes)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _read_secret_file(ref: SecretRef, warn: Callable[[str], None] | None) -> str:
    path = ref.file_path
    if ref.confine is not None and not _within(path, ref.confine, real=True):
        raise SecretError(f"secret file {ref.ref} leaves the fleet's folder (through a link); refused")
    try:
        data, st = read_regular(path, MAX_SECRET_FILE)
    except FileNotFoundError:
        raise SecretError(f"secret file {ref.ref} does not exist") from None
    except IsADirectoryError:
        raise SecretError(f"secret file {ref.ref} is a folder") from None
    except NotRegular:
        raise SecretError(f"secret file {ref.ref} is not a regular file") from None
    except TooLarge:
        raise SecretError(f"secret file {ref.ref} is larger than {MAX_SECRET_FILE} bytes") from None
    except (OSError, ValueError) as exc:
        raise SecretError(f"secret file {ref.ref} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    if warn is not None and os.name == "posix" and st.st_mode & 0o077:
        mode = stat.S_IMODE(st.st_mode)
        warn(f"secret file {ref.ref} can be read by group or others (mode {mode:04o}); run: chmod 600 {path}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SecretError(f"secret file {ref.ref} is not UTF-8 text") from None

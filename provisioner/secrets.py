"""Secret references: ``{env: NAME}``, ``{file: path}`` or a literal password.

A :class:`SecretRef` is what the models hold instead of a secret value. It is
resolved only when output is produced (render, plan, apply, bundle), and it never
shows its value: ``repr``, ``str`` and :meth:`SecretRef.describe` print the
reference (``env:SIP_PASS_1001``) or ``********`` for a literal.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

MASK = "********"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: A secret file larger than this is certainly not a password.
MAX_SECRET_FILE = 64 * 1024

Kind = Literal["env", "file", "literal"]


class SecretRef:
    """A reference to a secret, or a literal secret that must never be shown."""

    __slots__ = ("base_dir", "kind", "ref")

    def __init__(self, kind: Kind, ref: str, base_dir: str = "") -> None:
        self.kind = kind
        self.ref = ref
        self.base_dir = base_dir

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


def parse_reference(value: Mapping[str, Any], base_dir: str) -> SecretRef | str:
    """Read ``{env: NAME}`` or ``{file: path}``; return the reference or an error message."""
    keys = sorted(str(k) for k in value)
    if keys == ["env"]:
        name = value["env"]
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            return f"{{env: ...}} needs an environment variable name, got {name!r}"
        return SecretRef("env", name)
    if keys == ["file"]:
        path = value["file"]
        if not isinstance(path, str) or not path.strip():
            return "{file: ...} needs a path (relative to the file that declares it)"
        return SecretRef("file", path, base_dir)
    return (
        f"a secret reference is {{env: NAME}} or {{file: path}}, got a mapping with "
        f"{', '.join(keys) or 'no keys'}"
    )


class SecretError(Exception):
    """A reference that does not resolve; the message never holds the value."""


def resolve(ref: SecretRef, environ: Mapping[str, str] | None = None) -> str:
    """The secret's value, read now. Raise :class:`SecretError` when it is missing."""
    if ref.kind == "literal":
        return ref.ref
    if ref.kind == "env":
        env = os.environ if environ is None else environ
        if ref.ref not in env:
            raise SecretError(f"environment variable {ref.ref} is not set")
        return env[ref.ref]
    path = ref.file_path
    try:
        if path.stat().st_size > MAX_SECRET_FILE:
            raise SecretError(f"secret file {ref.ref} is larger than {MAX_SECRET_FILE} bytes")
        data = path.read_bytes()
    except FileNotFoundError:
        raise SecretError(f"secret file {ref.ref} does not exist") from None
    except IsADirectoryError:
        raise SecretError(f"secret file {ref.ref} is a folder") from None
    except OSError as exc:
        raise SecretError(f"secret file {ref.ref} cannot be read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SecretError(f"secret file {ref.ref} is not UTF-8 text") from None
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text

"""Problems, locations and the exceptions that carry them to the CLI.

Every problem the tool reports about user input is a :class:`Problem`: a location
(``file:line:col``), a logical path (``seats[alice].accounts[1].transport``), a
message and a stable code (``unknown-key``; :mod:`provisioner.problem_codes` lists them).
The CLI prints one line per problem and maps the exception class to the exit code from
the contract (2 bad input, 3 deploy failed, 4 internal error).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple


class Loc(NamedTuple):
    """A position in a file: 1-based line and column (0 = the whole file)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        name = display_path(self.file)
        if self.line <= 0:
            return name
        return f"{name}:{self.line}:{self.col}"


def printable(text: str) -> str:
    """``text`` with every line break (``\\r \\n \\x85 \\u2028 \\u2029`` and the others Python knows)
    and every other unprintable character -- a terminal escape among them -- as ``?``: for text
    that came from someone else's file, before it reaches a comment or the admin's terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


def quoted(value: object) -> str:
    """A value quoted for a message: like ``repr``, but a Windows path keeps single backslashes.

    Text that holds unprintable characters (a NUL, a line break) is shown with
    ``repr``'s escapes, so they stay visible.
    """
    if isinstance(value, str) and value.isprintable():
        if "'" not in value:
            return f"'{value}'"
        if '"' not in value:
            return f'"{value}"'
    return repr(value)


def display_path(path: str) -> str:
    """Show ``path`` relative to the working directory when it lies below it."""
    if not path or not Path(path).is_absolute():
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith("..") else rel


@dataclass(frozen=True)
class Problem:
    """One error or warning about the user's input."""

    loc: Loc
    path: str
    message: str
    warning: bool = False
    #: What kind of problem it is, in a word that never changes meaning (``problem_codes.CODES``).
    code: str = field(kw_only=True)

    def __str__(self) -> str:
        head = f"{self.loc}: warning:" if self.warning else f"{self.loc}:"
        return f"{head} {self.path}: {self.message}" if self.path else f"{head} {self.message}"

    def as_tuple(self) -> tuple[str, int, int, str, str, bool, str]:
        """Its fields as plain values (what a runner may send between processes); :meth:`of_tuple` reads them."""
        return (self.loc.file, self.loc.line, self.loc.col, self.path, self.message, self.warning, self.code)

    @classmethod
    def of_tuple(cls, fields: Any) -> Problem:
        """The problem :meth:`as_tuple` gave (as JSON gives it back)."""
        file, line, col, path, message, warning, code = fields
        return cls(Loc(str(file), int(line), int(col)), str(path), str(message), bool(warning), code=str(code))

    def refused(self) -> Problem:
        """This warning as an error, as ``--strict`` turns it (its code kept)."""
        return Problem(self.loc, self.path, f"{self.message} (refused by --strict)", code=self.code)

    def as_json(self) -> dict[str, Any]:
        """The JSON form from the CLI contract."""
        return {
            "file": display_path(self.loc.file),
            "line": self.loc.line,
            "column": self.loc.col,
            "path": self.path,
            "message": self.message,
            "code": self.code,
        }


@dataclass
class Problems:
    """Collects errors and warnings so that all of them are reported in one pass."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def error(self, loc: Loc, path: str, message: str, *, code: str) -> None:
        """Record an error."""
        self.errors.append(Problem(loc, path, message, code=code))

    def warn(self, loc: Loc, path: str, message: str, *, code: str) -> None:
        """Record a warning."""
        self.warnings.append(Problem(loc, path, message, warning=True, code=code))

    def extend(self, other: Problems) -> None:
        """Take over another collection's problems."""
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)

    def raise_if_errors(self) -> None:
        """Raise :class:`FleetError` carrying everything collected so far, if any error was."""
        if self.errors:
            raise FleetError(self.errors, self.warnings)


def _sorted(problems: Iterable[Problem]) -> list[Problem]:
    seen: set[str] = set()
    unique = []
    for p in problems:
        text = str(p)
        if text not in seen:
            seen.add(text)
            unique.append(p)
    return sorted(unique, key=lambda p: (p.loc.file, p.loc.line, p.loc.col, p.path, p.message))


class ProvisionerError(Exception):
    """Base class of the errors the CLI reports without a traceback."""

    exit_code = 4


class FleetError(ProvisionerError):
    """Bad input (fleet, profile, template, secret reference): exit code 2."""

    exit_code = 2

    def __init__(self, errors: Iterable[Problem], warnings: Iterable[Problem] = ()) -> None:
        self.errors = _sorted(errors)
        self.warnings = _sorted(warnings)
        super().__init__("\n".join(str(p) for p in self.errors))


class UsageError(ProvisionerError):
    """Bad command-line usage that click could not catch: exit code 2."""

    exit_code = 2


class DeployError(ProvisionerError):
    """Writing failed (I/O, permissions, lock held, conflict): exit code 3.

    ``path`` names the file or folder it is about, when there is one, so a script
    can act on it without parsing the message.
    """

    exit_code = 3

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path

    def as_json(self) -> dict[str, Any]:
        """The error as the CLI's JSON reports it."""
        return {"message": str(self), "path": self.path, "exit_code": self.exit_code}


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Problems in report order (file, line, column), duplicates dropped."""
    return _sorted(problems)

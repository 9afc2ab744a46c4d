"""What the Windows agent can hold: the one place its payload's limits are written down.

The agent (``agent/agent.h``) holds the same numbers; a test reads them there and
compares. ``publish`` refuses a seat beyond any of them (exit 2, naming the seat and
the value) rather than let the agent find out on a user's PC.
"""

from __future__ import annotations

import ntpath
from dataclasses import dataclass

from provisioner.launchers.command_line import FORBIDDEN_IN_NAMES

#: seat.ini as a whole, in bytes.
MAX_PAYLOAD_BYTES = 1024 * 1024
#: A launcher or Contacts.xml beside seat.ini (and the user's own Contacts.xml the agent merges).
MAX_FILE_BYTES = 16 * 1024 * 1024
#: Set, Seed and Remove lines together.
MAX_KEYS = 4096
MAX_LAUNCHERS = 16
MAX_FILES = 32
#: A file name: the exe, the ini, a launcher.
MAX_NAME_CHARS = 255
#: The exe's full path: MicroSIP reads its own path into a MAX_PATH buffer (settings.cpp 94).
MAX_EXE_PATH_CHARS = 259
#: A computer name as the agent asks for it (GetComputerNameW: the NetBIOS name).
MAX_COMPUTER_CHARS = 15


@dataclass(frozen=True)
class Counts:
    """What one seat's payload holds."""

    payload_bytes: int
    keys: int
    launchers: int
    files: dict[str, int]


def plain_name_problem(name: str) -> str | None:
    """Why ``name`` is not a file name the agent takes (no folder in it), or None."""
    if not name or name in (".", "..") or len(name) > MAX_NAME_CHARS:
        return f"is empty, a dot name or longer than {MAX_NAME_CHARS} characters"
    if name[-1] in ". ":
        return "ends with a dot or a space, which Windows drops"
    bad = sorted({c for c in name if ord(c) < 0x20 or c in FORBIDDEN_IN_NAMES})
    if bad:
        return "holds " + ", ".join(repr(c) for c in bad) + ", which a Windows file name cannot"
    return None


def folder_problem(folder: str) -> str | None:
    """Why ``folder`` is not an absolute Windows folder without ``.`` or ``..`` parts, or None."""
    drive = len(folder) >= 3 and folder[1:3] == ":\\" and folder[0].isascii() and folder[0].isalpha()
    unc = folder.startswith("\\\\") and len(folder) >= 5
    if not (drive or unc):
        return "is not an absolute Windows folder (C:\\... or \\\\server\\share\\...)"
    parts = folder[2 if unc else 3 :].split("\\")
    if any(part in (".", "..") for part in parts):
        return "has a . or .. part, which never matches the folder MicroSIP runs from"
    if any(ord(c) < 0x20 or c in '/*?"<>|' for c in folder) or ":" in folder[2:]:
        return "holds a character a Windows path cannot"
    return None


#: Where in a seat a value the agent cannot hold comes from.
EXE = ("install", "exe")
COMPUTER = ("computer",)
SEAT: tuple[str, ...] = ()


def seat_problems(exe: str, computer: str | None, counts: Counts) -> list[tuple[tuple[str, ...], str]]:
    """Each value of a seat's payload that the agent cannot hold (where it is set, what to fix)."""
    problems: list[tuple[tuple[str, ...], str]] = []
    folder, name = ntpath.split(exe)
    for label, value in (("install.exe's file name", name), ("the ini's name", ntpath.splitext(name)[0] + ".ini")):
        why = plain_name_problem(value)
        if why:
            problems.append((EXE, f"{label} {value!r} {why}"))
    why = folder_problem(folder)
    if why:
        problems.append((EXE, f"install.exe's folder {folder!r} {why}"))
    if len(exe) > MAX_EXE_PATH_CHARS:
        problems.append(
            (EXE, f"install.exe is {len(exe)} characters long; MicroSIP reads at most {MAX_EXE_PATH_CHARS}")
        )
    if computer is not None and len(computer) > MAX_COMPUTER_CHARS:
        problems.append(
            (
                COMPUTER,
                f"computer {computer!r} is {len(computer)} characters long; Windows gives the agent the NetBIOS "
                f"name, at most {MAX_COMPUTER_CHARS} characters",
            )
        )
    limits = (
        (counts.payload_bytes, MAX_PAYLOAD_BYTES, "seat.ini would be {} bytes; the agent reads at most {}"),
        (counts.keys, MAX_KEYS, "seat.ini would hold {} keys; the agent holds at most {}"),
        (counts.launchers, MAX_LAUNCHERS, "the seat has {} launchers; the agent places at most {}"),
        (len(counts.files), MAX_FILES, "the seat has {} files beside seat.ini; the agent checks at most {}"),
    )
    problems += [(SEAT, text.format(f"{value:,}", f"{most:,}")) for value, most, text in limits if value > most]
    for file_name, size in sorted(counts.files.items()):
        why = plain_name_problem(file_name)
        if why:
            problems.append((SEAT, f"the file name {file_name!r} {why}"))
        if size > MAX_FILE_BYTES:
            problems.append((SEAT, f"{file_name} would be {size:,} bytes; the agent reads at most {MAX_FILE_BYTES:,}"))
    return problems

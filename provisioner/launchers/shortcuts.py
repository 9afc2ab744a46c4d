"""Launcher files: Windows shortcuts (``.lnk``), ``.cmd`` files for portable copies, Wine ``.desktop`` entries.

Their bytes are reproducible (fixed times, fixed order), and :func:`launcher_files`
gives each seat the launchers its install needs. What a launcher may carry (the
command line, names) is checked in :mod:`provisioner.launchers.command_line`.
"""

from __future__ import annotations

import datetime
import io
import ntpath
import re
from pathlib import Path
from typing import Any

from provisioner.errors import Problems
from provisioner.fleet import Seat
from provisioner.render.files import Place, RenderedFile
from provisioner.targetfs import targets

# --- launcher files --------------------------------------------------------------------------

#: Fixed times make shortcut bytes reproducible (FILETIME 0 = "not set").
_FILETIME_ZERO = -11644473600
_FIXED_DOS_TIME = datetime.datetime(2000, 1, 1)


def lnk_bytes(exe: str, args: str, description: str, *, minimized: bool) -> bytes:
    """A Windows shortcut to ``exe`` (a full ``C:\\...`` path), byte-for-byte reproducible.

    The target is stored twice, as Explorer and other readers expect: as an ID
    list (My Computer, the drive, each folder typed as a folder, the exe as a
    file) and as a LinkInfo block with the local base path. The working folder
    is the exe's folder, the icon the exe's own.
    """
    import pylnk3  # imported here: only launcher rendering needs it

    parts = exe.split("\\")
    lnk = pylnk3.Lnk()
    items: list[Any] = [pylnk3.RootEntry(pylnk3.ROOT_MY_COMPUTER), pylnk3.DriveEntry(parts[0])]
    for index, name in enumerate(parts[1:], start=1):
        entry = pylnk3.PathSegmentEntry()
        entry.type = pylnk3.TYPE_FILE if index == len(parts) - 1 else pylnk3.TYPE_FOLDER
        entry.file_size = 0
        entry.short_name = entry.full_name = name
        entry.created = entry.modified = entry.accessed = _FIXED_DOS_TIME
        items.append(entry)
    lnk.shell_item_id_list = pylnk3.LinkTargetIDList()
    lnk.shell_item_id_list.items = items
    lnk.link_flags.IsUnicode = True
    lnk.creation_time = lnk.access_time = lnk.modification_time = _FILETIME_ZERO
    lnk.link_info = pylnk3.LinkInfo()
    lnk.specify_local_location(exe, drive_type=pylnk3.DRIVE_FIXED, volume_label="")
    lnk.link_info.drive_serial = 0
    if args:
        lnk.link_flags.HasArguments = True
        lnk.arguments = args
    lnk.link_flags.HasName = True
    lnk.description = description
    lnk.link_flags.HasWorkingDir = True
    lnk.work_dir = ntpath.dirname(exe)
    lnk.link_flags.HasIconLocation = True
    lnk.icon = exe
    lnk.icon_index = 0
    lnk.window_mode = pylnk3.WINDOW_MINIMIZED if minimized else pylnk3.WINDOW_NORMAL
    buffer = io.BytesIO()
    lnk.write(buffer)
    return buffer.getvalue()


def cmd_escape(text: str) -> str:
    """``text`` as a batch file must spell it so that cmd hands the program exactly ``text``.

    cmd reads a line with a quote flag that every ``"`` toggles: outside quotes its
    special characters need a ``^``, inside quotes they (and ``^``) are literal. ``%``
    is expanded in both states, so it is always doubled.
    """
    out = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            out.append(ch)
        elif ch == "%":
            out.append("%%")
        elif not quoted and ch in "&|<>^()":
            out.append("^" + ch)
        else:
            out.append(ch)
    return "".join(out)


def cmd_bytes(exe_name: str, args: str) -> bytes:
    """A ``.cmd`` that starts ``exe_name`` from its own folder, whatever the drive letter.

    ``%~dp0`` is the folder of the .cmd itself; ``start ""`` launches MicroSIP and
    lets the console close at once. The exe name and the arguments are escaped
    (:func:`cmd_escape`) so MicroSIP receives them unchanged.
    """
    exe = exe_name.replace("%", "%%")  # inside quotes: only % needs care
    line = f'start "" /D "%~dp0." "%~dp0{exe}"' + (f" {cmd_escape(args)}" if args else "")
    text = (
        "@echo off\r\n"
        "rem Starts MicroSIP from the folder this file is in (written by microsip-provisioner).\r\n"
        f"{line}\r\n"
    )
    return text.encode("ascii")


_DESKTOP_RESERVED = re.compile(r'[\s"\'\\><~|&;$*?#()`]')


def _desktop_arg(arg: str) -> str:
    """One argument of an ``Exec`` line, quoted per the Desktop Entry specification."""
    if arg and not _DESKTOP_RESERVED.search(arg):
        quoted = arg
    else:
        inner = re.sub(r'(["`$\\])', r"\\\1", arg)
        quoted = f'"{inner}"'
    # the string-value escape applies on top of the quoting rule
    return quoted.replace("\\", "\\\\").replace("%", "%%")


def desktop_bytes(name: str, prefix: str, exe: str, args: str, seat_id: str) -> bytes:
    """A freedesktop ``.desktop`` launcher running the Windows exe in its Wine prefix."""
    exec_args = ["env", f"WINEPREFIX={prefix}", "wine", exe, *([args] if args else [])]
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.0",
        f"Name={_desktop_string(name)}",
        f"Comment={_desktop_string(f'MicroSIP softphone (seat {seat_id})')}",
        "Exec=" + " ".join(_desktop_arg(a) for a in exec_args),
        "Terminal=false",
        "Categories=Network;Telephony;",
        "StartupNotify=true",
        f"StartupWMClass={ntpath.basename(exe).lower()}",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _desktop_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def launcher_slots(seat: Seat) -> list[tuple[str, Place]]:
    """The names and places of the seat's launchers, before their bytes are made."""
    name = seat.launch.file_name
    kind = seat.target.type if seat.target else None
    if seat.install_mode == "portable" and kind != "wine":
        return [(f"{name}.cmd", "portable")]
    out: list[tuple[str, Place]] = [(f"{name}.lnk", place) for place in seat.launch.shortcuts or ()]
    if kind == "wine" and seat.target and seat.target.applications_dir:
        out.append((f"microsip-{seat.id}.desktop", "applications"))
    return out


def launcher_files(seat: Seat, root: Path | None, problems: Problems) -> list[RenderedFile] | None:
    """The seat's launchers: ``.cmd`` for portable copies, ``.lnk`` shortcuts, Wine ``.desktop``."""
    name, args = seat.launch.file_name, seat.launch.arguments
    files = []
    lnk: bytes | None = None  # one shortcut, written to each place asked for
    for file_name, place in launcher_slots(seat):
        if place == "portable":
            exe_name = ntpath.basename(seat.exe.replace("/", "\\"))
            data = cmd_bytes(exe_name, args)
        elif place == "applications":
            try:
                target = targets.resolve(seat, root)
            except targets.TargetError as exc:
                problems.errors.extend(exc.errors)
                return None
            data = desktop_bytes(name, str(target.root.absolute()), seat.exe, args, seat.id)
        else:
            lnk = lnk or lnk_bytes(seat.exe, args, name, minimized=args == "/minimized")
            data = lnk
        files.append(RenderedFile(file_name, data, place=place, kind="owned"))
    return files

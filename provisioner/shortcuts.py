"""Launchers and the one command line MicroSIP really understands.

MicroSIP has no argument parser: it compares its whole command line, as one
string, with a handful of switches, and treats anything else as a number to dial
(or, when it holds a space, as a destination plus an instant message). So a
launcher's ``args`` must be exactly one of the forms below; :func:`check_args`
says what MicroSIP would do with anything else.
"""

from __future__ import annotations

import datetime
import io
import ntpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from provisioner import catalogue
from provisioner.errors import quoted

#: Switches matched exactly, with the first MicroSIP version family that has them.
SWITCHES = {
    "/minimized": "3.19",
    "/exit": "3.19",
    "/answer": "3.19",
    "/hangupall": "3.19",
    "/hangupcalling": "3.20",
    "/hangupincoming": "3.21",
}
_DTMF = re.compile(r"^/dtmf:[0-9A-Da-d*#]+$")
_TRANSFER = re.compile(r"^/transfer:\S+$")
_ACCOUNT = re.compile(r"^/account:([0-9]+)(?: (\S+))?$")
_NUMBER = re.compile(r"^\+?[0-9*#][0-9*#.\-]*$")
#: Prefixes MicroSIP's dial handler strips (case-insensitive) before dialling what follows.
_URI = re.compile(r"^(?i:sip|tel|callto|dialpad|dial):\S+$")
_SIPS = re.compile(r"^(?i:sips):")

ARGS_FORMS = (
    "empty, /minimized, /exit, /answer, /hangupall, /hangupcalling, /hangupincoming, "
    "/dtmf:<digits>, /transfer:<number>, /account:<N> [number], or a number or "
    "sip:/tel:/callto:/dialpad:/dial: URI to dial"
)


def _is_target(text: str) -> bool:
    return bool(_NUMBER.match(text) or _URI.match(text))


def sips_problem(target: str) -> str | None:
    """MicroSIP strips sip:, tel:, callto:, dialpad: and dial: before dialling -- but not sips:."""
    if _SIPS.match(target):
        bare = target.split(":", 1)[1]
        return (
            f"MicroSIP does not strip 'sips:' from {quoted(target)}: it would dial sip:{target}. "
            f"Write {quoted(bare)} (or sip:{bare}); for an encrypted call set the account's transport to tls"
        )
    return None


def account_switch(args: str) -> int | None:
    """N of ``/account:N [number]``, or None."""
    found = _ACCOUNT.match(args)
    return int(found.group(1)) if found else None


def check_args(args: str, version: str) -> str | None:
    """Why MicroSIP would not read ``args`` as intended, or None when it is fine."""
    if args == "":
        return None
    for word in args.split(" "):
        problem = sips_problem(word.split(":", 1)[1] if word.startswith(("/account:", "/transfer:")) else word)
        if problem:
            return problem
    if "/password:" in args:
        return (
            "'/password:' is refused: the password would be visible to every user in the "
            "process list; set `password` in the seat's accounts instead"
        )
    since = SWITCHES.get(args)
    if since is not None:
        if catalogue.older(version, since):
            return f"{args} is not understood by MicroSIP {version} (it arrived in {since})"
        return None
    if _DTMF.match(args) or _TRANSFER.match(args):
        return None
    account = _ACCOUNT.match(args)
    if account:
        if catalogue.older(version, "3.21"):
            return f"/account:N is not understood by MicroSIP {version} (it arrived in 3.21)"
        if int(account.group(1)) < 1:
            return "/account:N counts accounts from 1"
        if account.group(2) and not _is_target(account.group(2)):
            return f"after /account:N MicroSIP expects a number to dial, got {quoted(account.group(2))}"
        return None
    if _is_target(args):
        return None
    head, _, rest = args.partition(" ")
    if args.startswith("-"):
        what = (
            f"it would dial {quoted(head)} and send {quoted(rest)} to it as an instant message"
            if rest
            else f"it would dial {quoted(head)}"
        )
        return (
            f"MicroSIP has no {head.split('=')[0]} flag: it reads its whole command line as one "
            f"string, so {what}. Set accounts and settings in the fleet instead "
            "(`launch.legacy_flags` or `provisioner translate-flags` translate such flags)"
        )
    if rest:
        return (
            f"MicroSIP takes one switch or one dial target; with a space it would dial "
            f"{quoted(head)} and send {quoted(rest)} to it as an instant message. Use one of: {ARGS_FORMS}"
        )
    if args.startswith("/"):
        return (
            f"{quoted(args)} is not a MicroSIP switch (switches match exactly and are case-sensitive); "
            f"MicroSIP would try to dial it. Use one of: {ARGS_FORMS}"
        )
    return (
        f"{quoted(args)} is not a number or sip:/tel:/callto:/dialpad:/dial: URI; MicroSIP would try to dial it. "
        f"Use one of: {ARGS_FORMS}"
    )


# --- launcher files --------------------------------------------------------------------------

#: Where each shortcut place is, inside a Windows user profile.
PROFILE_FOLDERS: dict[str, tuple[str, ...]] = {
    "desktop": ("Desktop",),
    "start_menu": ("AppData", "Roaming", "Microsoft", "Windows", "Start Menu", "Programs"),
    "startup": ("AppData", "Roaming", "Microsoft", "Windows", "Start Menu", "Programs", "Startup"),
}
#: Fixed times make shortcut bytes reproducible (FILETIME 0 = "not set").
_FILETIME_ZERO = -11644473600
_FIXED_DOS_TIME = datetime.datetime(2000, 1, 1)
_RESERVED_NAMES = {
    "con",
    "prn",
    "aux",
    "nul",
    "conin$",
    "conout$",
    *(f"{port}{digit}" for port in ("com", "lpt") for digit in (*"123456789", "¹", "²", "³")),
}


def reserved_problem(name: str, what: str = "name") -> str | None:
    """Why Windows would not treat ``name`` as an ordinary file or folder name, or None.

    Device names (``CON``, ``NUL``, ``COM1``, ``LPT1``, ... with or without an
    extension, in any case) open the device instead of a file, and a name ending in
    a dot or a space loses it silently.
    """
    if name.endswith((".", " ")):
        return f"{what} {quoted(name)} ends in a dot or a space, which Windows drops from file and folder names"
    stem = name.split(".")[0].rstrip(" ").lower()
    if stem in _RESERVED_NAMES:
        return f"{what} {quoted(name)} is a reserved device name on Windows ({stem.upper()}); choose another"
    return None


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a shortcut's file name on Windows, or None."""
    if not name or name != name.strip() or name.endswith("."):
        return f"{quoted(name)} is not a usable file name (empty, or leading/trailing blanks or dots)"
    bad = sorted({c for c in name if c in '\\/:*?"<>|' or ord(c) < 32})
    if bad:
        return f"{quoted(name)} contains {' '.join(repr(c) for c in bad)}, which Windows file names cannot"
    reserved = reserved_problem(name, "the launcher name")
    if reserved:
        return reserved
    if len(name) > 100:
        return f"{quoted(name)} is longer than 100 characters"
    return None


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


def lnk_target_problem(exe: str) -> str | None:
    """Why a shortcut cannot point at ``exe``, or None."""
    if not re.match(r"^[A-Za-z]:\\[^\\]", exe):
        return f"a shortcut needs the exe's full Windows path (C:\\...), got {quoted(exe)}"
    if not exe.isascii():
        return (
            f"{quoted(exe)} has non-ASCII characters; a shortcut's LinkInfo block stores the path in the "
            "machine's ANSI code page, so install MicroSIP under an ASCII path"
        )
    return None


def cmd_problem(exe_name: str, args: str) -> str | None:
    """Why a ``.cmd`` launcher cannot start ``exe_name`` with ``args``, or None."""
    for what, text in (("the exe name", exe_name), ("launch.args", args)):
        if not text.isascii():
            return (
                f"{what} {quoted(text)} has non-ASCII characters; a .cmd launcher is read in the console's "
                "OEM code page, which would garble them -- use an ASCII name"
            )
    return None


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


# --- the seed document's flags, translated -----------------------------------------------------

#: Environment variable a translated ``--password`` points to (the value is never copied).
PASSWORD_VARIABLE = "MICROSIP_PASSWORD"

#: flag -> (what MicroSIP honours instead, exact?) -- the table the README shows.
LEGACY_TABLE: dict[str, tuple[str, str]] = {
    "--dn": ("account.displayName", "exact"),
    "--user": ("account.username", "exact (a different digest user goes in account.authID)"),
    "--domain": ("account.domain and account.server", "exact (the registrar is `server`)"),
    "--password": (f"account.password: {{env: {PASSWORD_VARIABLE}}}", "the value is never copied"),
    "--proxy": ("account.proxy", "exact"),
    "--stun": ("settings.STUN and settings.enableSTUN: true", "exact"),
    "--call": ("launch.args: the number", "exact (MicroSIP dials it at start)"),
    "--autoanswer": ('settings.autoAnswer: all (1) or "" (0)', "exact"),
    "--dialplan": ("account.dialPlan", "verbatim; MicroSIP's syntax is <match:replace> rules"),
    "--show": ("launch.args: /minimized (minimized, hidden)", "no hidden mode in 3.22"),
    "--debug": ("settings.enableLog: true", "the log path cannot be chosen"),
    "--log": ("nothing", "MicroSIP has no CSV call log"),
    "--setvolume": ("settings.volumeOutput", "a starting value; MicroSIP rewrites it"),
    "--micvolume": ("settings.volumeInput", "a starting value; MicroSIP rewrites it"),
}


@dataclass
class Translation:
    """Legacy flags turned into fleet keys, with a warning per flag that has no exact equivalent."""

    settings: dict[str, Any] = field(default_factory=dict)
    account: dict[str, Any] = field(default_factory=dict)
    args: str | None = None
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    password_given: bool = False

    def layer(self, password: Any = None) -> dict[str, Any]:
        """The translation as a fleet layer (``password`` stands in for a given one)."""
        account = dict(self.account)
        if self.password_given and password is not None:
            account["password"] = password
        out: dict[str, Any] = {}
        if self.settings:
            out["settings"] = dict(self.settings)
        if account:
            out["account"] = account
        if self.args is not None:
            out["launch"] = {"args": self.args}
        return out


def _volume(flag: str, value: str, out: Translation) -> int | None:
    if not (value.isascii() and value.isdigit()) or not 0 <= int(value) <= 100:
        out.errors.append(f"{flag} takes a volume from 0 to 100, got {quoted(value)}")
        return None
    return int(value)


def split_flags(text: str) -> list[str]:
    """Split a flag string like a shell, but keep backslashes (Windows paths: C:\\logs\\sip.log)."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.escape = ""
    return list(lexer)


def translate_flags(argv: list[str], version: str | None = None) -> Translation:
    """Translate the circulating "API documentation" flags into what MicroSIP really reads.

    What people paste is taken as it comes: a leading ``microsip.exe`` (or a path to
    it) is left out with a note, and MicroSIP's real switches (``/minimized``, ...)
    pass through to ``launch.args``.
    """
    out = Translation()
    pending: list[tuple[str, str]] = []
    i = 0
    if argv and ntpath.basename(argv[0].replace("/", "\\")).lower().endswith(".exe"):
        out.warnings.append(
            f"{quoted(argv[0])} is the program, not a flag: left out (set `install.exe` if the seat needs it)"
        )
        i = 1
    while i < len(argv):
        token = argv[i]
        flag, eq, inline = token.partition("=")
        if token.startswith("/") and check_args(token, version or catalogue.default_version()) is None:
            _set_args(out, token, token)  # a real MicroSIP switch: it passes through
            i += 1
            continue
        if flag not in LEGACY_TABLE:
            if token.startswith("-"):
                out.errors.append(f"{quoted(flag)} is not one of the legacy flags ({', '.join(LEGACY_TABLE)})")
                if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                    i += 1  # its value
            else:
                out.errors.append(f"{quoted(token)} is not a flag; values follow their flag (--user 101)")
            i += 1
            continue
        if eq and not (flag == "--password" and not inline and i + 1 < len(argv)):
            value = inline
        elif i + 1 < len(argv):  # `--flag value`, or `--password= value` as a shell splits it
            value = argv[i + 1]
            i += 1
        else:
            out.errors.append(f"{flag} needs a value")
            break
        pending.append((flag, value))
        i += 1
    for flag, value in pending:
        _translate_one(flag, value, out)
    return out


def _translate_one(flag: str, value: str, out: Translation) -> None:
    if flag == "--dn":
        out.account["displayName"] = value
    elif flag == "--user":
        out.account["username"] = value
    elif flag == "--domain":
        out.account["domain"] = value
        out.account["server"] = value
        out.warnings.append(
            "--domain: set both `domain` and `server` (the registrar); change `server` if your "
            "registrar is another host"
        )
    elif flag == "--password":
        out.password_given = True
        out.warnings.append(
            f"--password: the password is not copied; set it in the environment variable "
            f"{PASSWORD_VARIABLE} (or use {{file: path}}) -- a password on a command line is visible "
            "to every user"
        )
    elif flag == "--proxy":
        out.account["proxy"] = value
    elif flag == "--stun":
        out.settings["STUN"] = value
        out.settings["enableSTUN"] = True
    elif flag == "--call":
        _set_args(out, value, flag)
    elif flag == "--autoanswer":
        if value not in ("0", "1"):
            out.errors.append(f"--autoanswer takes 0 or 1, got {quoted(value)}")
        else:
            out.settings["autoAnswer"] = "all" if value == "1" else ""
    elif flag == "--dialplan":
        out.account["dialPlan"] = value
        out.warnings.append(
            "--dialplan: copied verbatim into `dialPlan`; MicroSIP expects rules like "
            "<9:> or (<0:>) separated by |, so check the translation"
        )
    elif flag == "--show":
        if value not in ("normal", "minimized", "hidden"):
            out.errors.append(f"--show takes normal, minimized or hidden, got {quoted(value)}")
        elif value != "normal":
            _set_args(out, "/minimized", flag)
            if value == "hidden":
                out.warnings.append("--show hidden: MicroSIP 3.22 has no hidden mode; it starts minimized to the tray")
    elif flag == "--debug":
        out.settings["enableLog"] = True
        out.warnings.append(
            f"--debug {value}: MicroSIP cannot choose the log path; it logs to <exe name>_log.txt in its data folder"
        )
    elif flag == "--log":
        out.warnings.append(
            f"--log {value}: MicroSIP has no CSV call log (call history stays in the ini's [Calls]); "
            "nothing was translated"
        )
    elif flag in ("--setvolume", "--micvolume"):
        volume = _volume(flag, value, out)
        if volume is not None:
            key = "volumeOutput" if flag == "--setvolume" else "volumeInput"
            out.settings[key] = volume
            out.warnings.append(
                f"{flag}: `{key}` is only a starting value; MicroSIP rewrites it when the user changes it"
            )


def _set_args(out: Translation, args: str, flag: str) -> None:
    if out.args is not None and out.args != args:
        out.warnings.append(f"{flag}: MicroSIP takes one command line; kept {quoted(out.args)}, dropped {quoted(args)}")
        return
    out.args = args

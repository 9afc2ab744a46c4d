"""What a launcher may carry: the one command line MicroSIP really understands, and names Windows takes.

MicroSIP has no argument parser: it compares its whole command line, as one
string, with a handful of switches, and treats anything else as a number to dial
(or, when it holds a space, as a destination plus an instant message). So a
launcher's ``args`` must be exactly one of the forms below; :func:`check_args`
says what MicroSIP would do with anything else. The launcher files themselves
are made in :mod:`provisioner.launchers.shortcuts`.
"""

from __future__ import annotations

import re

from provisioner import catalogue
from provisioner.errors import quoted
from provisioner.numbers import whole

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
    return whole(found.group(1)) if found else None


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
        return (
            f"{args} is not understood by MicroSIP {version} (it arrived in {since})"
            if catalogue.older(version, since)
            else None
        )
    if _DTMF.match(args) or _TRANSFER.match(args):
        return None
    account = _ACCOUNT.match(args)
    if account:
        return _account_problem(account, version)
    if _is_target(args):
        return None
    return _not_a_form(args)


def _account_problem(account: re.Match[str], version: str) -> str | None:
    """Why ``/account:N [number]`` would not work, or None."""
    if catalogue.older(version, "3.21"):
        return f"/account:N is not understood by MicroSIP {version} (it arrived in 3.21)"
    if (whole(account.group(1)) or 0) < 1:
        return "/account:N counts accounts from 1"
    if account.group(2) and not _is_target(account.group(2)):
        return f"after /account:N MicroSIP expects a number to dial, got {quoted(account.group(2))}"
    return None


def _not_a_form(args: str) -> str:
    """What MicroSIP would do with a command line that is none of the forms it reads."""
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


#: Characters Windows refuses in a file name (besides control characters).
FORBIDDEN_IN_NAMES = frozenset('\\/:*?"<>|')


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a shortcut's file name on Windows, or None."""
    if not name or name != name.strip() or name.endswith("."):
        return f"{quoted(name)} is not a usable file name (empty, or leading/trailing blanks or dots)"
    bad = sorted({c for c in name if c in FORBIDDEN_IN_NAMES or ord(c) < 32})
    if bad:
        return f"{quoted(name)} contains {' '.join(repr(c) for c in bad)}, which Windows file names cannot"
    reserved = reserved_problem(name, "the launcher name")
    if reserved:
        return reserved
    if len(name) > 100:
        return f"{quoted(name)} is longer than 100 characters"
    return None


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

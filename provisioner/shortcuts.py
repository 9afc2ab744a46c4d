"""Launchers and the one command line MicroSIP really understands.

MicroSIP has no argument parser: it compares its whole command line, as one
string, with a handful of switches, and treats anything else as a number to dial
(or, when it holds a space, as a destination plus an instant message). So a
launcher's ``args`` must be exactly one of the forms below; :func:`check_args`
says what MicroSIP would do with anything else.
"""

from __future__ import annotations

import re

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
_URI = re.compile(r"^(?i:sip|sips|tel|callto):\S+$")

ARGS_FORMS = (
    "empty, /minimized, /exit, /answer, /hangupall, /hangupcalling, /hangupincoming, "
    "/dtmf:<digits>, /transfer:<number>, /account:<N> [number], or a number or "
    "sip:/tel:/callto: URI to dial"
)


def _is_target(text: str) -> bool:
    return bool(_NUMBER.match(text) or _URI.match(text))


def check_args(args: str, version: str) -> str | None:
    """Why MicroSIP would not read ``args`` as intended, or None when it is fine."""
    if args == "":
        return None
    if "/password:" in args:
        return (
            "'/password:' is refused: the password would be visible to every user in the "
            "process list; set `password` in the seat's accounts instead"
        )
    since = SWITCHES.get(args)
    if since is not None:
        if version < since:
            return f"{args} is not understood by MicroSIP {version} (it arrived in {since})"
        return None
    if _DTMF.match(args) or _TRANSFER.match(args):
        return None
    account = _ACCOUNT.match(args)
    if account:
        if version < "3.21":
            return f"/account:N is not understood by MicroSIP {version} (it arrived in 3.21)"
        if int(account.group(1)) < 1:
            return "/account:N counts accounts from 1"
        if account.group(2) and not _is_target(account.group(2)):
            return f"after /account:N MicroSIP expects a number to dial, got {account.group(2)!r}"
        return None
    if _is_target(args):
        return None
    head, _, rest = args.partition(" ")
    if args.startswith("-"):
        what = (
            f"it would dial {head!r} and send {rest!r} to it as an instant message"
            if rest
            else f"it would dial {head!r}"
        )
        return (
            f"MicroSIP has no {head.split('=')[0]} flag: it reads its whole command line as one "
            f"string, so {what}. Set accounts and settings in the fleet instead "
            "(`launch.legacy_flags` or `provisioner translate-flags` translate such flags)"
        )
    if rest:
        return (
            f"MicroSIP takes one switch or one dial target; with a space it would dial "
            f"{head!r} and send {rest!r} to it as an instant message. Use one of: {ARGS_FORMS}"
        )
    if args.startswith("/"):
        return (
            f"{args!r} is not a MicroSIP switch (switches match exactly and are case-sensitive); "
            f"MicroSIP would try to dial it. Use one of: {ARGS_FORMS}"
        )
    return (
        f"{args!r} is not a number or sip:/tel:/callto: URI; MicroSIP would try to dial it. "
        f"Use one of: {ARGS_FORMS}"
    )

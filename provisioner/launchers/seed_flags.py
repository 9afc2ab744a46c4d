"""The seed document's ``--user``/``--dn``/... flags, translated into what MicroSIP honours."""

from __future__ import annotations

import ntpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provisioner import catalogue
from provisioner.errors import quoted
from provisioner.launchers.command_line import check_args
from provisioner.numbers import whole

# --- the seed document's flags, translated -----------------------------------------------------

#: Environment variable a translated ``--password`` points to (the value is never copied).
PASSWORD_VARIABLE = "MICROSIP_PASSWORD"

#: flag -> (what MicroSIP honours instead, exact?) -- the table docs/fleet-format.md shows.
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
    volume = whole(value) if value.isascii() and value.isdigit() else None
    if volume is None or not 0 <= volume <= 100:
        out.errors.append(f"{flag} takes a volume from 0 to 100, got {quoted(value)}")
        return None
    return volume


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
            # never echo more than a flag's name: what follows it may be a password
            name = re.split(r"[\s=]", flag, maxsplit=1)[0]
            if token.startswith("-"):
                out.errors.append(f"{quoted(name)} is not one of the legacy flags ({', '.join(LEGACY_TABLE)})")
                if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                    i += 1  # its value
            else:
                out.errors.append(
                    f"argument {i + 1} is a value that follows no flag; values follow their flag (--user 101)"
                )
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


#: Flags whose value is one account key, copied as it is.
_ACCOUNT_FLAGS = {"--dn": "displayName", "--user": "username", "--proxy": "proxy"}


def _translate_one(flag: str, value: str, out: Translation) -> None:
    if flag in _ACCOUNT_FLAGS:
        out.account[_ACCOUNT_FLAGS[flag]] = value
    elif flag in ("--setvolume", "--micvolume"):
        _volume_flag(flag, value, out)
    else:
        _TRANSLATORS[flag](flag, value, out)


def _domain(flag: str, value: str, out: Translation) -> None:
    out.account["domain"] = value
    out.account["server"] = value
    out.warnings.append(
        "--domain: set both `domain` and `server` (the registrar); change `server` if your registrar is another host"
    )


def _password(flag: str, value: str, out: Translation) -> None:
    out.password_given = True
    out.warnings.append(
        f"--password: the password is not copied; set it in the environment variable "
        f"{PASSWORD_VARIABLE} (or use {{file: path}}) -- a password on a command line is visible "
        "to every user"
    )


def _stun(flag: str, value: str, out: Translation) -> None:
    out.settings["STUN"] = value
    out.settings["enableSTUN"] = True


def _autoanswer(flag: str, value: str, out: Translation) -> None:
    if value not in ("0", "1"):
        out.errors.append(f"--autoanswer takes 0 or 1, got {quoted(value)}")
    else:
        out.settings["autoAnswer"] = "all" if value == "1" else ""


def _dialplan(flag: str, value: str, out: Translation) -> None:
    out.account["dialPlan"] = value
    out.warnings.append(
        "--dialplan: copied verbatim into `dialPlan`; MicroSIP expects rules like "
        "<9:> or (<0:>) separated by |, so check the translation"
    )


def _show(flag: str, value: str, out: Translation) -> None:
    if value not in ("normal", "minimized", "hidden"):
        out.errors.append(f"--show takes normal, minimized or hidden, got {quoted(value)}")
    elif value != "normal":
        _set_args(out, "/minimized", flag)
        if value == "hidden":
            out.warnings.append("--show hidden: MicroSIP 3.22 has no hidden mode; it starts minimized to the tray")


def _debug(flag: str, value: str, out: Translation) -> None:
    out.settings["enableLog"] = True
    out.warnings.append(
        f"--debug {value}: MicroSIP cannot choose the log path; it logs to <exe name>_log.txt in its data folder"
    )


def _log(flag: str, value: str, out: Translation) -> None:
    out.warnings.append(
        f"--log {value}: MicroSIP has no CSV call log (call history stays in the ini's [Calls]); nothing was translated"
    )


def _volume_flag(flag: str, value: str, out: Translation) -> None:
    volume = _volume(flag, value, out)
    if volume is not None:
        key = "volumeOutput" if flag == "--setvolume" else "volumeInput"
        out.settings[key] = volume
        out.warnings.append(f"{flag}: `{key}` is only a starting value; MicroSIP rewrites it when the user changes it")


#: How each other legacy flag is translated.
_TRANSLATORS: dict[str, Callable[[str, str, Translation], None]] = {
    "--domain": _domain,
    "--password": _password,
    "--stun": _stun,
    "--call": lambda flag, value, out: _set_args(out, value, flag),
    "--autoanswer": _autoanswer,
    "--dialplan": _dialplan,
    "--show": _show,
    "--debug": _debug,
    "--log": _log,
}


def _set_args(out: Translation, args: str, flag: str) -> None:
    if out.args is not None and out.args != args:
        out.warnings.append(f"{flag}: MicroSIP takes one command line; kept {quoted(out.args)}, dropped {quoted(args)}")
        return
    out.args = args

"""Publish: a fleet as a distribution point that Windows PCs apply at logon.

Builds, in memory, what ``provisioner publish`` writes to a share: one folder per
seat (keyed by its Windows user, ``user@computer`` for one PC) holding
``seat.ini`` -- the keys the seat manages, with the same meaning as ``apply``:
set, seeded only when empty, removed -- plus the seat's launchers and phonebook;
the agent; the logon script; the ACL script; a README; ``publish.json``. Same
fleet, same bytes. :mod:`provisioner.deploy` writes it.

``seat.ini`` is UTF-16LE with a BOM, CRLF. A ``[Provisioner]`` header (the
generation id, the exe and its folder, installed or portable, the fleet's
MicroSIP version, the body's length and SHA-256) is followed by a blank line and
the body, so the agent refuses a damaged or half-copied payload. The launch
arguments are not in it: the agent starts MicroSIP again without them (MicroSIP
would dial or act on them). A seat beyond what the agent can hold
(:mod:`provisioner.distribution.agent_limits`) is refused before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import ntpath
from dataclasses import dataclass, field
from typing import Any

from provisioner import ini
from provisioner._resources import data_dir
from provisioner.distribution import agent_limits
from provisioner.errors import FleetError, Problem, Problems, quoted
from provisioner.fleet import Fleet, Seat
from provisioner.render.files import RenderedFile, RenderedSeat

PAYLOAD_FORMAT = 2
AGENT = "agent/provisioner-agent.exe"
#: Where each launcher place is on a Windows PC (the agent asks Windows for the real folder).
PC_PLACES = ("desktop", "start_menu", "startup")


@dataclass
class Published:
    """The distribution point: files by relative POSIX path, and what to tell the admin."""

    files: dict[str, bytes] = field(default_factory=dict)
    seats: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def seat_folder(seat: Seat) -> str:
    """``seats/<user>`` or ``seats/<user>@<computer>``."""
    return f"{seat.user}@{seat.computer}" if seat.computer else seat.user


def skip_reason(seat: Seat) -> str | None:
    """Why a seat is not for a Windows PC's logon, or None."""
    if seat.target and seat.target.type == "wine":
        return "its target is a Wine prefix, not a Windows PC (use apply)"
    if seat.install_mode == "portable" and not ntpath.isabs(seat.exe.replace("/", "\\")):
        return (
            f"a portable copy needs its fixed path on the PC (install.exe: C:\\...\\{ntpath.basename(seat.exe)}); "
            f"got {quoted(seat.exe)} (use bundle for USB sticks)"
        )
    return None


def previous_keys(old: bytes | None) -> set[tuple[str, str]]:
    """The ``(section, key)`` pairs an earlier payload managed or removed (for keys the fleet dropped)."""
    if not old:
        return set()
    try:
        text = ini.decode(old)[0]
    except ini.DecodeError:
        return set()
    _, _, body = text.partition("\r\n\r\n")
    found = set()
    for section in ini.parse(body).sections:
        kind, _, name = section.name.partition(" ")
        if kind in ("Set", "Seed", "Remove") and name:
            found |= {(name, entry.key) for entry in section.entries}
    return found


def _set_and_seed(ini_file: RenderedFile, passwords: bool) -> tuple[list[str], set[tuple[str, str]], int]:
    """The payload's [Set ...] and [Seed ...] sections, the keys they name, and how many lines those are."""
    seeded = set(ini_file.seeded)
    body: list[str] = []
    managed: set[tuple[str, str]] = set()
    count = 0
    for kind in ("Set", "Seed"):
        for section, entries in ini_file.managed:
            rows = []
            for key, text in entries:
                if ((section.lower(), key.lower()) in seeded) != (kind == "Seed"):
                    continue
                if key.lower() == "password" and not passwords:
                    continue
                rows.append(f"{key}={text}")
                managed.add((section, key))
            count += len(rows)
            if rows:
                body += [f"[{kind} {section}]", *rows]
    return body, managed, count


def _dropped(previous: bytes | None, managed: set[tuple[str, str]], passwords: bool) -> list[tuple[str, str]]:
    """Keys the previous payload managed that this one does not: the agent removes them."""
    managed_lower = {(s.lower(), k.lower()) for s, k in managed}
    dropped = sorted(
        pair for pair in previous_keys(previous) if (pair[0].lower(), pair[1].lower()) not in managed_lower
    )
    if not passwords:  # a password left out is the user's to type, never one to remove
        dropped = [pair for pair in dropped if pair[1].lower() != "password"]
    return dropped


def _seat_folder_files(rendered: RenderedSeat, body: list[str]) -> tuple[dict[str, bytes], list[str]]:
    """The launchers and phonebook beside seat.ini (their sections added to ``body``), and the launchers' names."""
    files: dict[str, bytes] = {}
    launchers = [f for f in rendered.launchers if f.place in PC_PLACES]
    names = sorted({f.name for f in launchers})
    if names:
        body.append("[Launchers]")
        for name in names:
            places = " ".join(f.place for f in launchers if f.name == name)
            body.append(f"{name}={places}")
            files[name] = next(f.data for f in launchers if f.name == name)
    contacts = [f for f in rendered.files if f.kind == "contacts"]
    if contacts:
        files["Contacts.xml"] = contacts[0].data
        body += ["[Contacts]", f"mode={'replace' if contacts[0].replace else 'merge'}"]
    if files:
        body.append("[Files]")
        body += [f"{name}={hashlib.sha256(data).hexdigest()}" for name, data in sorted(files.items())]
    return files, names


def seat_files(
    seat: Seat, rendered: RenderedSeat, *, passwords: bool, previous: bytes | None, version: str
) -> tuple[dict[str, bytes], str, agent_limits.Counts]:
    """The files of one seat's folder (``seat.ini``, the launchers and phonebook it names) and its generation."""
    body, managed, keys = _set_and_seed(rendered.ini, passwords)
    dropped = _dropped(previous, managed, passwords)
    for section in sorted({s for s, _ in dropped}):
        body += [f"[Remove {section}]", *(f"{k}=" for s, k in dropped if s == section)]
    keys += len(dropped)
    files, names = _seat_folder_files(rendered, body)
    body_bytes = "\r\n".join([*body, ""]).encode("utf-16-le")
    checksum = hashlib.sha256(body_bytes).hexdigest()
    generation = checksum[:16]
    exe = seat.exe.replace("/", "\\")
    header = [
        "[Provisioner]",
        f"format={PAYLOAD_FORMAT}",
        f"seat={seat.id}",
        f"user={seat.user}",
        f"computer={seat.computer or ''}",
        f"generation={generation}",
        f"exe={ntpath.basename(exe)}",
        f"folder={ntpath.dirname(exe)}",
        f"mode={seat.install_mode}",
        f"ini={seat.ini_name}",
        f"microsip={version}",
        f"length={len(body_bytes)}",
        f"checksum={checksum}",
    ]
    files["seat.ini"] = ini.BOM + ("\r\n".join(header) + "\r\n\r\n").encode("utf-16-le") + body_bytes
    counts = agent_limits.Counts(
        payload_bytes=len(files["seat.ini"]),
        keys=keys,
        launchers=len(names),
        files={name: len(data) for name, data in files.items() if name != "seat.ini"},
    )
    return files, generation, counts


def build(
    fleet: Fleet,
    rendered: dict[str, RenderedSeat],
    *,
    passwords: bool,
    previous: dict[str, bytes],
) -> Published:
    """The whole distribution point; FleetError when two seats would land in the same folder."""
    out = Published()
    problems = Problems()
    taken: dict[str, Seat] = {}
    for seat in fleet.seats:
        reason = skip_reason(seat)
        if reason:
            out.skipped.append(f"seat {seat.id}: skipped, {reason}")
            continue
        folder = seat_folder(seat)
        other = taken.setdefault(folder.lower(), seat)
        if other is not seat:
            problems.errors.append(
                Problem(
                    seat.source.loc(()),
                    seat.label,
                    f"publishes to seats/{folder} like seat {other.id} ({other.source.loc(())}); give one "
                    "of them another user, or a `computer`",
                    code="share-collision",
                )
            )
            continue
        files, generation, counts = seat_files(
            seat, rendered[seat.id], passwords=passwords, previous=previous.get(folder), version=fleet.version
        )
        beyond = agent_limits.seat_problems(seat.exe.replace("/", "\\"), seat.computer, counts)
        problems.errors += [
            Problem(
                seat.loc(path),
                seat.label,
                f"{message} (the Windows agent could not apply it)",
                code="agent-unsupported",
            )
            for path, message in beyond
        ]
        if beyond:
            continue
        for name, data in files.items():
            out.files[f"seats/{folder}/{name}"] = data
        out.seats.append(
            {
                "seat": seat.id,
                "user": seat.user,
                "computer": seat.computer,
                "folder": f"seats/{folder}",
                "generation": generation,
                "passwords": passwords and any(a.get("password") for a in seat.accounts),
            }
        )
    problems.raise_if_errors()
    if problems.warnings:
        raise FleetError([], problems.warnings)
    out.files[AGENT] = (data_dir("data") / "agent" / "provisioner-agent.exe").read_bytes()
    out.files["logon.cmd"] = LOGON_CMD.encode("ascii")
    out.files["acl.cmd"] = ACL_CMD.encode("ascii")
    out.files["README.txt"] = readme(fleet, out.seats, passwords=passwords).encode("utf-8")
    document = {
        "format": PAYLOAD_FORMAT,
        "fleet": fleet.name,
        "microsip": fleet.version,
        "seats": out.seats,
        "skipped": out.skipped,
    }
    out.files["publish.json"] = (json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()
    return out


LOGON_CMD = (
    "@echo off\r\n"
    "rem Applies this user's MicroSIP seat from the share this file is on (microsip-provisioner).\r\n"
    'rem Group Policy: User Configuration > Windows Settings > Scripts > Logon > "\\\\server\\share\\logon.cmd"\r\n'
    '"%~dp0agent\\provisioner-agent.exe" --share "%~dp0."\r\n'
)


#: Well-known SIDs, which icacls takes as ``*SID`` whatever the server's language calls the group.
ADMINISTRATORS, LOCAL_SYSTEM, AUTHENTICATED_USERS = "*S-1-5-32-544", "*S-1-5-18", "*S-1-5-11"
_ADMINS = f'"{ADMINISTRATORS}:(OI)(CI)F" "{LOCAL_SYSTEM}:(OI)(CI)F"'

#: acl.cmd: plain ASCII, whatever the users are called. cmd.exe reads a batch file in the console's
#: code page, so a name written into it would arrive mangled (ü, Ł, Д); the names come from the
#: share's own folders instead: ``status\<user>\`` is one folder a user, named exactly as the user
#: (``for /d`` hands cmd the name as Windows stores it; a for variable is never expanded again, so
#: ``%``, ``&``, ``)`` and ``'`` in a name are safe). Each user's seat folders are ``seats\<user>`` and
#: ``seats\<user>@*`` (icacls takes the wildcard). Groups are granted by well-known SID.
ACL_CMD = "\r\n".join(
    [
        "@echo off",
        "rem Run on the file server after each publish, as an administrator (microsip-provisioner).",
        "rem A seat folder holds a plain-text password until the agent hands it to MicroSIP:",
        "rem only its user (and administrators) may read it. Each user may write only their own",
        "rem status\\<user>\\ folder, so a report there comes from that user. Groups are named by SID",
        "rem (Administrators, SYSTEM, Authenticated Users in any language); users by the domain of",
        "rem whoever runs this.",
        f'icacls "%~dp0." /inheritance:r /grant:r {_ADMINS} "{AUTHENTICATED_USERS}:RX"',
        'icacls "%~dp0agent" /inheritance:e',
        f'icacls "%~dp0seats" /inheritance:r /grant:r {_ADMINS} "{AUTHENTICATED_USERS}:(NP)RX"',
        f'icacls "%~dp0status" /inheritance:r /grant:r {_ADMINS} "{AUTHENTICATED_USERS}:(NP)X"',
        'pushd "%~dp0status"',
        "for /d %%U in (*) do (",
        f'  icacls "%~dp0status\\%%U" /inheritance:r /grant:r {_ADMINS} "%USERDOMAIN%\\%%U:(OI)(CI)M"',
        f'  if exist "%~dp0seats\\%%U\\" icacls "%~dp0seats\\%%U" /inheritance:r /grant:r {_ADMINS} '
        '"%USERDOMAIN%\\%%U:(OI)(CI)RX"',
        f'  icacls "%~dp0seats\\%%U@*" /inheritance:r /grant:r {_ADMINS} "%USERDOMAIN%\\%%U:(OI)(CI)RX"',
        ")",
        "popd",
        "",
    ]
)


def status_users(seats: list[dict[str, Any]]) -> list[str]:
    """The users with a report folder ``status/<user>/`` (one per user, whatever the case)."""
    seen: dict[str, str] = {}
    for entry in seats:
        seen.setdefault(str(entry["user"]).lower(), str(entry["user"]))
    return sorted(seen.values(), key=str.lower)


def readme(fleet: Fleet, seats: list[dict[str, Any]], *, passwords: bool) -> str:
    """How to wire the share up: GPO, Intune, PDQ, Task Scheduler."""
    warning = (
        "Each seat folder holds the seat's plain-text password until the agent hands it to MicroSIP\r\n"
        "(which encrypts it at its next start). Run acl.cmd so that only its user can read it.\r\n"
        if passwords
        else "Published with --no-passwords: each user types their password into MicroSIP once.\r\n"
    )
    return (
        f"MicroSIP seats of fleet {fleet.name} ({len(seats)} seats), published by microsip-provisioner\r\n"
        "\r\n"
        "Each user's seat is applied at logon, with the user's own rights, by agent\\provisioner-agent.exe:\r\n"
        "when MicroSIP is running and no call is in progress it closes it as /exit does (a call\r\n"
        "or a ringing phone: it defers and tries at its next run), sets the keys the fleet manages\r\n"
        "in the ini MicroSIP reads, places the launchers and phonebook, starts MicroSIP again as\r\n"
        "it was (never with the launcher's arguments), and reports to status\\<user>\\<user>@<computer>.ini\r\n"
        "(each user may write only their own folder there: acl.cmd sets that up).\r\n"
        "\r\n" + warning + "\r\n"
        "Wiring it up (pick one):\r\n"
        "- Group Policy: User Configuration > Policies > Windows Settings > Scripts (Logon/Logoff) >\r\n"
        "  Logon > Add > \\\\server\\share\\logon.cmd\r\n"
        "- Intune: a PowerShell or Win32 app that runs in the user context:\r\n"
        "  \\\\server\\share\\agent\\provisioner-agent.exe --share \\\\server\\share\r\n"
        "- PDQ Deploy / an RMM: a command step run as the logged-on user, same command line.\r\n"
        "- Task Scheduler: a task with the trigger 'At log on' for the users' group, 'Run only when\r\n"
        "  user is logged on', action: the same command line.\r\n"
        "- task.xml (published with --share-path): that task, ready made -- at logon, at unlock and\r\n"
        "  every 2 hours, for the Users group, least privilege, 10 minutes at most. It runs the agent\r\n"
        "  that provisioner-agent.msi installs (provisioner package-agent builds it; deploy it per\r\n"
        "  machine: GPO software installation, Intune, PDQ) in %ProgramFiles%\\microsip-provisioner.\r\n"
        "  Register the task on each PC as an administrator (a computer startup script, PDQ):\r\n"
        "  schtasks /create /xml \\\\server\\share\\task.xml /tn microsip-provisioner /f\r\n"
        "  Group Policy Preferences (Scheduled Task, At least Windows 7) and Intune (detection rule:\r\n"
        "  the file %LOCALAPPDATA%\\microsip-provisioner\\state.ini exists; return code 1 = retry):\r\n"
        '  the documentation\'s "Deploying to Windows PCs" (docs/windows.md) gives every setting.\r\n'
        "\r\n"
        "Exit codes: 0 applied or nothing to do, 1 deferred (a call in progress, or the agent cannot\r\n"
        "tell; nothing changed, the next run tries again), 2 damaged payload, 3 failed with nothing\r\n"
        "changed. The agent keeps a log and the\r\n"
        "previous ini in %LOCALAPPDATA%\\microsip-provisioner\\ (--rollback restores it).\r\n"
        "Rollout: provisioner status <this folder>\r\n"
    )

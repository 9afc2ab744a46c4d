"""``provisioner import``: existing microsip.ini files -> a fleet YAML.

Each file becomes a seat (its id from the user-profile folder or the file's
name); values every file shares go to ``defaults``. Only what MicroSIP reads and
a fleet may manage is kept: values equal to MicroSIP's defaults, runtime state
(window geometry, volumes, ...), call and dial history are left out, and
encrypted passwords are never copied -- each becomes an ``{env: ...}`` reference.
Values MicroSIP would reject or keys it does not know are reported.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from pydantic import ValidationError

from provisioner import catalogue, ini
from provisioner.errors import FleetError, Loc, Problem, printable, quoted
from provisioner.ini import unreadable_reason
from provisioner.models import ID_PATTERN, SpeedDial, section_model
from provisioner.numbers import whole

ENV_PREFIX = "SIP_PASSWORD"
#: Sections MicroSIP keeps for itself: never imported.
STATE_SECTIONS = {"calls": "call history", "dialed": "dial history", "contacts": "legacy contacts"}


@dataclass
class ImportedSeat:
    """One ini file as a seat."""

    source: str
    id: str
    user: str | None
    install: dict[str, str]
    settings: dict[str, Any]
    accounts: list[dict[str, Any]]
    active_account: int | None
    speed_dials: list[dict[str, Any]]
    passwords: dict[int, str] = field(default_factory=dict)  # account number -> variable name
    plain_passwords: set[int] = field(default_factory=set)  # account numbers whose password was plain text
    left_out: list[str] = field(default_factory=list)
    target: dict[str, str] = field(default_factory=dict)  # where the file was found, as a fleet target


@dataclass
class ImportResult:
    """The fleet YAML and what the admin should know."""

    yaml: str
    warnings: list[str]
    seats: list[ImportedSeat]


#: Where an installed MicroSIP keeps its ini, below the user's profile folder.
PROFILE_INI_FOLDER = ("appdata", "roaming", "microsip")


def _profile_index(path: Path) -> int | None:
    """The index of the user's folder in ``path`` when it reads ``.../<user>/AppData/Roaming/MicroSIP/x.ini``."""
    lowered = [p.lower() for p in PurePath(path).parts]
    if len(lowered) >= 6 and tuple(lowered[-4:-1]) == PROFILE_INI_FOLDER:
        return len(lowered) - 5
    return None


def _target(path: Path, base: Path | None) -> dict[str, str]:
    """The seat's target as the path shows it: a user's AppData below a root of profiles, else a portable folder.

    Written relative to ``base`` (the folder the fleet is saved in) when below it, else absolute: the
    fleet reads a relative path from its own folder, wherever it is saved.
    """
    if not str(path).isprintable():
        return {}  # a folder name with control characters cannot be a target; the admin writes one
    parts = path.absolute().parts
    index = _profile_index(path)
    folder = Path(*parts[:-5]) if index is not None else Path(*parts[:-1])  # the root of profiles, or the exe's
    if base is not None and folder.is_relative_to(base.absolute()):
        folder = folder.relative_to(base.absolute())
    if index is not None:
        return {"type": "appdata", "root": folder.as_posix()}
    return {"type": "portable", "path": folder.as_posix()}


def _seat_id(path: Path, taken: set[str]) -> tuple[str, str | None]:
    user = None
    index = _profile_index(path)
    if index is not None:
        user = PurePath(path).parts[index]
        base = user
    elif path.stem.lower() != "microsip":
        base = path.stem
    else:  # the folder names the seat; a folder called MicroSIP says nothing, so its parent does
        folders = [p for p in reversed(path.absolute().parent.parts) if p.lower() != "microsip" and p not in ("/", "")]
        base = folders[0] if folders else "seat"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-._")[:64] or "seat"
    if not re.match(ID_PATTERN, slug):
        slug = f"seat-{slug}"[:64]
    candidate, n = slug, 2
    while candidate in taken:
        candidate = f"{slug[:60]}-{n}"
        n += 1
    taken.add(candidate)
    return candidate, user


def _typed(key: catalogue.Key, raw: str, version: str) -> tuple[Any, str | None]:
    """A value as the fleet writes it, or a reason to leave it out."""
    value: Any = raw
    if key.type == "bool":
        if raw not in ("0", "1", ""):
            return None, f"{quoted(raw)} is not 0 or 1"
        value = raw == "1"
    elif key.type == "int":
        value = whole(raw) if re.fullmatch(r"-?[0-9]+", raw) else None
        if value is None:
            return None, f"{quoted(raw[:40])} is not a whole number MicroSIP reads"
    model = section_model(key.section, version)
    try:
        checked = model.model_validate({key.name: value})
    except ValidationError as exc:
        return None, exc.errors()[0]["msg"]
    return getattr(checked, key.name), None


def _is_default(key: catalogue.Key, value: Any) -> bool:
    default = key.default
    if key.type == "bool":
        return default is not None and bool(int(default)) == value
    return default is not None and default == value


def _read(path: Path, taken: set[str], version: str, warnings: list[str], ansi: str, base: Path | None) -> ImportedSeat:
    parsed = ini.parse(_decoded(path, ansi, warnings))
    values = parsed.as_dict()
    names = {s.name.lower(): s.name for s in parsed.sections}
    seat_id, user = _seat_id(path, taken)
    where = str(path)
    left_out: list[str] = []
    settings, active = _settings(values.get("settings", {}), where, version, warnings, left_out)
    accounts, passwords = _accounts(values, seat_id, where, version, warnings)
    if f"account{len(accounts) + 1}" in values:
        left_out.append(f"[{names[f'account{len(accounts) + 1}']}] and after (no domain, so MicroSIP ignores them)")
    if not accounts:
        raise FleetError(
            [
                Problem(
                    Loc(where), "", "no [Account1] with a domain: MicroSIP would have no account", code="import-refused"
                )
            ]
        )
    if active is not None and active > len(accounts):
        active = None
    speed_dials = _speed_dials(values.get("shortcuts", {}), where, warnings)
    _other_sections(names, values, where, warnings, left_out)
    plain = {n for n in passwords if not _ENCRYPTED.fullmatch(values[f"account{n}"].get("password", ""))}
    return ImportedSeat(
        where, seat_id, user, _install(path, user), settings, accounts, active, speed_dials, passwords,
        plain, left_out, _target(path, base),
    )  # fmt: skip


def _decoded(path: Path, ansi: str, warnings: list[str]) -> str:
    """The file's text as MicroSIP reads it (a BOM, or the ANSI code page), saying when that garbles it."""
    data = path.read_bytes()
    text, encoding = ini.decode(data, ansi)
    if encoding != "utf-16-le" and not data.isascii():
        mojibake = ini.utf8_as_ansi(data, ansi)
        warnings.append(
            f"{path}: no BOM, so read in the ANSI code page {ansi}, as MicroSIP reads it"
            + (f"; the file is UTF-8, which MicroSIP shows as mojibake ({mojibake})" if mojibake else "")
        )
    return text


def _settings(
    section: dict[str, str], where: str, version: str, warnings: list[str], left_out: list[str]
) -> tuple[dict[str, Any], int | None]:
    """[Settings] keys that differ from MicroSIP's defaults, and the active account (accountId)."""
    settings: dict[str, Any] = {}
    active = None
    known = catalogue.section_keys("settings", version)
    runtime: list[str] = []
    for key_lower, raw in section.items():
        if key_lower == "accountid":
            number = whole(raw) if raw.isascii() and raw.isdigit() else None
            active = number if number is not None and number > 0 else None
            continue
        key = known.get(key_lower)
        if key is None or key.runtime_rewritten:
            _unread_setting(key_lower, key, where, version, warnings, runtime)
            continue
        value, problem = _typed(key, raw, version)
        if problem:
            warnings.append(f"{where}: [Settings] {key.name}: {problem}; left out")
        elif not _is_default(key, value):
            settings[key.name] = value
    if runtime:
        left_out.append(
            f"state MicroSIP rewrites at runtime ({len(runtime)} keys: {', '.join(sorted(runtime)[:6])}...)"
        )
    return settings, active


def _unread_setting(
    key_lower: str, key: catalogue.Key | None, where: str, version: str, warnings: list[str], runtime: list[str]
) -> None:
    """A [Settings] key the fleet does not take: MicroSIP's runtime state, or a key this MicroSIP ignores."""
    if key is not None:
        runtime.append(key.name)
        return
    found = catalogue.find(key_lower, "settings")
    if found and (found[0].runtime_rewritten or found[0].legacy):
        runtime.append(found[0].name)
    else:
        warnings.append(f"{where}: [Settings] {key_lower}: not a key MicroSIP {version} reads; left out")


def _accounts(
    values: dict[str, dict[str, str]], seat_id: str, where: str, version: str, warnings: list[str]
) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """[Account1], [Account2], ... as MicroSIP reads them (up to the first without a domain), and the
    variable each password is to come from."""
    accounts: list[dict[str, Any]] = []
    passwords: dict[int, str] = {}
    account_keys = catalogue.section_keys("account", version)
    index = 1
    while f"account{index}" in values and values[f"account{index}"].get("domain"):
        account: dict[str, Any] = {}
        for key_lower, raw in values[f"account{index}"].items():
            key = account_keys.get(key_lower)
            if key is None:
                if not catalogue.find(key_lower, "account"):
                    warnings.append(f"{where}: [Account{index}] {key_lower}: not a key MicroSIP reads; left out")
            elif key.name == "password":
                if raw:
                    variable = re.sub(r"[^A-Z0-9]+", "_", f"{ENV_PREFIX}_{seat_id}_{index}".upper())
                    passwords[index] = variable
                    account["password"] = {"env": variable}
            elif key.name in ("server", "proxy") and "sip:" in raw.lower():
                # MicroSIP puts sip: in front itself, of the server and of each proxy (3.22.3 mainDlg.cpp:3662
                # and :3578), so a sip: in the file would make sip:sip:host; the fleet holds the bare host
                bare = " ".join(part[4:] if part[:4].lower() == "sip:" else part for part in raw.split(" "))
                _account_value(account, key, bare, f"{where}: [Account{index}]", version, warnings)
            else:
                _account_value(account, key, raw, f"{where}: [Account{index}]", version, warnings)
        accounts.append(account)
        index += 1
    return accounts, passwords


#: How MicroSIP stores a password it encrypted: the hex of whole 8-byte RC2 blocks (lib/Crypto.cpp; its
#: decoder takes either case). Anything else is a plain-text password MicroSIP has not encrypted yet.
_ENCRYPTED = re.compile(r"(?:[0-9a-fA-F]{16})+")


def _account_value(
    account: dict[str, Any], key: catalogue.Key, raw: str, where: str, version: str, warnings: list[str]
) -> None:
    value, problem = _typed(key, raw, version)
    if problem:
        warnings.append(f"{where} {key.name}: {problem}; left out")
    elif key.name == "domain" or not _is_default(key, value):
        account[key.name] = value


def _other_sections(
    names: dict[str, str], values: dict[str, dict[str, str]], where: str, warnings: list[str], left_out: list[str]
) -> None:
    """MicroSIP's own state sections (left out, said so), and sections MicroSIP does not read."""
    for section, what in STATE_SECTIONS.items():
        if section in values:
            left_out.append(f"[{names[section]}] ({what})")
    for section in names:
        if section not in ("settings", "shortcuts", *STATE_SECTIONS) and not re.fullmatch(r"account[0-9]+", section):
            warnings.append(f"{where}: [{names[section]}]: not a section MicroSIP reads; left out")


def _install(path: Path, user: str | None) -> dict[str, str]:
    """A portable copy when the ini lay beside its exe, else the installed exe (by the ini's name)."""
    if user is None:
        return {"mode": "portable", "exe": f"{path.stem}.exe"}
    if path.stem.lower() != "microsip":
        return {"exe": f"C:\\Program Files\\MicroSIP\\{path.stem}.exe"}
    return {}


def _speed_dials(section: dict[str, str], where: str, warnings: list[str]) -> list[dict[str, Any]]:
    """The buttons MicroSIP shows: it reads [Shortcuts] 0, 1, ... and stops at the first empty slot."""
    dials = []
    for slot in range(8):
        raw = section.get(str(slot), "")
        if not raw:
            hidden = [str(n) for n in range(slot + 1, 8) if section.get(str(n))]
            if hidden:
                warnings.append(
                    f"{where}: [Shortcuts] {', '.join(hidden)}: left out, as MicroSIP never shows them "
                    f"(it stops reading at the empty slot {slot})"
                )
            break
        fields = raw.split(";")
        if len(fields) < 3:
            warnings.append(f"{where}: [Shortcuts] {slot}: {quoted(raw)} is not label;number;type; left out")
            continue
        kind = fields[2]
        number = whole(kind) if kind.isascii() and kind.isdigit() else None
        if number is not None:
            legacy = ("call", "video", "message", "dtmf", "transfer")
            kind = legacy[number] if number < len(legacy) else kind
        dial: dict[str, Any] = {"label": fields[0], "number": fields[1], "type": kind}
        if len(fields) > 3 and fields[3]:
            dial["number2"] = fields[3]
        if len(fields) > 4 and fields[4] == "1":
            dial["presence"] = True
        try:
            SpeedDial.model_validate(dial)
        except ValidationError as exc:
            warnings.append(f"{where}: [Shortcuts] {slot}: {exc.errors()[0]['msg']}; left out")
            continue
        dials.append(dial)
    return dials


def import_inis(
    paths: list[Path],
    name: str = "imported",
    version: str | None = None,
    ansi: str = ini.DEFAULT_ANSI,
    base: Path | None = None,
) -> ImportResult:
    """Read ini files (one without a BOM in the ``ansi`` code page, as MicroSIP does) into a fleet YAML.

    Target paths are relative to ``base`` (the folder the YAML is saved in) when below it, else absolute.

    FleetError when a file is not an ini.
    """
    version = version or catalogue.default_version()
    errors = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            errors.append(Problem(Loc(str(path)), "", f"cannot read: {exc.strerror or exc}", code="file-unreadable"))
            continue
        reason = unreadable_reason(data)
        if reason is not None:
            errors.append(
                Problem(Loc(str(path), 1, 1), "", f"not an ini file MicroSIP could read ({reason})", code="not-an-ini")
            )
    if errors:
        raise FleetError(errors)
    warnings: list[str] = []
    taken: set[str] = set()
    seats = [_read(path, taken, version, warnings, ansi, base) for path in paths]
    defaults = _shared(seats)
    return ImportResult(_emit(name, version, defaults, seats, ansi), warnings, seats)


def _shared(seats: list[ImportedSeat]) -> dict[str, dict[str, Any]]:
    """Values every file has in common move to ``defaults`` (with two files or more)."""
    if len(seats) < 2:
        return {}
    shared_settings = {
        k: v for k, v in seats[0].settings.items() if all(s.settings.get(k, object()) == v for s in seats[1:])
    }
    accounts = [a for s in seats for a in s.accounts]
    shared_account = {
        k: v for k, v in accounts[0].items() if k != "password" and all(a.get(k, object()) == v for a in accounts[1:])
    }
    for seat in seats:
        seat.settings = {k: v for k, v in seat.settings.items() if k not in shared_settings}
        seat.accounts = [{k: v for k, v in a.items() if k not in shared_account} for a in seat.accounts]
    return {"settings": shared_settings, "account": shared_account}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)


def _mapping(lines: list[str], indent: str, values: dict[str, Any]) -> None:
    for key, value in values.items():
        lines.append(f"{indent}{key}: {_scalar(value)}")


def _emit(name: str, version: str, defaults: dict[str, dict[str, Any]], seats: list[ImportedSeat], ansi: str) -> str:
    lines = [
        f"# Imported by microsip-provisioner from {len(seats)} ini file{'s' if len(seats) != 1 else ''}.",
        "# Left out: values equal to MicroSIP's defaults, state MicroSIP rewrites while it runs",
        "# (window geometry, volumes, ...), call and dial history. Passwords are never copied:",
        "# set the environment variables named below (or use {file: path}) before render/apply.",
        "version: 1",
        f"name: {_scalar(name)}",
        f"microsip: {_scalar(version)}",
    ]
    if ansi != ini.DEFAULT_ANSI:
        lines.append(f"ansi_code_page: {ansi[2:]}")
    if defaults.get("settings") or defaults.get("account"):
        lines.append("defaults:")
        for section in ("settings", "account"):
            if defaults.get(section):
                lines.append(f"  {section}:")
                _mapping(lines, "    ", defaults[section])
    lines.append("seats:")
    for seat in seats:
        _emit_seat(lines, seat)
    return "\n".join(lines) + "\n"


def _emit_seat(lines: list[str], seat: ImportedSeat) -> None:
    """One seat's entry of the fleet YAML, with what was left out of it as comments."""
    lines.append(f"  # from {printable(str(seat.source))}")
    lines.extend(f"  # left out: {printable(note)}" for note in seat.left_out)
    lines.append(f"  - id: {_scalar(seat.id)}")
    if seat.user and seat.user != seat.id:
        lines.append(f"    user: {_scalar(seat.user)}")
    if seat.install:
        lines.append("    install: " + _scalar(seat.install))
    if seat.target:
        lines.append("    target: " + _scalar(seat.target) + "  # as found; point it where apply should write")
    if seat.active_account and seat.active_account != 1:
        lines.append(f"    active_account: {seat.active_account}")
    if seat.settings:
        lines.append("    settings:")
        _mapping(lines, "      ", seat.settings)
    lines.append("    accounts:")
    for number, account in enumerate(seat.accounts, start=1):
        _emit_account(lines, account, plain=number in seat.plain_passwords)
    if seat.speed_dials:
        lines.append("    speed_dials:")
        lines.extend("      - " + _scalar(dial) for dial in seat.speed_dials)


def _emit_account(lines: list[str], account: dict[str, Any], *, plain: bool) -> None:
    if not account:
        lines.append("      - {}")
        return
    for position, (key, value) in enumerate(account.items()):
        lead = "      - " if position == 0 else "        "
        line = f"{lead}{key}: {_scalar(value)}"
        if key == "password" and plain:
            line += "  # plain-text password not copied: set this variable"
        elif key == "password":
            line += "  # MicroSIP's encrypted password was not copied: set this variable"
        lines.append(line)

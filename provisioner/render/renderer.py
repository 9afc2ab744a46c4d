"""Render a seat to the exact bytes of its ``microsip.ini``.

Values are turned into the text MicroSIP reads (``1``/``0``, quoted hooks,
secrets resolved), laid out by a Jinja template -- the fleet's own from its
``templates:`` folder, else the built-in one -- and the template's output is
parsed back and compared with the seat before it is accepted: a template decides
layout, never content, so not even a custom template can add a section or a key.
The result is UTF-16LE with a BOM and CRLF line endings, ``[Settings]`` first.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import jinja2

from provisioner import catalogue, ini, runner
from provisioner.errors import Loc, Problems
from provisioner.fleet import Fleet, Seat
from provisioner.inputs.secrets import SecretError, SecretRef, resolve
from provisioner.launchers import shortcuts
from provisioner.models import MAX_SPEED_DIALS, SpeedDial, text_problem
from provisioner.render.contacts_xml import contacts_xml
from provisioner.render.files import RenderedFile, RenderedSeat, Slot
from provisioner.render.templates import Templates

INI_TEMPLATE = "microsip.ini.j2"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _order(section: catalogue.Section) -> dict[str, int]:
    return {k.name: i for i, k in enumerate(catalogue.all_keys()) if k.section == section}


class Renderer:
    """Renders seats of one fleet; holds the Jinja environment and the key order."""

    def __init__(
        self,
        fleet: Fleet,
        environ: Mapping[str, str] | None = None,
        root: Path | None = None,
        *,
        passwords: bool = True,
    ) -> None:
        self.fleet = fleet
        self.passwords = passwords  # False: passwords are left empty, never resolved
        self.root = root
        self.environ = os.environ if environ is None else environ
        self.templates = Templates(fleet.templates_dir)
        self._resolved: dict[tuple[str, str, str, str | None], str] = {}
        self.settings_order = _order("settings")
        self.account_order = _order("account")

    def template(self, name: str) -> jinja2.Template:
        """A template by name (the fleet's own folder first, then the built-in ones)."""
        return self.templates.get(name)

    def _value(
        self,
        key: catalogue.Key | None,
        value: Any,
        where: Callable[[], tuple[Loc, str]],
        problems: Problems,
    ) -> str | None:
        """``value`` as ini text; secrets are resolved here. ``where`` locates it, if needed."""
        if isinstance(value, SecretRef) and not self.passwords and key is not None and key.name == "password":
            return ""
        if isinstance(value, SecretRef):
            value = self._secret(key, value, where, problems)
            if value is None:
                return None
        return ini.written_value(_text(value), hook=bool(key and key.kind == "hook"))

    def _secret(
        self,
        key: catalogue.Key | None,
        ref: SecretRef,
        where: Callable[[], tuple[Loc, str]],
        problems: Problems,
    ) -> str | None:
        """The secret's value, resolved once per run however many seats share it; None with a problem recorded."""
        cached = (ref.kind, ref.ref, ref.base_dir, ref.confine)
        value = self._resolved.get(cached)
        if value is None:
            try:
                value = resolve(
                    ref, self.environ, lambda message: problems.warn(*where(), message, code="secret-exposed")
                )
            except SecretError as exc:
                problems.error(*where(), f"{exc} (secret {ref.describe()})", code="secret-missing")
                return None
            self._resolved[cached] = value
        problem = text_problem(value, key.max_length if key else 255, "the secret's value")
        if problem:
            problems.error(*where(), problem, code="unsafe-text")
            return None
        return value

    def inputs(self, seat: Seat, placed: str) -> str | None:
        """A digest of everything the seat's files are made from, so that a later run can tell they are the same.

        It covers the tool itself, the templates, the fleet-wide values, the seat's effective
        values and ``placed`` (where its files go). No secret's value enters it, and none is
        read for it: a password counts only as present (a secret never resolves to an empty
        one, and it is seeded: what the file holds is kept), and a seat with any other secret
        has no digest (None) and is always rendered and judged afresh.
        """
        if any(isinstance(value, SecretRef) for value in seat.settings.values()):
            return None
        if any(isinstance(value, SecretRef) for keys in seat.ini.values() for value in keys.values()):
            return None
        accounts = []
        for account in seat.accounts:
            shown = dict(account)
            for name, key, value in account.keyed():
                if isinstance(value, SecretRef):
                    if key.name != "password":
                        return None
                    shown[name] = "(a secret)"
            accounts.append(shown)
        made_of = (
            self._fleet_inputs,
            placed,
            (seat.id, seat.user, seat.computer, seat.profiles, seat.install_mode, seat.exe, seat.target),
            (seat.settings, accounts, seat.active_account, seat.ini, seat.launch),
            (seat.speed_dials, seat.contacts, seat.contacts_mode, seat.enforce, sorted(seat.unmanaged), seat.implied),
        )
        return hashlib.sha256(repr(made_of).encode("utf-8", "surrogatepass")).hexdigest()

    @functools.cached_property
    def _fleet_inputs(self) -> str:
        """What every seat's files are made from alike (see :meth:`inputs`), spelled once per run."""
        return repr(
            (
                tool_digest(),
                self.templates.digest(),
                (self.fleet.name, self.fleet.version, self.fleet.ansi, str(self.root)),
            )
        )

    def context(self, seat: Seat, problems: Problems) -> dict[str, Any]:
        """The values the template lays out, already in MicroSIP's text form."""
        settings: list[tuple[str, str]] = [("accountId", str(seat.active_account))]
        for name, key, value in sorted(seat.settings.keyed(), key=lambda v: self.settings_order.get(v[1].name, 10**6)):
            text = self._value(key, value, partial(_at_setting, seat, name), problems)
            if text is not None:
                settings.append((name, text))
        extra = dict(seat.ini)
        settings += self._extra(seat, extra.pop("Settings", {}), "Settings", problems)
        accounts = []
        for index, account in enumerate(seat.accounts):
            rows = []
            for name, key, value in sorted(account.keyed(), key=lambda v: self.account_order.get(v[1].name, 10**6)):
                text = self._value(key, value, partial(_at_account, seat, index, name), problems)
                if text is not None:
                    rows.append((name, text))
            section = f"Account{index + 1}"
            rows += self._extra(seat, extra.pop(section, {}), section, problems)
            accounts.append(rows)
        sections = [(name, self._extra(seat, extra[name], name, problems)) for name in sorted(extra, key=str.lower)]
        if seat.speed_dials:
            sections.insert(0, ("Shortcuts", speed_dial_rows(seat.speed_dials, self.fleet.version)))
        return {
            "settings": settings,
            "accounts": accounts,
            "sections": sections,
            "seat": {"id": seat.id, "user": seat.user, "exe": seat.exe, "mode": seat.install_mode},
            "fleet": {"name": self.fleet.name, "microsip": self.fleet.version},
        }

    def _extra(self, seat: Seat, keys: dict[str, Any], section: str, problems: Problems) -> list[tuple[str, str]]:
        rows = []
        for key in sorted(keys, key=str.lower):
            if keys[key] is None:
                continue
            text = self._value(
                None,
                keys[key],
                partial(_at_ini, seat, section, key),
                problems,
            )
            if text is not None:
                rows.append((key, text))
        return rows

    def render_ini(self, seat: Seat, problems: Problems) -> RenderedFile | None:
        """The seat's ini file, or None when a problem was recorded."""
        before = len(problems.errors)
        context = self.context(seat, problems)
        if len(problems.errors) > before:
            return None
        text = self.templates.render_ini(INI_TEMPLATE, context, f"{seat.label} (template)", problems)
        if text is None or len(problems.errors) > before:
            return None
        managed = (
            ("Settings", tuple(context["settings"])),
            *((f"Account{i}", tuple(rows)) for i, rows in enumerate(context["accounts"], start=1)),
            *((name, tuple(rows)) for name, rows in context["sections"]),
        )
        return RenderedFile(
            seat.ini_name,
            ini.encode(text),
            managed,
            frozenset(_secret_keys(seat)),
            frozenset(_seeded_keys(seat)),
            frozenset(_enforced_keys(seat)),
        )

    def render(self, seat: Seat, problems: Problems) -> RenderedSeat | None:
        """All files of one seat, or None when a problem was recorded."""
        ini_file = self.render_ini(seat, problems)
        if ini_file is None:
            return None
        launchers = shortcuts.launcher_files(seat, self.root, problems)
        if launchers is None:
            return None
        extra = []
        if seat.contacts:
            extra.append(
                RenderedFile(
                    "Contacts.xml",
                    contacts_xml(seat.contacts),
                    kind="contacts",
                    replace=seat.contacts_mode == "replace",
                )
            )
        files = (ini_file, *launchers, *extra)
        assert tuple(f.slot for f in files) == layout(seat), "layout() names the files render makes"
        return RenderedSeat(seat, files)


def layout(seat: Seat) -> tuple[Slot, ...]:
    """The files a seat deploys, in the order :meth:`Renderer.render` makes them, without making them."""
    contacts: tuple[Slot, ...] = (("Contacts.xml", "ini", "contacts"),) if seat.contacts else ()
    launchers: tuple[Slot, ...] = tuple((name, place, "owned") for name, place in shortcuts.launcher_slots(seat))
    return ((seat.ini_name, "ini", "ini"), *launchers, *contacts)


@functools.cache
def tool_digest() -> str:
    """A digest of the tool's own code and key catalogue: a new version judges every seat afresh."""
    package = Path(__file__).resolve().parent.parent  # the provisioner package
    digest = hashlib.sha256()
    for path in sorted([*package.rglob("*.py"), package / "data" / "catalogue.json"]):
        if path.is_file():
            digest.update(path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _secret_keys(seat: Seat) -> list[tuple[str, str]]:
    """``(section, key)`` pairs whose value is a secret (every password among them)."""
    found = [("settings", k.lower()) for k, v in seat.settings.items() if isinstance(v, SecretRef)]
    for index, account in enumerate(seat.accounts, start=1):
        found += [(f"account{index}", k.lower()) for k, v in account.items() if isinstance(v, SecretRef)]
        found.append((f"account{index}", "password"))
    for section, keys in seat.ini.items():
        found += [(section.lower(), k.lower()) for k, v in keys.items() if isinstance(v, SecretRef)]
    return found


def _enforced_keys(seat: Seat) -> set[tuple[str, str]]:
    """Keys MicroSIP rewrites that the fleet puts back on every apply: ``enforce``, and what its values imply."""
    enforced = {("settings", name.lower()) for name in seat.enforce}
    return enforced | {("settings", str(path[1]).lower()) for path in seat.implied if path[0] == "settings"}


def _seeded_keys(seat: Seat) -> list[tuple[str, str]]:
    """Keys written only where the file has no value: passwords, and state MicroSIP rewrites."""
    enforced = {key for _, key in _enforced_keys(seat)}
    found = [("settings", name.lower()) for name, key, _ in seat.settings.keyed() if key.runtime_rewritten]
    found.append(("settings", "accountid"))  # the user switches accounts in MicroSIP's menu or with /account:N
    found = [(section, key) for section, key in found if key not in enforced]
    found += [(f"account{i}", "password") for i in range(1, len(seat.accounts) + 1)]
    return found + sorted(seat.unmanaged)  # left to the user: written only where the file has none


def speed_dial_rows(dials: list[SpeedDial], version: str) -> list[tuple[str, str]]:
    """[Shortcuts] keys 0..7 as ``label;number;type;number2;presence`` (3.22.16: ``;label2``); unused cleared."""
    rows = []
    for slot in range(MAX_SPEED_DIALS):
        if slot < len(dials):
            dial = dials[slot]
            fields = [dial.label, dial.number or "", dial.type, dial.number2 or "", "1" if dial.presence else "0"]
            if catalogue.speed_dial_fields(version) == 6:
                fields.append(dial.label2 or "")
            rows.append((str(slot), ini.written_value(";".join(fields))))
        else:
            rows.append((str(slot), ""))
    return rows


def _at_setting(seat: Seat, name: str) -> tuple[Loc, str]:
    return seat.loc(("settings", name)), f"{seat.label}.settings.{name}"


def _at_account(seat: Seat, index: int, name: str) -> tuple[Loc, str]:
    return seat.account_loc(index, name), f"{seat.label}.accounts[{index + 1}].{name}"


def _at_ini(seat: Seat, section: str, key: str) -> tuple[Loc, str]:
    return seat.loc(("ini", section, key)), f"{seat.label}.ini.{section}.{key}"


def render_fleet(
    fleet: Fleet,
    seat_ids: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
    root: Path | None = None,
    *,
    passwords: bool = True,
) -> list[RenderedSeat]:
    """Render the chosen seats (all by default) in memory; raise FleetError on any problem."""
    seats = fleet.chosen(seat_ids)
    renderer = Renderer(fleet, environ, root, passwords=passwords)
    problems = Problems()
    out = []
    with runner.current().bulk():
        for seat in seats:
            rendered = renderer.render(seat, problems)
            if rendered is not None:
                out.append(rendered)
    problems.raise_if_errors()
    fleet.add_warnings(problems.warnings)
    return out

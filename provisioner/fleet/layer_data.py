"""Each validated layer as plain data: ini spellings, legacy flags, phonebook files, profile order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from provisioner import catalogue
from provisioner.errors import Loc, Problems, quoted
from provisioner.fleet.diagnostics import validate
from provisioner.fleet.merging import finalize, overlay
from provisioner.fleet.seat import LayerSource
from provisioner.fleet.sources import data_table
from provisioner.inputs.secrets import SecretRef
from provisioner.inputs.tables import csv_scalar
from provisioner.inputs.yaml_reader import (
    Document,
    Path_,
    pack,
)
from provisioner.launchers.seed_flags import (
    PASSWORD_VARIABLE,
    split_flags,
    translate_flags,
)
from provisioner.models import (
    CONTACT_ATTRIBUTES,
    CONTACT_FLAGS,
    Contact,
    fleet_models,
)


def dump_layer(
    model: BaseModel, doc: Document, prefix: Path_, label: str, version: str, problems: Problems, root: Path
) -> dict[str, Any]:
    """A validated layer as plain data: `ini` sections in MicroSIP's spelling, legacy flags translated."""
    data = model.model_dump(exclude_unset=True)
    if data.get("ini"):
        data["ini"] = {_ini_section_name(section): keys for section, keys in data["ini"].items()}
    launch = data.get("launch") or {}
    if launch.get("legacy_flags"):
        data = _translate_legacy(data, doc, prefix, label, version, problems)
    if data.get("contacts_file"):
        data = _read_contacts_file(data, doc, prefix, label, version, problems, root)
    return data


def _read_contacts_file(
    data: dict[str, Any],
    doc: Document,
    prefix: Path_,
    label: str,
    version: str,
    problems: Problems,
    root: Path,
) -> dict[str, Any]:
    """Load a layer's `contacts_file` (CSV with Contacts.xml's attribute names) into its `contacts`."""
    data = dict(data)
    name = data.pop("contacts_file")
    table = data_table(doc, str(name), root, (*prefix, "contacts_file"), f"{label}.contacts_file", problems)
    if table is None:
        return data
    csv_doc = Document(table.path, {})
    columns = []
    for col, cell in enumerate(table.header, start=1):
        if cell not in CONTACT_ATTRIBUTES:
            hint = catalogue.did_you_mean(cell, list(CONTACT_ATTRIBUTES))
            problems.error(
                Loc(table.path, 1, col),
                cell,
                f"{quoted(cell)} is not a Contacts.xml attribute{hint}; use {', '.join(CONTACT_ATTRIBUTES)}",
                code="csv-header",
            )
            continue
        columns.append((col, cell))
    entries = []
    for index, (line, cells) in enumerate(table.rows):
        row = {}
        csv_doc.value_locs[(index,)] = pack(line, 1)
        for col, cell in columns:
            value = cells[col - 1].strip()
            if value:
                row[cell] = csv_scalar(value) if cell in CONTACT_FLAGS else value
                csv_doc.value_locs[(index, cell)] = pack(line, col)
                csv_doc.labels[(index, cell)] = cell
        csv_doc.labels[(index,)] = f"row {line}"
        model = validate(Contact, row, csv_doc, (index,), version, problems)
        if model is not None:
            entries.append(model.model_dump(exclude_none=True))
    explicit = {c["number"]: c for c in data.get("contacts") or []}
    data["contacts"] = [c for c in entries if c["number"] not in explicit] + list(explicit.values())
    return data


def _translate_legacy(
    data: dict[str, Any], doc: Document, prefix: Path_, label: str, version: str, problems: Problems
) -> dict[str, Any]:
    """Apply a layer's `launch.legacy_flags` under its own explicit keys (which win)."""
    text = data["launch"]["legacy_flags"]
    where = doc.locate((*prefix, "launch", "legacy_flags"))
    path = f"{label}.launch.legacy_flags"
    try:
        argv = split_flags(text)
    except ValueError as exc:
        problems.error(where, path, f"cannot split the flags like a shell would: {exc}", code="seed-flags")
        return data
    translation = translate_flags(argv)
    for message in translation.errors:
        problems.error(where, path, message, code="seed-flags")
    for message in translation.warnings:
        problems.warn(where, path, message, code="seed-flags")
    if translation.errors:
        return data
    raw = translation.layer(password={"env": PASSWORD_VARIABLE})
    scratch = Problems()
    model = validate(fleet_models(version)["layer"], raw, doc, prefix, version, scratch)
    for problem in scratch.errors:
        problems.error(
            where, path, f"translated to {problem.path.removeprefix(label + '.')}: {problem.message}", code=problem.code
        )
    if model is None:
        return data
    translated = model.model_dump(exclude_unset=True)
    merged: dict[str, Any] = finalize(overlay(translated, data))
    merged["launch"] = {k: v for k, v in merged["launch"].items() if k != "legacy_flags"}
    return merged


def same_ini_spelling(data: dict[str, Any], ordered: list[LayerSource]) -> dict[str, Any]:
    """``data`` with its `ini` sections and keys spelled as the first layer spelled them.

    Windows matches ini names case-insensitively, so ``[foo]`` in one layer and
    ``[FOO]`` in another are one section and must merge as one.
    """
    ini = data.get("ini")
    if not ini:
        return data
    spelling: dict[str, str] = {}
    for layer in ordered:
        for section, keys in (layer.data.get("ini") or {}).items():
            spelling.setdefault(section.lower(), section)
            for key in keys or {}:
                spelling.setdefault(f"{section.lower()}\0{key.lower()}", key)
    renamed: dict[str, Any] = {}
    for section, keys in ini.items():
        name = spelling[section.lower()]
        if keys is None:
            renamed[name] = None
            continue
        bucket = renamed.setdefault(name, {})
        for key, value in keys.items():
            bucket[spelling[f"{section.lower()}\0{key.lower()}"]] = value
    return {**data, "ini": renamed}


def layer_warnings(
    source: LayerSource, seat_accounts: list[dict[str, Any]] | None, version: str, problems: Problems
) -> None:
    data = source.data
    for name, value in (data.get("settings") or {}).items():
        key = catalogue.section_keys("settings", version)[name.lower()]
        if key.runtime_rewritten and value is not None:
            problems.warn(
                source.loc(("settings", name)),
                f"{source.label}.settings.{name}",
                f"MicroSIP rewrites {quoted(name)} while it runs; the fleet's value is only a starting point",
                code="volatile-key",
            )
    accounts = [("account", data.get("account"))] + [
        (f"accounts[{i + 1}]", a) for i, a in enumerate(seat_accounts or [])
    ]
    for where, account in accounts:
        password = (account or {}).get("password")
        if isinstance(password, SecretRef) and password.kind == "literal" and password.ref:
            path: Path_ = (
                ("account", "password") if where == "account" else ("accounts", int(where[9:-1]) - 1, "password")
            )
            problems.warn(
                source.loc(path),
                f"{source.label}.{where}.password",
                "plain-text password in the fleet file; use {env: NAME} or {file: path}",
                code="plaintext-password",
            )
    for section, keys in (data.get("ini") or {}).items():
        canonical = _ini_section_name(section)
        for key in keys or {}:
            where_path: Path_ = ("ini", section, key)
            label = f"{source.label}.ini.{section}.{key}"
            kind = "settings" if canonical == "Settings" else "account" if canonical.startswith("Account") else None
            known = catalogue.find(key, "settings" if kind == "settings" else "account") if kind else []
            if known:
                home = "settings" if kind == "settings" else "account (or accounts)"
                problems.error(
                    source.loc(where_path, key=True),
                    label,
                    f"{quoted(known[0].name)} is a catalogue key; set it under `{home}` so it is checked",
                    code="catalogue-key-in-ini",
                )
            else:
                problems.warn(
                    source.loc(where_path, key=True),
                    label,
                    f"written verbatim to [{canonical}]; MicroSIP's catalogue does not list this key",
                    code="unlisted-key",
                )


def _ini_section_name(section: str) -> str:
    lowered = section.lower()
    if lowered == "settings":
        return "Settings"
    if lowered.startswith("account") and lowered[7:].isascii() and lowered[7:].isdigit():
        return f"Account{int(lowered[7:])}"
    return section


def profile_order(
    source: LayerSource,
    wanted: list[str],
    profiles: dict[str, tuple[LayerSource, list[str]] | None],
    problems: Problems,
) -> list[LayerSource] | None:
    """The seat's profiles in application order; None when one of them did not validate."""
    order: list[LayerSource] = []
    broken = False
    applied: set[str] = set()

    def visit(name: str, chain: list[str], at: tuple[LayerSource, Path_], label: str) -> None:
        if name in chain:  # `at` becomes a location only for an error: most seats never need one
            cycle = " -> ".join([*chain[chain.index(name) :], name])
            problems.error(
                at[0].loc(at[1]), label, f"extends cycle: {cycle}; remove one of the `extends`", code="extends-cycle"
            )
            return
        if name in applied:
            return
        if name not in profiles:
            hint = catalogue.did_you_mean(name, list(profiles))
            problems.error(at[0].loc(at[1]), label, f"unknown profile {quoted(name)}{hint}", code="unknown-profile")
            return
        entry = profiles[name]
        if entry is None:
            nonlocal broken
            broken = True
            return
        psource, extends = entry
        for j, parent in enumerate(extends):
            visit(parent, [*chain, name], (psource, ("extends", j)), f"{psource.label}.extends[{j + 1}]")
        applied.add(name)
        order.append(psource)

    for i, name in enumerate(wanted):
        visit(name, [], (source, ("profiles", i)), f"{source.label}.profiles[{i + 1}]")
    return None if broken else order

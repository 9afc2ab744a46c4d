"""Seats from CSV files: one row a seat, its header naming fleet fields."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from provisioner import catalogue
from provisioner.errors import Loc, Problems, quoted
from provisioner.fleet.seat import CSV_LISTS, CSV_SEAT_FIELDS, YAML_ONLY_FIELDS
from provisioner.fleet.sources import data_table
from provisioner.inputs.tables import csv_scalar
from provisioner.inputs.yaml_reader import (
    Document,
    Path_,
    pack,
)
from provisioner.numbers import whole


def load_seat_files(docs: list[Document], version: str, problems: Problems, root: Path) -> list[Document]:
    """Documents holding the seats of each `seat_files` CSV (one seat per row).

    A seat file must lie inside the fleet's folder, and so must the secret files its
    rows name: CSV files are data (often an HR or phone-system export), not the admin's
    configuration.
    """
    out = []
    for doc in docs:
        entries = doc.data.get("seat_files") if isinstance(doc.data, dict) else None
        if entries is None:
            continue
        if not isinstance(entries, list):
            problems.error(
                doc.locate(("seat_files",)), "seat_files", "expected a list of {path, profiles}", code="wrong-type"
            )
            continue
        for i, entry in enumerate(entries):
            seat_doc = _seat_file(doc, i, entry, version, problems, root)
            if seat_doc is not None:
                seat_doc.confine = str(root)
                out.append(seat_doc)
    return out


def _seat_file(doc: Document, i: int, entry: Any, version: str, problems: Problems, root: Path) -> Document | None:
    """The seats of the i-th entry of `seat_files`; None with the problem recorded."""
    label = f"seat_files[{i + 1}]"
    found = _seat_file_entry(doc, i, {"path": entry} if isinstance(entry, str) else entry, problems)
    if found is None:
        return None
    table = data_table(doc, found[0], root, ("seat_files", i), label, problems)
    return None if table is None else _seat_rows(table, found[1], version, problems)


def _seat_file_entry(doc: Document, i: int, entry: Any, problems: Problems) -> tuple[str, list[str]] | None:
    """An entry's path and profiles, as written; None with the problem recorded."""
    label = f"seat_files[{i + 1}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        problems.error(
            doc.locate(("seat_files", i)), label, "expected {path: seats.csv, profiles: [...]}", code="wrong-type"
        )
        return None
    unknown = sorted(set(entry) - {"path", "profiles"})
    if unknown:
        message = f"unknown key {quoted(unknown[0])}; a seat file has `path` and `profiles`"
        problems.error(doc.locate(("seat_files", i)), label, message, code="unknown-key")
        return None
    profiles = entry.get("profiles") or []
    if isinstance(profiles, str):
        profiles = profiles.split()
    if not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles):
        problems.error(
            doc.locate(("seat_files", i, "profiles")),
            f"{label}.profiles",
            "expected a list of profile names",
            code="wrong-type",
        )
        return None
    return entry["path"], profiles


def _header_parts(cell: str) -> tuple[list[str | int] | None, str | None]:
    """A header cell's dotted parts (list positions as numbers from 0), or an error message."""
    parts: list[str | int] = []
    for piece in cell.split("."):
        if not piece:
            return None, f"header {quoted(cell)} has an empty part"
        if not (piece.isascii() and piece.isdigit()):
            parts.append(piece)
            continue
        position = whole(piece)
        if position is None:
            return None, f"header {quoted(cell[:60])}: a list position of {len(piece)} digits"
        if position < 1:
            return None, f"header {quoted(cell)}: list positions count from 1"
        parts.append(position - 1)
    return parts, None


def _head_problem(cell: str, head: str | int) -> str | None:
    """Why a header's first part is not one a seat file may name, or None."""
    if head in YAML_ONLY_FIELDS:
        return (
            f"header {quoted(cell)}: `{head}` comes only from the fleet's YAML, never from a seat file; "
            "put it in a profile and name the profile in a `profiles` column"
        )
    if head not in CSV_SEAT_FIELDS:
        hint = catalogue.did_you_mean(str(head), list(CSV_SEAT_FIELDS))
        return (
            f"header {quoted(cell)}: {quoted(head)} is not a seat field{hint}; "
            "headers are dotted paths like accounts.1.username"
        )
    return None


def _csv_header(cell: str, version: str) -> tuple[Path_ | None, str | None]:
    """A header cell as a path into a seat, or an error message."""
    parts, error = _header_parts(cell)
    if parts is None:
        return None, error
    head = parts[0]
    error = _head_problem(cell, head)
    if error is not None:
        return None, error
    key: str | int | None = None
    if head == "account" and len(parts) >= 2:
        key = parts[1]
    elif head == "accounts" and len(parts) >= 3 and isinstance(parts[1], int):
        key = parts[2]
    elif head == "accounts":
        return None, f"header {quoted(cell)}: account columns look like accounts.1.username"
    if isinstance(key, str):
        known = catalogue.section_keys("account", version).get(key.lower())
        if known is None:
            return None, f"header {quoted(cell)}: {catalogue.why_unknown(key, 'account', version)}"
        parts[parts.index(key)] = known.name
    return tuple(parts), None


def _columns(table: Any, version: str, problems: Problems) -> list[tuple[int, Path_, str]] | None:
    """Each header cell's column, path and text; None when the header has a problem (in ``problems``)."""
    columns: list[tuple[int, Path_, str]] = []
    seen: dict[Path_, int] = {}
    ok = True
    for col, cell in enumerate(table.header, start=1):
        path, error = _csv_header(cell, version)
        if path is not None and path in seen:
            problems.error(Loc(table.path, 1, col), cell, f"the same column as column {seen[path]}", code="csv-header")
            continue
        nested = next((c for p, c in seen.items() if path and (p == path[: len(p)] or path == p[: len(path)])), None)
        if path is not None and nested is not None:
            error = (
                f"header {quoted(cell)} and column {nested} ({table.header[nested - 1]}) name a value and a part of it"
            )
        if error is not None or path is None:
            problems.error(Loc(table.path, 1, col), cell, error or "bad header", code="csv-header")
            ok = False
            continue
        seen[path] = col
        columns.append((col, path, cell))
    if ("id",) not in seen:
        problems.error(Loc(table.path, 1, 1), "id", "a seat file needs an `id` column", code="csv-header")
        return None
    return columns if ok else None  # with a bad header, the rows would only repeat what it says


def _seat_rows(table: Any, profiles: list[str], version: str, problems: Problems) -> Document | None:
    """Seats from a CSV table, with every value located at its row and column."""
    columns = _columns(table, version, problems)
    if columns is None:
        return None
    doc = Document(table.path, {"seats": []})
    for index, (line, cells) in enumerate(table.rows):
        seat: dict[str, Any] = {}
        base: Path_ = ("seats", index)
        doc.value_locs[base] = pack(line, 1)
        row_ok = all([_cell(doc, seat, base, line, column, cells, problems) for column in columns])
        if profiles:
            seat["profiles"] = [*profiles, *seat.get("profiles", [])]
        if row_ok:
            doc.data["seats"].append(seat)
    return doc


def _cell(
    doc: Document,
    seat: dict[str, Any],
    base: Path_,
    line: int,
    column: tuple[int, Path_, str],
    cells: list[str],
    problems: Problems,
) -> bool:
    """Put one cell's value into the row's seat, located; False when it cannot go there (in ``problems``)."""
    col, path, header = column
    cell = cells[col - 1]
    if not cell.strip():
        return True  # an empty cell sets nothing
    value: Any = cell.strip().split() if path in CSV_LISTS else csv_scalar(cell)
    if not _put(seat, path, value):
        problems.error(
            Loc(doc.path, line, col), header, f"{header} is given, but not the columns before it", code="csv-header"
        )
        return False
    full = (*base, *path)
    for cut in range(len(base) + 1, len(full) + 1):
        doc.value_locs.setdefault(full[:cut], pack(line, col))
        doc.key_locs.setdefault(full[:cut], pack(line, col))
    doc.value_locs[full] = pack(line, col)
    doc.labels[full] = header
    return True


def _put(target: dict[str, Any], path: Path_, value: Any) -> bool:
    """Set ``value`` at ``path`` (ints are list positions); False when a list would have a gap."""
    node: Any = target
    for part, nxt in itertools.pairwise(path):
        container: Any = [] if isinstance(nxt, int) else {}
        if isinstance(part, int):
            if part > len(node):
                return False
            if part == len(node):
                node.append(container)
            node = node[part]
        else:
            node = node.setdefault(part, container)
    last = path[-1]
    if isinstance(last, int):
        if last > len(node):
            return False
        if last == len(node):
            node.append(value)
        else:
            node[last] = value
    else:
        node[last] = value
    return True

"""CSV tables: seat files and contact files, read with the line number of every row."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.errors import Loc, Problems, quoted
from provisioner.inputs.yaml_reader import YInt, read_text_file
from provisioner.numbers import whole


@dataclass
class CsvTable:
    """A CSV file: its header cells and rows, each with its line number in the file."""

    path: str
    header: list[str]
    rows: list[tuple[int, list[str]]]
    delimiter: str


def load_csv(path: Path) -> CsvTable:
    """Read a CSV file (UTF-8 with or without BOM; ``,`` or Excel's ``;``).

    Raise FleetError pointing at the line of the problem: not UTF-8, no header,
    a row with more or fewer cells than the header.
    """
    name, text = read_text_file(path, "CSV file", '"CSV UTF-8"')
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    problems = Problems()
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    try:
        line = 1
        for cells in reader:
            number, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip() for cell in cells]
                continue
            if len(cells) != len(header):
                problems.error(
                    Loc(name, number, min(len(cells), len(header)) + 1),
                    "",
                    f"this row has {len(cells)} cells, the header has {len(header)}; "
                    f"check the separators ({quoted(delimiter)}) and quotes",
                    code="csv-malformed",
                )
                continue
            rows.append((number, cells))
    except csv.Error as exc:
        problems.error(Loc(name, reader.line_num, 1), "", f"malformed CSV: {exc}", code="csv-malformed")
    if header is None:
        problems.error(Loc(name, 1, 1), "", "the file has no header row", code="csv-malformed")
    problems.raise_if_errors()
    assert header is not None
    return CsvTable(name, header, rows, delimiter)


def csv_scalar(cell: str) -> Any:
    """A CSV cell as a fleet value: whole numbers keep their spelling, true/false are booleans."""
    text = cell.strip()
    value = whole(text)
    if value is not None:
        number = YInt(value)
        number.raw = text
        return number
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text

"""The fleet's files: the version it targets, its includes, names that must stay inside it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from provisioner import catalogue
from provisioner.errors import FleetError, Problems, quoted
from provisioner.fleet.diagnostics import validate
from provisioner.inputs.tables import CsvTable, load_csv
from provisioner.inputs.yaml_reader import (
    Document,
    Path_,
    YFloat,
    YInt,
    load_file,
    raw_text,
)
from provisioner.models import (
    NAME_PATTERN,
    choices_text,
    show,
)


def version_of(doc: Document, problems: Problems) -> str:
    value = doc.data.get("microsip") if isinstance(doc.data, dict) else None
    if value is None:
        return catalogue.default_version()
    text = raw_text(value) if isinstance(value, YFloat | YInt) else value
    if isinstance(text, str) and text in catalogue.versions():
        doc.data["microsip"] = text
        return text
    problems.error(
        doc.locate(("microsip",)),
        "microsip",
        f"{show(value)} is not a supported MicroSIP version; use one of {choices_text(catalogue.versions())} (quoted)",
        code="unsupported-version",
    )
    return catalogue.default_version()


def load_includes(top: Document, problems: Problems) -> list[Document]:
    includes = _Includes(Path(top.path).resolve().parent, problems, [top], {Path(top.path).resolve()})
    includes.visit(top, [Path(top.path).resolve()])
    return includes.docs


@dataclass
class _Includes:
    """The fleet file and every file it includes, each once, all inside the fleet's folder."""

    root: Path
    problems: Problems
    docs: list[Document]
    seen: set[Path]

    def visit(self, doc: Document, stack: list[Path]) -> None:
        """Load what ``doc`` includes, and what those include (``stack``: the files on the way)."""
        entries = doc.data.get("include") if isinstance(doc.data, dict) else None
        if entries is None:
            return
        if isinstance(entries, str):
            entries = [entries]
            doc.data["include"] = entries
        if not isinstance(entries, list):
            self.problems.error(
                doc.locate(("include",)), "include", "expected a list of YAML file paths", code="wrong-type"
            )
            return
        for i, entry in enumerate(entries):
            target = self._target(doc, i, entry, stack)
            if target is None or target in self.seen:
                continue
            self.seen.add(target)
            included = self._load(doc, i, entry, target)
            if included is not None:
                self.docs.append(included)
                self.visit(included, [*stack, target])

    def _fail(self, doc: Document, i: int, message: str) -> None:
        self.problems.error(
            doc.locate(("include", i)), f"include[{i + 1}]", message, code="bad-include"
        )  # located only for the error

    def _target(self, doc: Document, i: int, entry: Any, stack: list[Path]) -> Path | None:
        """The file the i-th include names, resolved; None (with the problem) when it may not be read."""
        if not isinstance(entry, str) or not entry.strip():
            self._fail(doc, i, "expected a path to a YAML file")
            return None
        try:
            target = (Path(doc.path).parent / entry).resolve()
        except (OSError, RuntimeError, ValueError) as exc:
            self._fail(doc, i, f"the path cannot be resolved ({exc.__class__.__name__}: {exc})"[:300])
            return None
        if not target.is_relative_to(self.root):
            self._fail(
                doc, i, f"{quoted(entry)} is outside the fleet's folder {self.root}; includes must stay inside it"
            )
            return None
        if target in stack:
            chain = " -> ".join(p.name for p in [*stack, target])
            self._fail(doc, i, f"include cycle: {chain}; remove one of the includes")
            return None
        return target

    def _load(self, doc: Document, i: int, entry: str, target: Path) -> Document | None:
        """The included file, loaded; None (with the problem) when it is missing or not a mapping."""
        try:
            found = target.exists()
        except OSError as exc:
            self._fail(doc, i, f"the path cannot be checked ({exc.strerror or exc})")
            return None
        if not found:
            self._fail(doc, i, f"{quoted(entry)} does not exist (resolved to {target})")
            return None
        try:
            included = load_file(as_shown(target))
        except FleetError as exc:
            self.problems.errors.extend(exc.errors)
            return None
        if not isinstance(included.data, dict):
            message = "an included file must be a mapping with `profiles` and/or `seats`"
            self.problems.error(included.locate(()), "", message, code="top-level")
            return None
        return included


def inside_fleet(doc: Document, name: str, root: Path, at: Path_, label: str, problems: Problems) -> Path | None:
    """``name`` (relative to ``doc``'s folder, written at ``at`` in it) when it stays inside the fleet's ``root``.

    The position of ``at`` is looked up only for an error: a clean fleet never builds its position tables.
    """
    if "\x00" in name:
        problems.error(doc.locate(at), label, "the path holds a NUL character", code="bad-path")
        return None
    path = Path(doc.path).parent / name
    try:
        inside = path.resolve().is_relative_to(root)
    except (OSError, RuntimeError, ValueError) as exc:
        problems.error(doc.locate(at), label, f"{quoted(name)} cannot be resolved ({exc})", code="bad-path")
        return None
    if not inside:
        problems.error(
            doc.locate(at),
            label,
            f"{quoted(name)} is outside the fleet's folder {root}; data files must stay inside it",
            code="path-outside",
        )
        return None
    return path


def data_table(doc: Document, name: str, root: Path, at: Path_, label: str, problems: Problems) -> CsvTable | None:
    """The CSV file ``name`` names (see :func:`inside_fleet`), read; None with the problem recorded."""
    path = inside_fleet(doc, name, root, at, label, problems)
    if path is None:
        return None
    try:
        return load_csv(as_shown(path))
    except FleetError as exc:
        problems.errors.extend(exc.errors)
        return None


def as_shown(path: Path) -> Path:
    """A file another file names, spelled relative to the working folder when it lies below it.

    Locations in messages then read like the fleet file's own (``profiles/office.yaml:3:5``).
    """
    resolved = path.resolve()
    return Path(os.path.relpath(resolved)) if resolved.is_relative_to(Path.cwd()) else resolved


def check_top(fleet_model: type[BaseModel], top: Document, version: str, problems: Problems) -> None:
    """Check the top-level scalar fields with the generated fleet model (layers are checked apart)."""
    data = {k: (None if k in ("defaults", "profiles", "seats", "microsip") else v) for k, v in top.data.items()}
    validate(fleet_model, data, top, (), version, problems)


def valid_name(name: str) -> bool:
    return bool(re.match(NAME_PATTERN, name))

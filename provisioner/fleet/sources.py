"""The fleet's files: the version it targets, its includes, names that must stay inside it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel

from provisioner import catalogue
from provisioner.errors import FleetError, Problems, quoted
from provisioner.fleet.diagnostics import validate
from provisioner.loading import (
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


def _version_of(doc: Document, problems: Problems) -> str:
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
    )
    return catalogue.default_version()


def _load_includes(top: Document, problems: Problems) -> list[Document]:
    root = Path(top.path).resolve().parent
    docs = [top]
    seen = {Path(top.path).resolve()}

    def visit(doc: Document, stack: list[Path]) -> None:
        entries = doc.data.get("include") if isinstance(doc.data, dict) else None
        if entries is None:
            return
        if isinstance(entries, str):
            entries = [entries]
            doc.data["include"] = entries
        if not isinstance(entries, list):
            problems.error(doc.locate(("include",)), "include", "expected a list of YAML file paths")
            return
        for i, entry in enumerate(entries):
            label = f"include[{i + 1}]"

            def fail(message: str, i: int = i, label: str = label) -> None:
                problems.error(doc.locate(("include", i)), label, message)  # located only for the error

            if not isinstance(entry, str) or not entry.strip():
                fail("expected a path to a YAML file")
                continue
            try:
                target = (Path(doc.path).parent / entry).resolve()
            except (OSError, RuntimeError, ValueError) as exc:
                fail(f"the path cannot be resolved ({exc.__class__.__name__}: {exc})"[:300])
                continue
            if not target.is_relative_to(root):
                fail(f"{quoted(entry)} is outside the fleet's folder {root}; includes must stay inside it")
                continue
            if target in stack:
                chain = " -> ".join(p.name for p in [*stack, target])
                fail(f"include cycle: {chain}; remove one of the includes")
                continue
            if target in seen:
                continue
            seen.add(target)
            try:
                found = target.exists()
            except OSError as exc:
                fail(f"the path cannot be checked ({exc.strerror or exc})")
                continue
            if not found:
                fail(f"{quoted(entry)} does not exist (resolved to {target})")
                continue
            try:
                included = load_file(_as_shown(target))
            except FleetError as exc:
                problems.errors.extend(exc.errors)
                continue
            if not isinstance(included.data, dict):
                problems.error(
                    included.locate(()),
                    "",
                    "an included file must be a mapping with `profiles` and/or `seats`",
                )
                continue
            docs.append(included)
            visit(included, [*stack, target])

    visit(top, [Path(top.path).resolve()])
    return docs


def _inside_fleet(doc: Document, name: str, root: Path, at: Path_, label: str, problems: Problems) -> Path | None:
    """``name`` (relative to ``doc``'s folder, written at ``at`` in it) when it stays inside the fleet's ``root``.

    The position of ``at`` is looked up only for an error: a clean fleet never builds its position tables.
    """
    if "\x00" in name:
        problems.error(doc.locate(at), label, "the path holds a NUL character")
        return None
    path = Path(doc.path).parent / name
    try:
        inside = path.resolve().is_relative_to(root)
    except (OSError, RuntimeError, ValueError) as exc:
        problems.error(doc.locate(at), label, f"{quoted(name)} cannot be resolved ({exc})")
        return None
    if not inside:
        problems.error(
            doc.locate(at),
            label,
            f"{quoted(name)} is outside the fleet's folder {root}; data files must stay inside it",
        )
        return None
    return path


def _as_shown(path: Path) -> Path:
    """A file another file names, spelled relative to the working folder when it lies below it.

    Locations in messages then read like the fleet file's own (``profiles/office.yaml:3:5``).
    """
    resolved = path.resolve()
    return Path(os.path.relpath(resolved)) if resolved.is_relative_to(Path.cwd()) else resolved


def _check_top(fleet_model: type[BaseModel], top: Document, version: str, problems: Problems) -> None:
    """Check the top-level scalar fields with the generated fleet model (layers are checked apart)."""
    data = {k: (None if k in ("defaults", "profiles", "seats", "microsip") else v) for k, v in top.data.items()}
    validate(fleet_model, data, top, (), version, problems)


def _valid_name(name: str) -> bool:
    return bool(re.match(NAME_PATTERN, name))

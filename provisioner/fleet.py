"""The fleet as a whole: files -> validated layers -> effective seats.

This is the load -> merge -> validate part of the pipeline. It reads the fleet
file and its includes, validates every layer (defaults, each profile, each seat)
on its own so that all problems are found in one pass and each is reported where
it was written, merges each seat's layers with provenance, and checks the rules
that only the merged seat can answer (accounts, targets, install mode).
"""

from __future__ import annotations

import itertools
import ntpath
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

from provisioner import catalogue
from provisioner.errors import FleetError, Loc, Problem, Problems, quoted
from provisioner.ini import DEFAULT_ANSI
from provisioner.loading import (
    Document,
    Path_,
    YFloat,
    YInt,
    bulk_allocation,
    csv_scalar,
    format_path,
    load_csv,
    load_file,
    load_text,
    pack,
    raw_text,
)
from provisioner.merging import finalize, merge_layers, overlay
from provisioner.models import (
    CONTACT_ATTRIBUTES,
    CONTACT_FLAGS,
    ID_PATTERN,
    NAME_PATTERN,
    Contact,
    choices_text,
    fleet_models,
    show,
)
from provisioner.secrets import SecretRef
from provisioner.shortcuts import (
    PASSWORD_VARIABLE,
    account_switch,
    cmd_problem,
    lnk_target_problem,
    split_flags,
    translate_flags,
)

DEFAULT_INSTALLED_EXE = "C:\\Program Files\\MicroSIP\\microsip.exe"
DEFAULT_PORTABLE_EXE = "microsip.exe"
LAYER_FIELDS = (
    "settings",
    "account",
    "install",
    "target",
    "launch",
    "ini",
    "speed_dials",
    "contacts",
    "contacts_mode",
    "enforce",
    "unmanage",
)
#: Seat fields a CSV header may name first (``accounts.1.username``, ``settings.autoAnswer``, ...).
CSV_SEAT_FIELDS = ("id", "user", "computer", "profiles", "accounts", "active_account", *LAYER_FIELDS, "contacts_file")
#: Header cells whose value is a space-separated list.
CSV_LISTS = {("profiles",), ("launch", "shortcuts")}
TARGET_FIELDS = {
    "appdata": ("root", "user"),
    "portable": ("path",),
    "wine": ("prefix", "user", "applications_dir"),
}
TARGET_REQUIRED = {"appdata": "root", "portable": "path", "wine": "prefix"}


@dataclass(eq=False)
class LayerSource:
    """One validated layer and where it stands in its file."""

    doc: Document
    prefix: Path_
    label: str
    data: dict[str, Any]

    def loc(self, path: Path_ = (), *, key: bool = False) -> Loc:
        """Location of ``path`` inside this layer."""
        return self.doc.locate((*self.prefix, *path), key=key)


Origin = tuple[LayerSource, Path_]


def origin_loc(origin: Origin, path: Path_) -> Loc:
    """Where the value at ``path`` (relative to the merge root) was written."""
    source, offset = origin
    return source.loc((*offset, *path))


@dataclass
class Seat:
    """A seat's effective configuration, after merging, ready to render."""

    id: str
    user: str
    source: LayerSource
    profiles: list[str]
    settings: dict[str, Any]
    accounts: list[dict[str, Any]]
    active_account: int
    install_mode: str
    exe: str
    target: dict[str, Any] | None
    launch: dict[str, Any]
    ini: dict[str, dict[str, Any]]
    speed_dials: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    contacts_mode: str = "merge"
    origins: dict[Path_, Origin] = field(default_factory=dict)
    account_origins: list[dict[Path_, Origin]] = field(default_factory=list)
    computer: str | None = None  # publish: this seat applies on one PC only
    #: Runtime-rewritten [Settings] keys apply keeps at the fleet's value (the others are seeded).
    enforce: list[str] = field(default_factory=list)
    #: Ini keys (``(section, key)``, lower-cased) left to the user: written only where missing, never enforced.
    unmanaged: frozenset[tuple[str, str]] = frozenset()
    #: Values no layer set but the seat's other fields require, with the reason (``explain`` shows it).
    implied: dict[Path_, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``seats[alice]``."""
        return f"seats[{self.id}]"

    @property
    def exe_stem(self) -> str:
        """The exe name without ``.exe``: MicroSIP names its ini after it."""
        return ntpath.splitext(ntpath.basename(self.exe.replace("/", "\\")))[0]

    @property
    def ini_name(self) -> str:
        """The file name of the seat's ini."""
        return f"{self.exe_stem}.ini"

    def loc(self, path: Path_) -> Loc:
        """Where the effective value at ``path`` was set (the seat itself if nowhere)."""
        origin = self.origins.get(path)
        return origin_loc(origin, path) if origin else self.source.loc(path)

    def account_loc(self, index: int, key: str | None = None) -> Loc:
        """Where an account's key was set (or the account entry itself)."""
        if key is not None:
            origin = self.account_origins[index].get((key,))
            if origin:
                return origin_loc(origin, (key,))
        return self.source.loc(("accounts", index))


@dataclass
class Fleet:
    """A loaded, validated fleet."""

    path: Path
    name: str
    version: str
    templates_dir: Path | None
    documents: list[Document]
    seats: list[Seat]
    warnings: list[Problem]
    #: The Python codec of the PCs' ANSI code page: how MicroSIP reads an ini without a BOM.
    ansi: str = DEFAULT_ANSI

    _index: dict[str, Seat] | None = field(default=None, repr=False, compare=False)

    def seat(self, seat_id: str) -> Seat:
        """The seat with ``seat_id``; raise FleetError with a suggestion if there is none."""
        return self.chosen([seat_id])[0]

    def chosen(self, seat_ids: list[str] | None) -> list[Seat]:
        """The seats named (each once, in the order given), or all of them; every unknown id is reported."""
        if not seat_ids:
            return list(self.seats)
        if self._index is None:
            self._index = {seat.id: seat for seat in self.seats}
        problems = []
        out: list[Seat] = []
        for seat_id in dict.fromkeys(seat_ids):
            found = self._index.get(seat_id)
            if found is not None:
                out.append(found)
                continue
            guess = catalogue.suggest(seat_id, list(self._index))
            hint = f" (did you mean {quoted(guess)}?)" if guess else ""
            problems.append(Problem(Loc(str(self.path)), "", f"no seat with id {quoted(seat_id)}{hint}"))
        if problems:
            raise FleetError(problems)
        return out


# --- pydantic errors as one-line problems ------------------------------------------------


def label_path(doc: Document, path: Path_) -> str:
    """A logical path naming seats by id and profiles by name: ``seats[alice].accounts[1]``.

    A value from a CSV file is named by its column header (``accounts.1.username``).
    """
    parts = [p for p in path if p != "[key]"]
    if doc.labels:
        for cut in range(len(parts), 0, -1):
            label = doc.labels.get(tuple(parts[:cut]))
            if label is not None:
                rest = format_path(tuple(parts[cut:]))
                return f"{label}.{rest}" if rest else label
    out = ""
    i = 0
    while i < len(parts):
        part = parts[i]
        nxt = parts[i + 1] if i + 1 < len(parts) else None
        if part in ("seats", "profiles") and len(out) == 0 and nxt is not None:
            name = nxt
            if part == "seats" and isinstance(nxt, int):
                seat = doc.get(("seats", nxt))
                sid = seat.get("id") if isinstance(seat, dict) else None
                name = sid if isinstance(sid, str) and re.match(ID_PATTERN, sid) else nxt + 1
            out = f"{part}[{name}]"
            i += 2
            continue
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        i += 1
    return out


class _FieldWalker:
    """Finds which fields a model allows at a pydantic error location (for suggestions)."""

    @staticmethod
    def fields_at(model: type[BaseModel], loc: Path_) -> list[str]:
        current: Any = model
        for part in loc:
            current = _FieldWalker._step(current, part)
            if current is None:
                return []
        if isinstance(current, type) and issubclass(current, BaseModel):
            return list(current.model_fields)
        return []

    @staticmethod
    def _unwrap(annotation: Any) -> list[Any]:
        args = getattr(annotation, "__args__", None)
        if args is None:
            return [annotation]
        return [a for a in args if a is not type(None)]

    @staticmethod
    def _step(current: Any, part: str | int) -> Any:
        for option in _FieldWalker._unwrap(current):
            if isinstance(option, type) and issubclass(option, BaseModel) and isinstance(part, str):
                info = option.model_fields.get(part)
                if info is not None:
                    return info.annotation
            origin = getattr(option, "__origin__", None)
            if origin is list and isinstance(part, int):
                return option.__args__[0]
            if origin is dict and isinstance(part, str):
                return option.__args__[1]
        return None


def _message(err: Any, doc: Document, loc: Path_, model: type[BaseModel], version: str) -> str:
    kind = err["type"]
    value = err.get("input")
    if kind == "value":
        return str(err["msg"])
    if kind == "extra_forbidden":
        name = str(loc[-1])
        parent = [p for p in loc[:-1] if isinstance(p, str)]
        if parent and parent[-1] == "settings":
            return catalogue.why_unknown(name, "settings", version)
        if parent and parent[-1] in ("account", "accounts"):
            return catalogue.why_unknown(name, "account", version)
        allowed = _FieldWalker.fields_at(model, loc[:-1])
        if not loc[:-1] and model.__name__ == "Include":
            return (
                f"{quoted(name)} is not allowed in an included file; included files hold only "
                "`profiles`, `seats` and `include`"
            )
        guess = catalogue.suggest(name, allowed)
        hint = f" (did you mean {quoted(guess)}?)" if guess else ""
        if not guess and {"settings", "account"} <= set(allowed):  # a layer: an ini key one level too high?
            for section, where in (("settings", "`settings:`"), ("account", "`account:` or an entry of `accounts`")):
                known = catalogue.section_keys(section, version).get(name.lower())
                if known is not None:
                    kind = "[Settings]" if section == "settings" else "account"
                    return f"{quoted(name)} is a MicroSIP {kind} key; put it under {where}"
        return f"unknown key {quoted(name)}{hint}; allowed here: {', '.join(allowed)}"
    if kind == "missing":
        return f"required key {loc[-1]!r} is missing"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        if loc == ("version",):
            return f"{show(value)} is not a fleet format version this tool reads; write `version: 1`"
        if loc == ("microsip",):
            return f"{show(value)} is not a supported MicroSIP version; use one of {choices_text(catalogue.versions())}"
        options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(",")]
        guess = catalogue.suggest(str(value), options) if isinstance(value, str) else None
        hint = f" (did you mean {quoted(guess)}?)" if guess else ""
        return f"{show(value)} is not one of {', '.join(options)}{hint}"
    if kind == "string_pattern_mismatch":
        return f"{show(value)} is not a valid name: letters, digits, '.', '_' or '-', starting with a letter or digit"
    expected_kind = {
        "list_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "model_attributes_type": "a mapping",
        "string_type": "text",
        "int_type": "a whole number",
        "bool_type": "true or false",
    }.get(kind)
    if expected_kind:
        return f"expected {expected_kind}, got {_kind_of(value)}"
    return str(err["msg"])


def _kind_of(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value)
    return raw_text(value) or repr(value)


def validate(
    model: type[BaseModel],
    data: Any,
    doc: Document,
    prefix: Path_,
    version: str,
    problems: Problems,
) -> BaseModel | None:
    """Validate ``data`` (found at ``prefix`` in ``doc``); record problems, return the model or None."""
    context = {"base_dir": str(Path(doc.path).parent), "version": version, "confine": doc.confine}
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        for err in exc.errors():
            loc = (*prefix, *err["loc"])
            loc = tuple(p for p in loc if p != "[key]")
            at_key = err["type"] in ("extra_forbidden",) or "[key]" in err["loc"]
            message = _message(err, doc, tuple(err["loc"]), model, version)
            word = doc.words.get(doc.resolve(loc)) if isinstance(err.get("input"), bool) else None
            if word:  # say `no`, as written, not the `false` YAML made of it
                read = str(err["input"]).lower()
                message = message.replace(read, f"{quoted(word)} (YAML reads it as {read})", 1)
            shown = loc[:-1] if err["type"] == "missing" else loc
            problems.error(doc.locate(loc, key=at_key), label_path(doc, shown), message)
        return None


# --- loading the files ------------------------------------------------------------------------


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
            where = doc.locate(("include", i))
            label = f"include[{i + 1}]"
            if not isinstance(entry, str) or not entry.strip():
                problems.error(where, label, "expected a path to a YAML file")
                continue
            try:
                target = (Path(doc.path).parent / entry).resolve()
            except (OSError, RuntimeError, ValueError) as exc:
                problems.error(where, label, f"the path cannot be resolved ({exc.__class__.__name__}: {exc})"[:300])
                continue
            if not target.is_relative_to(root):
                problems.error(
                    where,
                    label,
                    f"{quoted(entry)} is outside the fleet's folder {root}; includes must stay inside it",
                )
                continue
            if target in stack:
                chain = " -> ".join(p.name for p in [*stack, target])
                problems.error(where, label, f"include cycle: {chain}; remove one of the includes")
                continue
            if target in seen:
                continue
            seen.add(target)
            try:
                found = target.exists()
            except OSError as exc:
                problems.error(where, label, f"the path cannot be checked ({exc.strerror or exc})")
                continue
            if not found:
                problems.error(where, label, f"{quoted(entry)} does not exist (resolved to {target})")
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


def _inside_fleet(doc: Document, name: str, root: Path, where: Loc, label: str, problems: Problems) -> Path | None:
    """``name`` (relative to ``doc``'s folder) when it stays inside the fleet's folder ``root``."""
    if "\x00" in name:
        problems.error(where, label, "the path holds a NUL character")
        return None
    path = Path(doc.path).parent / name
    try:
        inside = path.resolve().is_relative_to(root)
    except (OSError, RuntimeError, ValueError) as exc:
        problems.error(where, label, f"{quoted(name)} cannot be resolved ({exc})")
        return None
    if not inside:
        problems.error(
            where,
            label,
            f"{quoted(name)} is outside the fleet's folder {root}; data files must stay inside it",
        )
        return None
    return path


def _load_seat_files(docs: list[Document], version: str, problems: Problems, root: Path) -> list[Document]:
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
            problems.error(doc.locate(("seat_files",)), "seat_files", "expected a list of {path, profiles}")
            continue
        for i, entry in enumerate(entries):
            where = doc.locate(("seat_files", i))
            label = f"seat_files[{i + 1}]"
            if isinstance(entry, str):
                entry = {"path": entry}
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                problems.error(where, label, "expected {path: seats.csv, profiles: [...]}")
                continue
            unknown = sorted(set(entry) - {"path", "profiles"})
            if unknown:
                problems.error(where, label, f"unknown key {quoted(unknown[0])}; a seat file has `path` and `profiles`")
                continue
            profiles = entry.get("profiles") or []
            if isinstance(profiles, str):
                profiles = profiles.split()
            if not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles):
                problems.error(
                    doc.locate(("seat_files", i, "profiles")),
                    f"{label}.profiles",
                    "expected a list of profile names",
                )
                continue
            path = _inside_fleet(doc, entry["path"], root, where, label, problems)
            if path is None:
                continue
            try:
                table = load_csv(_as_shown(path))
            except FleetError as exc:
                problems.errors.extend(exc.errors)
                continue
            seat_doc = _seat_rows(table, profiles, version, problems)
            if seat_doc is not None:
                seat_doc.confine = str(root)
                out.append(seat_doc)
    return out


def _csv_header(cell: str, version: str) -> tuple[Path_ | None, str | None]:
    """A header cell as a path into a seat, or an error message."""
    parts: list[str | int] = []
    for piece in cell.split("."):
        if not piece:
            return None, f"header {quoted(cell)} has an empty part"
        parts.append(int(piece) - 1 if piece.isascii() and piece.isdigit() else piece)
    if any(isinstance(p, int) and p < 0 for p in parts):
        return None, f"header {quoted(cell)}: list positions count from 1"
    head = parts[0]
    if head not in CSV_SEAT_FIELDS:
        guess = catalogue.suggest(str(head), list(CSV_SEAT_FIELDS))
        hint = f" (did you mean {quoted(guess)}?)" if guess else ""
        return (
            None,
            f"header {quoted(cell)}: {quoted(head)} is not a seat field{hint}; "
            "headers are dotted paths like accounts.1.username",
        )
    section: catalogue.Section | None = None
    key = None
    if head == "settings" and len(parts) >= 2:
        section, key = "settings", parts[1]
    elif head == "account" and len(parts) >= 2:
        section, key = "account", parts[1]
    elif head == "accounts" and len(parts) >= 3 and isinstance(parts[1], int):
        section, key = "account", parts[2]
    elif head == "accounts":
        return None, f"header {quoted(cell)}: account columns look like accounts.1.username"
    if section is not None and isinstance(key, str):
        known = catalogue.section_keys(section, version).get(key.lower())
        if known is None:
            return None, f"header {quoted(cell)}: {catalogue.why_unknown(key, section, version)}"
        parts[parts.index(key)] = known.name
    return tuple(parts), None


def _seat_rows(table: Any, profiles: list[str], version: str, problems: Problems) -> Document | None:
    """Seats from a CSV table, with every value located at its row and column."""
    doc = Document(table.path, {"seats": []})
    columns: list[tuple[int, Path_, str]] = []
    seen: dict[Path_, int] = {}
    header_ok = True
    for col, cell in enumerate(table.header, start=1):
        path, error = _csv_header(cell, version)
        if error is not None or path is None:
            problems.error(Loc(table.path, 1, col), cell, error or "bad header")
            header_ok = False
            continue
        if path in seen:
            problems.error(Loc(table.path, 1, col), cell, f"the same column as column {seen[path]}")
            continue
        seen[path] = col
        columns.append((col, path, cell))
    if ("id",) not in seen:
        problems.error(Loc(table.path, 1, 1), "id", "a seat file needs an `id` column")
        return None
    if not header_ok:
        return None  # the rows would only repeat what the header says
    for index, (line, cells) in enumerate(table.rows):
        seat: dict[str, Any] = {}
        row_ok = True
        base: Path_ = ("seats", index)
        doc.value_locs[base] = pack(line, 1)
        for col, path, header in columns:
            cell = cells[col - 1]
            if not cell.strip():
                continue  # an empty cell sets nothing
            value: Any = cell.strip().split() if path in CSV_LISTS else csv_scalar(cell)
            if not _put(seat, path, value):
                problems.error(Loc(table.path, line, col), header, f"{header} is given, but not the columns before it")
                row_ok = False
                continue
            full = (*base, *path)
            for cut in range(len(base) + 1, len(full) + 1):
                doc.value_locs.setdefault(full[:cut], pack(line, col))
                doc.key_locs.setdefault(full[:cut], pack(line, col))
            doc.value_locs[full] = pack(line, col)
            doc.labels[full] = header
        if profiles:
            seat["profiles"] = [*profiles, *seat.get("profiles", [])]
        if row_ok:
            doc.data["seats"].append(seat)
    return doc


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


def _as_shown(path: Path) -> Path:
    """A file another file names, spelled relative to the working folder when it lies below it.

    Locations in messages then read like the fleet file's own (``profiles/office.yaml:3:5``).
    """
    resolved = path.resolve()
    return Path(os.path.relpath(resolved)) if resolved.is_relative_to(Path.cwd()) else resolved


def load_fleet(path: Path, *, strict: bool = False, text: str | None = None) -> Fleet:
    """Load, validate and merge a fleet. Raise :class:`FleetError` with every problem found.

    With ``text`` the fleet is read from it instead of the file (``path`` still
    names it and anchors relative paths).
    """
    with bulk_allocation():
        return _load_fleet(path, strict, text)


def _load_fleet(path: Path, strict: bool, text: str | None) -> Fleet:
    top = load_file(path) if text is None else load_text(text, str(path))
    problems = Problems()
    if not isinstance(top.data, dict):
        raise FleetError(
            [
                Problem(
                    top.locate(()),
                    "",
                    f"the top level must be a mapping (version, name, seats, ...), got {_kind_of(top.data)}",
                )
            ]
        )
    version = _version_of(top, problems)
    models = fleet_models(version)
    _check_top(models["fleet"], top, version, problems)
    docs = _load_includes(top, problems)
    root = Path(top.path).parent.resolve()
    docs += _load_seat_files(docs, version, problems, root)

    defaults: LayerSource | None = None
    defaults_broken = False
    profiles: dict[str, tuple[LayerSource, list[str]] | None] = {}
    seat_sources: list[tuple[LayerSource, dict[str, Any]]] = []
    first_seen: dict[tuple[str, str], Loc] = {}
    seat_seen: dict[str, tuple[Document, int]] = {}

    for doc in docs:
        data = doc.data
        if doc is not top:
            shallow = {k: (None if k in ("profiles", "seats") else v) for k, v in data.items()}
            validate(models["include"], shallow, doc, (), version, problems)
        else:
            raw_defaults = data.get("defaults")
            if raw_defaults is not None:
                model = validate(models["layer"], raw_defaults, doc, ("defaults",), version, problems)
                if model is not None:
                    dumped = _dump(model, doc, ("defaults",), "defaults", version, problems, root)
                    defaults = LayerSource(doc, ("defaults",), "defaults", dumped)
                else:
                    defaults_broken = True
        raw_profiles = data.get("profiles")
        if raw_profiles is not None and not isinstance(raw_profiles, dict):
            problems.error(doc.locate(("profiles",)), "profiles", "expected a mapping of profile names to layers")
            raw_profiles = None
        for name, body in (raw_profiles or {}).items():
            key_loc = doc.locate(("profiles", name), key=True)
            if not _valid_name(name):
                problems.error(
                    key_loc,
                    f"profiles[{name}]",
                    f"{quoted(name)} is not a valid profile name: letters, digits, '.', '_' or '-'",
                )
                continue
            if ("profile", name) in first_seen:
                problems.error(
                    key_loc,
                    f"profiles[{name}]",
                    f"profile {quoted(name)} is defined twice (first at {first_seen[('profile', name)]}); "
                    "rename or remove one",
                )
                continue
            first_seen[("profile", name)] = key_loc
            model = validate(
                models["profile"],
                body if body is not None else {},
                doc,
                ("profiles", name),
                version,
                problems,
            )
            profiles[name] = None  # known, but broken until it validates
            if model is not None:
                dumped = _dump(model, doc, ("profiles", name), f"profiles[{name}]", version, problems, root)
                extends = dumped.pop("extends", None) or []
                profiles[name] = (LayerSource(doc, ("profiles", name), f"profiles[{name}]", dumped), extends)
        raw_seats = data.get("seats")
        if raw_seats is not None and not isinstance(raw_seats, list):
            problems.error(doc.locate(("seats",)), "seats", "expected a list of seats")
            raw_seats = None
        for i, body in enumerate(raw_seats or []):
            prefix: Path_ = ("seats", i)
            label = label_path(doc, prefix)
            model = validate(models["seat"], body, doc, prefix, version, problems)
            if model is None:
                continue
            dumped = _dump(model, doc, prefix, label, version, problems, root)
            sid = dumped["id"]
            if sid in seat_seen:  # positions are looked up only for the message
                first_doc, first_index = seat_seen[sid]
                problems.error(
                    doc.locate((*prefix, "id")),
                    label,
                    f"seat id {quoted(sid)} is used twice (first at {first_doc.locate(('seats', first_index, 'id'))}); "
                    "seat ids must be unique",
                )
                continue
            seat_seen[sid] = (doc, i)
            layer = {k: v for k, v in dumped.items() if k in LAYER_FIELDS}
            seat_sources.append((LayerSource(doc, prefix, label, layer), dumped))

    layers = (
        ([defaults] if defaults else [])
        + [p[0] for p in profiles.values() if p is not None]
        + [s for s, _ in seat_sources]
    )
    seat_accounts = {id(source): dumped.get("accounts") for source, dumped in seat_sources}
    for source in layers:
        _layer_warnings(source, seat_accounts.get(id(source)), version, problems)

    seats = []
    prefixes: dict[tuple[int, ...], _Prefix] = {}
    for source, dumped in seat_sources:
        if defaults_broken:
            continue  # the seat's own rules cannot be judged on a layer that did not validate
        seat = _effective_seat(source, dumped, defaults, profiles, version, problems, prefixes)
        if seat is not None:
            seats.append(seat)
    if not seats and not problems.errors and not any(doc.data.get("seats") for doc in docs):
        problems.warn(top.locate(()), "seats", "the fleet has no seats")

    if strict and problems.warnings:
        problems.errors.extend(Problem(w.loc, w.path, f"{w.message} (refused by --strict)") for w in problems.warnings)
        problems.warnings = []
    problems.raise_if_errors()
    templates = top.data.get("templates")
    templates_dir = (Path(top.path).parent / templates) if isinstance(templates, str) else None
    try:
        templates_missing = templates_dir is not None and not templates_dir.is_dir()
    except OSError:
        templates_missing = True
    if templates_missing:
        raise FleetError([Problem(top.locate(("templates",)), "templates", f"{quoted(templates)} is not a folder")])
    return Fleet(
        path=Path(top.path),
        name=str(top.data["name"]),
        version=version,
        templates_dir=templates_dir,
        documents=docs,
        seats=seats,
        warnings=problems.warnings,
        ansi=f"cp{top.data['ansi_code_page']}" if top.data.get("ansi_code_page") else DEFAULT_ANSI,
    )


def _dump(
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
    where = doc.locate((*prefix, "contacts_file"))
    path = _inside_fleet(doc, str(name), root, where, f"{label}.contacts_file", problems)
    if path is None:
        return data
    try:
        table = load_csv(_as_shown(path))
    except FleetError as exc:
        problems.errors.extend(exc.errors)
        return data
    csv_doc = Document(table.path, {})
    columns = []
    for col, cell in enumerate(table.header, start=1):
        if cell not in CONTACT_ATTRIBUTES:
            guess = catalogue.suggest(cell, list(CONTACT_ATTRIBUTES))
            hint = f" (did you mean {quoted(guess)}?)" if guess else ""
            problems.error(
                Loc(table.path, 1, col),
                cell,
                f"{quoted(cell)} is not a Contacts.xml attribute{hint}; use {', '.join(CONTACT_ATTRIBUTES)}",
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
        problems.error(where, path, f"cannot split the flags like a shell would: {exc}")
        return data
    translation = translate_flags(argv)
    for message in translation.errors:
        problems.error(where, path, message)
    for message in translation.warnings:
        problems.warn(where, path, message)
    if translation.errors:
        return data
    raw = translation.layer(password={"env": PASSWORD_VARIABLE})
    scratch = Problems()
    model = validate(fleet_models(version)["layer"], raw, doc, prefix, version, scratch)
    for problem in scratch.errors:
        problems.error(where, path, f"translated to {problem.path.removeprefix(label + '.')}: {problem.message}")
    if model is None:
        return data
    translated = model.model_dump(exclude_unset=True)
    merged: dict[str, Any] = finalize(overlay(translated, data))
    merged["launch"] = {k: v for k, v in merged["launch"].items() if k != "legacy_flags"}
    return merged


def _same_ini_spelling(data: dict[str, Any], ordered: list[LayerSource]) -> dict[str, Any]:
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


def _valid_name(name: str) -> bool:
    return bool(re.match(NAME_PATTERN, name))


def _check_top(fleet_model: type[BaseModel], top: Document, version: str, problems: Problems) -> None:
    """Check the top-level scalar fields with the generated fleet model (layers are checked apart)."""
    data = {k: (None if k in ("defaults", "profiles", "seats", "microsip") else v) for k, v in top.data.items()}
    validate(fleet_model, data, top, (), version, problems)


def _layer_warnings(
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
                )
            else:
                problems.warn(
                    source.loc(where_path, key=True),
                    label,
                    f"written verbatim to [{canonical}]; MicroSIP's catalogue does not list this key",
                )


def _ini_section_name(section: str) -> str:
    lowered = section.lower()
    if lowered == "settings":
        return "Settings"
    if lowered.startswith("account") and lowered[7:].isascii() and lowered[7:].isdigit():
        return f"Account{int(lowered[7:])}"
    return section


def _profile_order(
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
            problems.error(at[0].loc(at[1]), label, f"extends cycle: {cycle}; remove one of the `extends`")
            return
        if name in applied:
            return
        if name not in profiles:
            guess = catalogue.suggest(name, list(profiles))
            hint = f" (did you mean {quoted(guess)}?)" if guess else ""
            problems.error(at[0].loc(at[1]), label, f"unknown profile {quoted(name)}{hint}")
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


class _Prefix(NamedTuple):
    """Defaults and a chain of profiles merged once, for every seat that uses that chain."""

    layers: tuple[dict[str, Any], dict[Path_, Origin]]
    account: tuple[dict[str, Any], dict[Path_, Origin]]


def _effective_seat(
    source: LayerSource,
    dumped: dict[str, Any],
    defaults: LayerSource | None,
    profiles: dict[str, tuple[LayerSource, list[str]] | None],
    version: str,
    problems: Problems,
    prefixes: dict[tuple[int, ...], _Prefix],
) -> Seat | None:
    before = len(problems.errors)
    wanted = dumped.get("profiles") or []
    chosen = _profile_order(source, wanted, profiles, problems)
    if chosen is None or len(problems.errors) > before:
        return None
    shared = ([defaults] if defaults else []) + chosen
    ordered = [*shared, source]
    no_offset: Path_ = ()
    base = prefixes.get(tuple(map(id, shared)))
    if base is None:
        base = _Prefix(
            merge_layers((_same_ini_spelling(layer.data, shared), (layer, no_offset)) for layer in shared),
            merge_layers(((layer.data.get("account") or {}), (layer, ("account",))) for layer in shared),
        )
        prefixes[tuple(map(id, shared))] = base
    merged, origins = merge_layers([(_same_ini_spelling(source.data, ordered), (source, no_offset))], base.layers)
    effective = finalize(merged)

    accounts: list[dict[str, Any]] = []
    account_origins: list[dict[Path_, Origin]] = []
    raw_accounts = dumped.get("accounts") or []
    if not raw_accounts:
        problems.error(source.loc(("accounts",)), f"{source.label}.accounts", "a seat needs at least one account")
    for i, account in enumerate(raw_accounts):
        merged_account, account_origin = merge_layers(
            [(source.data.get("account") or {}, (source, ("account",))), (account, (source, ("accounts", i)))],
            base.account,
        )
        final = finalize(merged_account)
        accounts.append(final)
        account_origins.append(account_origin)
        label = f"{source.label}.accounts[{i + 1}]"
        domain = final.get("domain")
        if not domain:
            problems.error(
                source.loc(("accounts", i)),
                f"{label}.domain",
                "the account has no domain, and MicroSIP ignores an account without one; "
                "set `domain` here or in an `account:` layer",
            )
        if final.get("server") and not final.get("username"):
            problems.error(
                source.loc(("accounts", i)),
                f"{label}.username",
                "the account has a `server` but no `username`; MicroSIP cannot register without one",
            )

    active = dumped.get("active_account") or 1
    if raw_accounts and active > len(raw_accounts):
        problems.error(
            source.loc(("active_account",)),
            f"{source.label}.active_account",
            f"account {active} does not exist; the seat has {len(raw_accounts)} "
            f"account{'s' if len(raw_accounts) != 1 else ''} (numbered from 1)",
        )

    for section in effective.get("ini") or {}:
        numbered = re.fullmatch(r"Account([0-9]+)", section)
        if numbered and int(numbered.group(1)) > len(raw_accounts):
            problems.error(
                seat_loc(origins, source, ("ini", section)),
                f"{source.label}.ini.{section}",
                f"the seat has {len(raw_accounts)} account{'s' if len(raw_accounts) != 1 else ''}; "
                f"MicroSIP reads [Account1], [Account2], ... without gaps and would ignore "
                f"[{section}] -- add an entry to `accounts` instead",
            )
    target = effective.get("target") or None
    seat_user = dumped.get("user") or dumped["id"]
    target_type = _check_target(target, origins, source, problems)
    install = effective.get("install") or {}
    mode_needed = "portable" if target_type == "portable" else "installed"
    mode = install.get("mode") or mode_needed
    if target_type in ("appdata", "portable") and mode != mode_needed:
        where = origins.get(("install", "mode"))
        problems.error(
            origin_loc(where, ("install", "mode")) if where else source.loc(("install",)),
            f"{source.label}.install.mode",
            f"install.mode {quoted(mode)} contradicts target type {quoted(target_type)}, "
            f"which needs {quoted(mode_needed)}",
        )
    exe = install.get("exe") or (DEFAULT_PORTABLE_EXE if mode == "portable" else DEFAULT_INSTALLED_EXE)
    _check_launchers(effective, mode, exe, target_type, origins, source, problems)
    chosen_account = account_switch(str((effective.get("launch") or {}).get("args") or ""))
    if raw_accounts and chosen_account is not None and chosen_account > len(raw_accounts):
        count = len(raw_accounts)
        problems.error(
            seat_loc(origins, source, ("launch", "args")),
            f"{source.label}.launch.args",
            f"/account:{chosen_account} names an account the seat does not have: it has {count} "
            f"account{'s' if count != 1 else ''} (numbered from 1); MicroSIP would find no such account "
            "and only bring its window forward",
        )
    _check_phonebook(effective, origins, source, problems)
    if len(problems.errors) > before:
        return None
    settings = effective.get("settings") or {}
    implied: dict[Path_, str] = {}
    if effective.get("speed_dials") and not any(name.lower() == "enableshortcuts" for name in settings):
        # MicroSIP builds the speed-dial buttons only when [Settings] enableShortcuts=1 (default 0)
        settings = {**settings, "enableShortcuts": True}
        implied[("settings", "enableShortcuts")] = (
            "implied by speed_dials: MicroSIP shows speed-dial buttons only with enableShortcuts=1"
        )
    return Seat(
        id=dumped["id"],
        user=seat_user,
        computer=dumped.get("computer"),
        source=source,
        profiles=wanted,
        settings=settings,
        accounts=accounts,
        active_account=active,
        install_mode=mode,
        exe=exe,
        target=target,
        launch=effective.get("launch") or {},
        ini={section: dict(keys or {}) for section, keys in (effective.get("ini") or {}).items()},
        speed_dials=list(effective.get("speed_dials") or []),
        contacts=[{k: v for k, v in c.items() if v is not None} for c in effective.get("contacts") or []],
        contacts_mode=str(effective.get("contacts_mode") or "merge"),
        origins=origins,
        account_origins=account_origins,
        enforce=list(effective.get("enforce") or []),
        unmanaged=frozenset(ini_key(name) for name in effective.get("unmanage") or []),
        implied=implied,
    )


def _check_launchers(
    effective: dict[str, Any],
    mode: str,
    exe: str,
    target_type: str | None,
    origins: dict[Path_, Origin],
    source: LayerSource,
    problems: Problems,
) -> None:
    """The seat's launchers can be written: ASCII for .cmd, a full path for .lnk."""
    launch = effective.get("launch") or {}
    args = str(launch.get("args") or "")
    exe_loc = seat_loc(origins, source, ("install", "exe"))
    if mode == "portable" and target_type != "wine":
        problem = cmd_problem(ntpath.basename(exe.replace("/", "\\")), args)
        if problem:
            problems.error(exe_loc, f"{source.label}.install.exe", problem)
        if launch.get("shortcuts"):
            problems.warn(
                seat_loc(origins, source, ("launch", "shortcuts")),
                f"{source.label}.launch.shortcuts",
                "ignored for a portable seat: it gets a .cmd launcher beside its exe, which works from any "
                "drive letter (shortcuts apply to installed and Wine seats)",
            )
        return
    if launch.get("shortcuts"):
        problem = lnk_target_problem(exe)
        if problem:
            problems.error(exe_loc, f"{source.label}.install.exe", problem)


def _check_phonebook(
    effective: dict[str, Any], origins: dict[Path_, Origin], source: LayerSource, problems: Problems
) -> None:
    """Contact numbers are unique (deploy merges by number); [Shortcuts] has one owner."""
    seen: dict[str, int] = {}
    for index, contact in enumerate(effective.get("contacts") or [], start=1):
        number = contact.get("number")
        if number in seen:
            problems.error(
                seat_loc(origins, source, ("contacts",)),
                f"{source.label}.contacts[{index}]",
                f"number {quoted(number)} is listed twice (also entry {seen[number]}); contacts are matched by number",
            )
        seen.setdefault(number, index)
    ini_sections = {s.lower() for s in effective.get("ini") or {}}
    if effective.get("speed_dials") and "shortcuts" in ini_sections:
        problems.error(
            seat_loc(origins, source, ("speed_dials",)),
            f"{source.label}.speed_dials",
            "both `speed_dials` and `ini: {Shortcuts: ...}` write [Shortcuts]; keep one",
        )


def ini_key(name: str) -> tuple[str, str]:
    """``"Settings.autoAnswer"`` -> ``("settings", "autoanswer")``, as Windows compares them."""
    section, _, key = name.partition(".")
    return section.strip().lower(), key.strip().lower()


def seat_loc(origins: dict[Path_, Origin], source: LayerSource, path: Path_) -> Loc:
    """Where an effective value was set, or the seat itself when no layer set it."""
    origin = origins.get(path)
    return origin_loc(origin, path) if origin else source.loc(path)


def _check_target(
    target: dict[str, Any] | None,
    origins: dict[Path_, Origin],
    source: LayerSource,
    problems: Problems,
) -> str | None:
    if target is None:
        return None

    def loc(path: Path_) -> Loc:
        origin = origins.get(path)
        return origin_loc(origin, path) if origin else source.loc(("target",))

    kind = target.get("type")
    label = f"{source.label}.target"
    if kind is None:
        problems.error(loc(("target",)), f"{label}.type", "the target needs a `type`: appdata, portable or wine")
        return None
    for name in target:
        if name != "type" and name not in TARGET_FIELDS[kind]:
            problems.error(
                loc(("target", name)),
                f"{label}.{name}",
                f"{quoted(name)} does not apply to a {kind} target (it takes {', '.join(TARGET_FIELDS[kind])})",
            )
    required = TARGET_REQUIRED[kind]
    if not target.get(required):
        problems.error(loc(("target", "type")), f"{label}.{required}", f"a {kind} target needs `{required}`")
    return str(kind)


__all__ = ["Fleet", "LayerSource", "Seat", "format_path", "load_fleet"]

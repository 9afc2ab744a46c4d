"""What loading produces: a seat's layers, the effective seat, the fleet."""

from __future__ import annotations

import ntpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner import catalogue
from provisioner.errors import FleetError, Loc, Problem, quoted, sort_problems
from provisioner.fleet.merging import merge_layers
from provisioner.ini import DEFAULT_ANSI
from provisioner.inputs.yaml_reader import (
    Document,
    Path_,
)
from provisioner.models import Launch, SpeedDial, Target

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


#: Seat fields a CSV header may name first (``accounts.1.username``, ``contacts.1.number``, ...).
#: A seat file is data (an HR or phone-system export): it names who sits where and with
#: which accounts and contacts, never where files go or what runs.
CSV_SEAT_FIELDS = ("id", "user", "computer", "profiles", "accounts", "account", "active_account", "contacts")


#: Seat fields only the fleet's YAML may set: a CSV header naming one is refused.
YAML_ONLY_FIELDS = tuple(f for f in (*LAYER_FIELDS, "contacts_file") if f not in CSV_SEAT_FIELDS)


#: Header cells whose value is a space-separated list.
CSV_LISTS = {("profiles",)}


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


class Provenance:
    """Which layer set each of a seat's values (its :data:`Origin`), worked out when first asked.

    Loading merges a seat's values without it. Only a message, ``explain`` or a target
    path relative to the file that declared it asks, and mostly of a value the seat's own
    layers do not touch: the defaults and profiles it shares with other seats answer that
    (``start``: merged once per chain, with their origins), and nothing is merged again.
    The seat's own layers are ``own``, each from ``source`` at its offset in ``offsets``.
    """

    __slots__ = ("_all", "_offsets", "_own", "_source", "_start")

    def __init__(
        self,
        start: tuple[dict[str, Any], dict[Path_, Origin]] | None = None,
        source: LayerSource | None = None,
        own: tuple[dict[str, Any], ...] = (),
        offsets: tuple[Path_, ...] = (),
    ) -> None:
        self._start = start or ({}, {})
        self._source = source
        self._own = own
        self._offsets = offsets
        self._all: dict[Path_, Origin] | None = None

    def get(self, path: Path_) -> Origin | None:
        """The origin of the value at ``path``, or None when no layer set it."""
        if self._all is None and path and all(path[0] not in data for data in self._own):
            return self._start[1].get(path)  # the seat's own layers leave this part alone
        return self.all().get(path)

    def all(self) -> dict[Path_, Origin]:
        """Every path's origin (the seat's own layers merged again onto ``start``, once)."""
        if self._all is None:
            layers: list[tuple[dict[str, Any], Origin]] = []
            if self._source is not None:
                layers = [(data, (self._source, offset)) for data, offset in zip(self._own, self._offsets, strict=True)]
            self._all = merge_layers(layers, self._start)[1]
        return self._all


def origin_loc(origin: Origin, path: Path_) -> Loc:
    """Where the value at ``path`` (relative to the merge root) was written."""
    source, offset = origin
    return source.loc((*offset, *path))


class KeyedValues(Mapping[str, Any]):
    """One ini section's values as the fleet gives them, each name a key of MicroSIP's catalogue.

    It reads as a mapping (name -> value: bool, int, str, or a secret reference), and
    :meth:`keyed` gives each value with its :class:`provisioner.catalogue.Key` (type,
    limits, how MicroSIP treats it), so that no later code looks the catalogue up.
    """

    __slots__ = ("_keys", "_values")

    def __init__(self, values: dict[str, Any], keys: Mapping[str, catalogue.Key]) -> None:
        self._values = values
        self._keys = keys  # the section's catalogue table, shared by every seat of the fleet

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return repr(self._values)

    def key(self, name: str) -> catalogue.Key:
        """The catalogue key a name stands for."""
        return self._keys[name.lower()]

    def keyed(self) -> Iterator[tuple[str, catalogue.Key, Any]]:
        """Each ``(name, key, value)``, in the fleet's order."""
        for name, value in self._values.items():
            yield name, self._keys[name.lower()], value

    def replaced(self, **values: Any) -> KeyedValues:
        """A copy with some values replaced (or added)."""
        return KeyedValues({**self._values, **values}, self._keys)


@dataclass(frozen=True)
class Seat:
    """A seat's effective configuration, after merging, ready to render.

    Its ``target``, ``launch`` and ``speed_dials`` are the fleet format's own models
    (:mod:`provisioner.models`), as merged; nothing changes a seat once it is made.
    """

    id: str
    user: str
    source: LayerSource
    profiles: list[str]
    settings: KeyedValues
    accounts: list[KeyedValues]
    active_account: int
    install_mode: str
    exe: str
    target: Target | None
    launch: Launch
    ini: dict[str, dict[str, Any]]
    speed_dials: list[SpeedDial] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    contacts_mode: str = "merge"
    origins: Provenance = field(default_factory=Provenance)
    account_origins: list[Provenance] = field(default_factory=list)
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

    # Plain properties, not cached ones: caching on a seat gives it a dictionary of its own
    # (1.5 KB a seat in Python 3.11, for a value that takes a microsecond to work out).
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
        return seat_loc(self.origins, self.source, path)

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

    def add_warnings(self, found: list[Problem]) -> None:
        """Warnings found after loading (a secret file others can read): each once, in file order."""
        known = {str(p) for p in self.warnings}
        self.warnings.extend(p for p in sort_problems(found) if str(p) not in known)

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
            hint = catalogue.did_you_mean(seat_id, list(self._index))
            problems.append(
                Problem(Loc(str(self.path)), "", f"no seat with id {quoted(seat_id)}{hint}", code="unknown-seat")
            )
        if problems:
            raise FleetError(problems)
        return out


def ini_key(name: str) -> tuple[str, str]:
    """``"Settings.autoAnswer"`` -> ``("settings", "autoanswer")``, as Windows compares them."""
    section, _, key = name.partition(".")
    return section.strip().lower(), key.strip().lower()


def seat_loc(origins: Provenance, source: LayerSource, path: Path_, fallback: Path_ | None = None) -> Loc:
    """Where an effective value was set; else ``fallback`` (or ``path``) in the seat itself.

    The one way a seat's location is found: :meth:`Seat.loc` and the checks of the
    merged seat all come here.
    """
    origin = origins.get(path)
    return origin_loc(origin, path) if origin else source.loc(path if fallback is None else fallback)

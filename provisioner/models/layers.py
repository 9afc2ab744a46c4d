"""The structural parts of a layer (install, target, launch, ini, enforce, ...) and the fleet file's models."""

from __future__ import annotations

import codecs
import ntpath
import re
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    field_validator,
)

from provisioner import catalogue
from provisioner.errors import quoted
from provisioner.inputs.secrets import parse_reference
from provisioner.launchers.command_line import check_args, name_problem, reserved_problem
from provisioner.models.phonebook import MAX_SPEED_DIALS, Contact, SpeedDial
from provisioner.models.sections import (
    BAD_USER_CHARS,
    FORBID,
    FROZEN,
    ID_PATTERN,
    NAME_PATTERN,
    Text,
    fail,
    section_model,
    show,
    text_field,
    text_problem,
)


def _exe(value: Any, info: ValidationInfo) -> Any:
    text = text_field(value, info)
    if text is None:
        return None
    name = ntpath.basename(text.replace("/", "\\"))
    if not name.lower().endswith(".exe") or len(name) <= 4:
        raise fail("bad-name", f"{quoted(text)} does not name an .exe file; MicroSIP names its ini after the exe")
    if BAD_USER_CHARS.search(name):
        raise fail("bad-name", f"{quoted(name)} is not a valid Windows file name")
    reserved = reserved_problem(name, "the exe name")
    if reserved:
        raise fail("reserved-name", reserved)
    return text


Exe = Annotated[Any, PlainValidator(_exe), WithJsonSchema({"type": "string", "pattern": r"(?i)\.exe$"})]


def _user(value: Any, info: ValidationInfo) -> Any:
    text = text_field(value, info)
    if text is None:
        return None
    if not text or text in (".", "..") or BAD_USER_CHARS.search(text) or ".." in text:
        raise fail(
            "bad-name", f"{quoted(text)} is not a Windows user name: no path separators, '..', or any of :*?\"<>|"
        )
    reserved = reserved_problem(text, "the user name")
    if reserved:
        raise fail("reserved-name", reserved)
    return text


User = Annotated[Any, PlainValidator(_user), WithJsonSchema({"type": "string"})]

COMPUTER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$"


def _computer(value: Any, info: ValidationInfo) -> Any:
    text = text_field(value, info)
    if text is None:
        return None
    if not re.match(COMPUTER_PATTERN, text):
        raise fail("bad-name", f"{quoted(text)} is not a Windows computer name: 1-63 letters, digits or '-'")
    return text


Computer = Annotated[Any, PlainValidator(_computer), WithJsonSchema({"type": "string", "pattern": COMPUTER_PATTERN})]


class Install(BaseModel):
    """Where MicroSIP is installed on the seat and how."""

    model_config = FORBID
    mode: Literal["installed", "portable"] | None = None
    exe: Exe = None


TargetType = Literal["appdata", "portable", "wine"]


class Target(BaseModel):
    """Where a seat is deployed; which fields apply depends on ``type``."""

    # A layer's may leave any field out; the merged seat's always has a type (effective_seat
    # checks it), and targetfs.targets.resolve turns it into paths on this machine.

    model_config = FROZEN
    type: TargetType | None = None
    root: Text = None  # appdata: the folder holding the profile folders
    user: User = None  # appdata, wine: the profile folder's name (else the seat's user)
    path: Text = None  # portable: the folder of the exe
    prefix: Text = None  # wine: the prefix
    applications_dir: Text = None  # wine: where the .desktop launcher goes

    @classmethod
    def merged(cls, data: dict[str, Any]) -> Target:
        """The merged seat's, from its merged ``target`` mapping (already checked)."""
        values: dict[str, Any] = {name: None if value is None else str(value) for name, value in data.items()}
        values["type"] = data["type"]
        return cls.model_construct(**values)

    @property
    def where(self) -> str:
        """The folder the target is found by: root, path or prefix."""
        return self.root or self.path or self.prefix or ""

    def written(self) -> dict[str, Any]:
        """The fields the fleet set, ``type`` first."""
        return self.model_dump(exclude_none=True)


Shortcut = Literal["desktop", "start_menu", "startup"]


class Launch(BaseModel):
    """Launcher shortcuts and the MicroSIP command line they carry."""

    # The merged seat's has no legacy_flags: loading translated them into args.

    model_config = FROZEN
    name: Text = None
    args: Text = None
    shortcuts: list[Shortcut] | None = None
    legacy_flags: Text = None

    @classmethod
    def merged(cls, data: dict[str, Any]) -> Launch:
        """The merged seat's, from its merged ``launch`` mapping (legacy flags already translated)."""
        shortcuts = data.get("shortcuts")
        return cls.model_construct(
            name=None if data.get("name") is None else str(data["name"]),
            args=None if data.get("args") is None else str(data["args"]),
            shortcuts=None if shortcuts is None else list(shortcuts),
        )

    @property
    def file_name(self) -> str:
        """The launchers' file name, without its extension."""
        return self.name or "MicroSIP"

    @property
    def arguments(self) -> str:
        """MicroSIP's command line after the exe (empty for none)."""
        return self.args or ""

    def written(self) -> dict[str, Any]:
        """The fields the fleet set."""
        return self.model_dump(exclude_none=True)

    @field_validator("name")
    @classmethod
    def _file_name(cls, value: Any) -> Any:
        problem = None if value is None else name_problem(value)
        if problem:
            raise fail("bad-name", f"{problem}; the launcher's file is named after it")
        return value

    @field_validator("args")
    @classmethod
    def _real_command_line(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        version = (info.context or {}).get("version", catalogue.default_version())
        problem = check_args(value, version)
        if problem:
            raise fail("bad-args", problem)
        return value


def _ini_scalar(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict):
        context = info.context or {}
        ref = parse_reference(value, context.get("base_dir", ""), context.get("confine"))
        if isinstance(ref, str):
            raise fail("bad-secret-reference", ref)
        return ref
    text = text_field(value, info)
    problem = text_problem(text, catalogue_limit())
    if problem:
        raise fail("unsafe-text", problem)
    return text


def catalogue_limit() -> int:
    """The longest value MicroSIP reads for an ordinary key."""
    return 255


IniValue = Annotated[
    Any, PlainValidator(_ini_scalar), WithJsonSchema({"type": ["string", "integer", "boolean", "null"]})
]


def _ini_name(value: str, what: str) -> str | None:
    if not value or value != value.strip():
        return f"{what} {quoted(value)} is empty or has leading/trailing blanks"
    if any(c in value for c in "\r\n\x00"):
        return f"{what} {quoted(value)} contains a line break or NUL, which would inject lines"
    if what == "section" and ("]" in value or "[" in value):
        return f"section {quoted(value)} must not contain '[' or ']'"
    if what == "key" and (any(c in value for c in "=[]") or value[0] in ";#"):
        return f"key {quoted(value)} must not contain '=', '[' or ']' nor start with ';' or '#'"
    return None


class SeatFile(BaseModel):
    """A CSV file of seats (one per row) and the profiles every row gets."""

    model_config = FORBID
    path: Text
    profiles: NameList = None


class LayerBase(BaseModel):
    """Fields every layer (defaults, profile, seat) may have."""

    model_config = FORBID
    install: Install | None = None
    target: Target | None = None
    launch: Launch | None = None
    ini: dict[str, dict[str, IniValue] | None] | None = None
    speed_dials: list[SpeedDial] | None = None
    contacts: list[Contact] | None = None
    contacts_file: Text = None
    contacts_mode: Literal["merge", "replace"] | None = None
    enforce: EnforceList = None
    unmanage: IniKeyList = None

    @field_validator("speed_dials")
    @classmethod
    def _at_most_eight(cls, value: list[SpeedDial] | None) -> Any:
        if value is not None and len(value) > MAX_SPEED_DIALS:
            raise fail("out-of-range", f"{len(value)} speed dials; MicroSIP has {MAX_SPEED_DIALS} buttons")
        return value

    @field_validator("ini")
    @classmethod
    def _ini_names(cls, value: dict[str, dict[str, Any] | None] | None) -> Any:
        for section, keys in (value or {}).items():
            problem = _ini_name(section, "section")
            for key in keys or {}:
                problem = problem or _ini_name(key, "key")
            if problem:
                raise fail("bad-name", problem)
        return value


def _id(value: Any, info: ValidationInfo) -> Any:
    text = text_field(value, info)
    if not isinstance(text, str) or not re.match(ID_PATTERN, text):
        raise fail(
            "bad-name",
            f"{show(text)} is not a valid id: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    reserved = reserved_problem(text, "the seat id")
    if reserved:
        raise fail("reserved-name", reserved)
    return text


SeatId = Annotated[Any, PlainValidator(_id), WithJsonSchema({"type": "string", "pattern": ID_PATTERN})]


def _words(value: Any, expected: str) -> list[str] | None:
    """A list of strings, a single string taken as a list of one, or None; ``expected`` says what otherwise."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail("wrong-type", f"expected a list of {expected}")
    return value


def _name_list(value: Any, info: ValidationInfo) -> Any:
    return _words(value, "profile names")


NameList = Annotated[Any, PlainValidator(_name_list), WithJsonSchema({"type": "array", "items": {"type": "string"}})]


def _active(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise fail("invalid-value", f"{show(value)} is not an account number; use 1 for the first account")
    return int(value)


ActiveAccount = Annotated[Any, PlainValidator(_active), WithJsonSchema({"type": "integer", "minimum": 1})]


#: ``[Settings]`` keys MicroSIP rewrites at run time that are not in ``settings:`` (the tool
#: writes them from other fields): ``accountId`` comes from ``active_account``.
ENFORCEABLE_EXTRA = ("accountId",)


def _enforce(value: Any, info: ValidationInfo) -> Any:
    """``enforce: [accountId, enableShortcuts]``: keys MicroSIP rewrites that apply keeps at the fleet's value."""
    value = _words(value, "[Settings] key names, such as [accountId]")
    if value is None:
        return None
    version = (info.context or {}).get("version") or catalogue.default_version()
    keys = catalogue.section_keys("settings", version)
    allowed = [*ENFORCEABLE_EXTRA, *sorted(k.name for k in keys.values() if k.runtime_rewritten)]
    by_lower = {name.lower(): name for name in allowed}
    out = []
    for name in value:
        if name.lower() not in by_lower:
            hint = catalogue.did_you_mean(name, allowed)
            raise fail(
                "not-one-of",
                f"{quoted(name)} is not a key MicroSIP rewrites while it runs{hint}; "
                "every other key is enforced already, and `enforce` takes only those MicroSIP rewrites "
                "(accountId, enableShortcuts, ...)",
            )
        out.append(by_lower[name.lower()])
    return out


def _ini_key_list(value: Any, info: ValidationInfo) -> Any:
    """``unmanage: [Settings.autoAnswer, Account1.displayName]``: ini keys as SECTION.KEY."""
    value = _words(value, "SECTION.KEY names, such as [Settings.autoAnswer, Account1.displayName]")
    if value is None:
        return None
    for name in value:
        section, dot, key = name.partition(".")
        if not dot or not section or not key:
            raise fail(
                "bad-name",
                f"{quoted(name)} is not SECTION.KEY; write it as the ini names it, such as Settings.autoAnswer",
            )
    return value


IniKeyList = Annotated[
    Any, PlainValidator(_ini_key_list), WithJsonSchema({"type": "array", "items": {"type": "string"}})
]


EnforceList = Annotated[Any, PlainValidator(_enforce), WithJsonSchema({"type": "array", "items": {"type": "string"}})]


def _code_page(value: Any, info: ValidationInfo) -> Any:
    """The Windows ANSI code page of the PCs (``1252``): how MicroSIP reads an ini without a BOM."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(
            "invalid-value",
            f"{show(value)} is not a code page number; write it as Windows numbers it, such as 1252 or 1251",
        )
    try:
        codecs.lookup(f"cp{value}")
    except LookupError:
        raise fail(
            "invalid-value",
            f"{value} is not a Windows ANSI code page this tool can read (1250-1258, 874, 932, 936, 949, 950)",
        ) from None
    return int(value)


AnsiCodePage = Annotated[Any, PlainValidator(_code_page), WithJsonSchema({"type": "integer"})]


@cache
def fleet_models(version: str) -> dict[str, type[BaseModel]]:
    """The layer, profile, seat, fleet and include models for one MicroSIP version."""
    settings: Any = section_model("settings", version)
    account: Any = section_model("account", version)
    layer_fields: dict[str, Any] = {"settings": (settings | None, None), "account": (account | None, None)}
    layer: Any = create_model("Layer", __base__=LayerBase, **layer_fields)
    profile: Any = create_model("Profile", __base__=layer, extends=(NameList, None))
    seat_fields: dict[str, Any] = {
        "id": (SeatId, ...),
        "user": (User, None),
        "computer": (Computer, None),
        "profiles": (NameList, None),
        "accounts": (list[account], Field(...)),
        "active_account": (ActiveAccount, None),
    }
    seat: Any = create_model("Seat", __base__=layer, **seat_fields)
    profiles_map: Any = dict[Annotated[str, Field(pattern=NAME_PATTERN)], profile]
    seat_files: Any = (list[SeatFile | str] | None, None)
    include_fields: dict[str, Any] = {
        "include": (list[str] | None, None),
        "seat_files": seat_files,
        "profiles": (profiles_map | None, None),
        "seats": (list[seat] | None, None),
    }
    include: Any = create_model("Include", __config__=FORBID, **include_fields)
    versions: Any = Literal[catalogue.versions()]
    fleet_fields: dict[str, Any] = {
        "version": (Literal[1], ...),
        "name": (Annotated[str, Field(pattern=NAME_PATTERN)], ...),
        "microsip": (versions | None, None),
        "ansi_code_page": (AnsiCodePage, None),
        "templates": (Text, None),
        "include": (list[str] | None, None),
        "seat_files": seat_files,
        "defaults": (layer | None, None),
        "profiles": (profiles_map | None, None),
        "seats": (list[seat] | None, None),
    }
    fleet: Any = create_model("Fleet", __config__=FORBID, **fleet_fields)
    return {"layer": layer, "profile": profile, "seat": seat, "include": include, "fleet": fleet}

"""Pydantic models of the fleet format, built from the key catalogue.

``settings`` and ``account`` models are generated per MicroSIP version from
:mod:`provisioner.catalogue`: one optional field per key, typed, range- and
choice-checked, matched case-insensitively and stored under the catalogue's
canonical spelling. Every model forbids unknown fields. The layer models validate
what one file says; rules that need the merged seat live in :mod:`provisioner.plan`.
"""

from __future__ import annotations

import codecs
import ntpath
import re
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from provisioner import catalogue, ini
from provisioner.catalogue import Key, Section
from provisioner.errors import quoted
from provisioner.launch_rules import check_args, name_problem, reserved_problem
from provisioner.loading import raw_text
from provisioner.secrets import SecretRef, parse_reference

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
#: Characters Windows forbids in a user-profile folder name (plus separators).
_BAD_USER_CHARS = re.compile(r'[\\/:*?"<>|\x00-\x1f]')

FORBID = ConfigDict(extra="forbid")


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("value", message)


def show(value: Any) -> str:
    """A value as it appears in messages (secrets are never shown)."""
    if isinstance(value, SecretRef):
        return value.describe()
    if isinstance(value, str):
        return quoted(value) if value else '""'
    return repr(value)


def choices_text(choices: tuple[Any, ...]) -> str:
    """``udp, tcp, tls, ""`` -- how the allowed values read in messages."""
    return ", ".join('""' if c == "" else str(c) for c in choices)


def utf16_units(text: str) -> int:
    """The length of ``text`` as Windows counts it (MicroSIP's buffers hold UTF-16 code units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


#: MicroSIP reads each [Shortcuts] line (``N=label;number;...``) into a 1,024-unit buffer.
MAX_SHORTCUT_LINE = 1023


def text_problem(value: str, limit: int, what: str = "value") -> str | None:
    """Why ``value`` cannot be written as one ini value, or None when it can."""
    if value.isascii() and value.isprintable() and len(value) <= limit:  # most values: no CR, LF or NUL
        return None if not value or (value[0] != " " and value[-1] != " ") else _text_problem(value, limit, what)
    return _text_problem(value, limit, what)


def _text_problem(value: str, limit: int, what: str) -> str | None:
    for ch, name in (("\r", "a carriage return (CR)"), ("\n", "a line feed (LF)"), ("\x00", "a NUL")):
        if ch in value:
            return (
                f"{what} contains {name}; an ini value is one line, so this would inject "
                "extra keys or sections -- remove it"
            )
    units = utf16_units(value)
    if units > limit:
        if units == len(value):
            return f"{what} is {units} characters; MicroSIP reads at most {limit}"
        return (
            f"{what} is {units} UTF-16 code units ({len(value)} characters; emoji and other characters "
            f"beyond U+FFFF take two); MicroSIP reads at most {limit}"
        )
    if value != value.strip():
        return f"{what} has leading or trailing blanks, which Windows trims when reading; remove them"
    return None


def _as_text(key: Key, value: Any) -> str:
    """A scalar from YAML as text; numbers keep the spelling they were written with."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise _fail(f"expected text, got {str(value).lower()}; quote it if you meant the word")
    if isinstance(value, int | float):
        return raw_text(value) or str(value)
    raise _fail(f"expected text, got {type(value).__name__}")


def _coerce_string(key: Key, version: str, value: Any) -> Any:
    if key.list_separator and isinstance(value, list):
        items = [_as_text(key, item) for item in value]
        if key.kind == "codecs":
            items = [_codec(key, item) for item in items]
        text = key.list_separator.join(items)
    elif isinstance(value, bool) and key.choices is not None:
        if value or not key.false_means_empty:
            empty = re.search(r"''\s*\(([^)]*)\)", key.allowed)
            meaning = f' ("" means {empty.group(1)})' if empty else ""
            raise _fail(
                f"{str(value).lower()} is ambiguous for {key.name}{meaning}; write one of "
                f"{choices_text(key.choices_for(version) or ())}"
            )
        text = ""  # YAML false/off means "off" for enumerated keys
    else:
        text = _as_text(key, value)
        if key.kind == "codecs":
            text = " ".join(_codec(key, item) for item in text.split())
    problem = text_problem(text, key.max_length)
    if problem:
        raise _fail(problem)
    choices = key.choices_for(version)
    if choices is not None and text not in choices:
        lowered = {str(c).lower(): c for c in choices}
        if text.lower() in lowered:
            return lowered[text.lower()]
        hint = catalogue.did_you_mean(text, [str(c) for c in choices if c != ""])
        extra = ""
        if key.choices and set(key.choices) - set(choices) and text in key.choices:
            extra = f" in MicroSIP {version}"
        raise _fail(f"{show(text)} is not one of {choices_text(choices)}{extra}{hint}")
    if key.kind == "host":
        for part in text.split():
            if re.match(r"(?i)^sips?:", part):
                bare = re.sub(r"(?i)^sips?:", "", part)
                raise _fail(
                    f"{quoted(part)} must not start with 'sip:'; MicroSIP adds it itself -- write {quoted(bare)}"
                )
    return text


def _codec(key: Key, item: str) -> str:
    known = key.codecs or ()
    by_lower = {c.lower(): c for c in known}
    if item.lower() in by_lower:
        return by_lower[item.lower()]
    hint = catalogue.did_you_mean(item, list(known))
    raise _fail(
        f"unknown codec {quoted(item)}{hint}; codecs are name/clock/channels, see `provisioner keys audioCodecs`"
    )


def _coerce(key: Key, version: str, value: Any, info: ValidationInfo) -> Any:
    if value is None:
        return None  # an explicit null removes an inherited value
    if isinstance(value, dict):
        if key.type != "string":
            raise _fail(f"expected a {'number' if key.type == 'int' else 'boolean'}, got a mapping")
        base_dir = (info.context or {}).get("base_dir", "")
        ref = parse_reference(value, base_dir, (info.context or {}).get("confine"))
        if isinstance(ref, str):
            raise _fail(ref)
        return ref
    if key.type == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise _fail(f"{show(value)} is not a boolean; use true or false (or 1 / 0)")
    if key.type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(f"{show(value)} is not a whole number")
        number = int(value)
        choices = key.choices_for(version)
        if choices is not None and number not in choices:
            raise _fail(f"{number} is not one of {choices_text(choices)} ({key.allowed})")
        if key.min is not None and key.max is not None and not key.min <= number <= key.max:
            raise _fail(f"{number} is out of range; allowed {key.min}..{key.max}")
        return number
    if key.kind == "secret":
        text = _as_text(key, value)
        problem = text_problem(text, key.max_length, "the password")
        if problem:
            raise _fail(problem)
        return SecretRef("literal", text)
    return _coerce_string(key, version, value)


SECRET_SCHEMA: dict[str, Any] = {
    "description": "secret reference: {env: NAME} or {file: path}",
    "oneOf": [
        {
            "type": "object",
            "properties": {"env": {"type": "string"}},
            "required": ["env"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"file": {"type": "string"}},
            "required": ["file"],
            "additionalProperties": False,
        },
    ],
}


def any_case(word: str) -> str:
    """A regular expression (ECMA 262, as JSON Schema uses) matching ``word`` in any letter case."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


def _json_schema(key: Key, version: str) -> dict[str, Any]:
    base: dict[str, Any]
    if key.type == "bool":
        base = {"anyOf": [{"type": "boolean"}, {"enum": [0, 1]}]}
    elif key.type == "int":
        base = {"type": "integer"}
        if key.choices_for(version):
            base["enum"] = list(key.choices_for(version) or ())
        elif key.min is not None:
            base.update(minimum=key.min, maximum=key.max)
    else:
        text: dict[str, Any] = {"type": "string", "maxLength": key.max_length}
        choices = key.choices_for(version)
        if choices is not None:
            words = [str(c) for c in choices if c != ""]
            # the loader takes any case (TLS for tls) and writes MicroSIP's spelling; so does the schema
            text = {
                "anyOf": [
                    {"enum": list(choices)},
                    {"type": "string", "pattern": f"^(?:{'|'.join(map(any_case, words))})$"},
                ]
            }
        options: list[dict[str, Any]] = [text, SECRET_SCHEMA]
        if key.list_separator:
            items = {"enum": list(key.codecs)} if key.codecs else {"type": "string"}
            options.append({"type": "array", "items": items})
        if key.choices is not None:
            options.append({"const": False})
        base = {"anyOf": options}
    base["description"] = f"{key.allowed} (default: {quoted(key.default)})".strip()
    return (
        {**base, "anyOf": [*base.get("anyOf", []), {"type": "null"}]}
        if "anyOf" in base
        else {
            "anyOf": [{k: v for k, v in base.items() if k != "description"}, {"type": "null"}],
            "description": base["description"],
        }
    )


class CatalogueSection(BaseModel):
    """Base of the generated ``settings`` and ``account`` models: case-insensitive keys."""

    model_config = FORBID
    section: ClassVar[Section]
    version: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _canonical_names(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = catalogue.section_keys(cls.section, cls.version)
        out: dict[str, Any] = {}
        for name, value in data.items():
            key = known.get(str(name).lower())
            canonical = key.name if key else str(name)
            if canonical in out:
                raise _fail(f"{quoted(canonical)} is given twice (keys are not case-sensitive); keep one")
            out[canonical] = value
        return out


def _validator(key: Key, version: str) -> Callable[[Any, ValidationInfo], Any]:
    def validate(value: Any, info: ValidationInfo) -> Any:
        return _coerce(key, version, value, info)

    return validate


@cache
def section_model(section: Section, version: str) -> type[CatalogueSection]:
    """The generated model of ``[Settings]`` or an ``[AccountN]`` for one version."""
    fields: dict[str, Any] = {}
    for key in catalogue.section_keys(section, version).values():
        annotated = Annotated[Any, PlainValidator(_validator(key, version)), WithJsonSchema(_json_schema(key, version))]
        fields[key.name] = (annotated, None)
    name = f"{'Settings' if section == 'settings' else 'Account'}{version.replace('.', '')}"
    schemas = {key.name: _json_schema(key, version) for key in catalogue.section_keys(section, version).values()}

    def any_case_names(schema: dict[str, Any]) -> None:
        """Key names are not case-sensitive (Windows reads them so, and the loader accepts any case)."""
        schema["patternProperties"] = {f"^{any_case(name)}$": schemas[name] for name in schemas}

    model: type[CatalogueSection] = create_model(name, __base__=CatalogueSection, __config__=None, **fields)
    model.model_config = {**model.model_config, "json_schema_extra": any_case_names}
    model.section = section
    model.version = version
    return model


# --- the structural parts of a layer ---------------------------------------------------


def _text_field(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail(f"expected text, got {show(value)}")
    text = value if isinstance(value, str) else (raw_text(value) or str(value))
    problem = text_problem(text, 1024)
    if problem:
        raise _fail(problem)
    return text


Text = Annotated[Any, PlainValidator(_text_field), WithJsonSchema({"type": "string"})]


def _exe(value: Any, info: ValidationInfo) -> Any:
    text = _text_field(value, info)
    if text is None:
        return None
    name = ntpath.basename(text.replace("/", "\\"))
    if not name.lower().endswith(".exe") or len(name) <= 4:
        raise _fail(f"{quoted(text)} does not name an .exe file; MicroSIP names its ini after the exe")
    if _BAD_USER_CHARS.search(name):
        raise _fail(f"{quoted(name)} is not a valid Windows file name")
    reserved = reserved_problem(name, "the exe name")
    if reserved:
        raise _fail(reserved)
    return text


Exe = Annotated[Any, PlainValidator(_exe), WithJsonSchema({"type": "string", "pattern": r"(?i)\.exe$"})]


def _user(value: Any, info: ValidationInfo) -> Any:
    text = _text_field(value, info)
    if text is None:
        return None
    if not text or text in (".", "..") or _BAD_USER_CHARS.search(text) or ".." in text:
        raise _fail(f"{quoted(text)} is not a Windows user name: no path separators, '..', or any of :*?\"<>|")
    reserved = reserved_problem(text, "the user name")
    if reserved:
        raise _fail(reserved)
    return text


User = Annotated[Any, PlainValidator(_user), WithJsonSchema({"type": "string"})]

COMPUTER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$"


def _computer(value: Any, info: ValidationInfo) -> Any:
    text = _text_field(value, info)
    if text is None:
        return None
    if not re.match(COMPUTER_PATTERN, text):
        raise _fail(f"{quoted(text)} is not a Windows computer name: 1-63 letters, digits or '-'")
    return text


Computer = Annotated[Any, PlainValidator(_computer), WithJsonSchema({"type": "string", "pattern": COMPUTER_PATTERN})]


class Install(BaseModel):
    """Where MicroSIP is installed on the seat and how."""

    model_config = FORBID
    mode: Literal["installed", "portable"] | None = None
    exe: Exe = None


class Target(BaseModel):
    """Where a seat is deployed; which fields apply depends on ``type``."""

    model_config = FORBID
    type: Literal["appdata", "portable", "wine"] | None = None
    root: Text = None
    user: User = None
    path: Text = None
    prefix: Text = None
    applications_dir: Text = None


Shortcut = Literal["desktop", "start_menu", "startup"]


class Launch(BaseModel):
    """Launcher shortcuts and the MicroSIP command line they carry."""

    model_config = FORBID
    name: Text = None
    args: Text = None
    shortcuts: list[Shortcut] | None = None
    legacy_flags: Text = None

    @field_validator("name")
    @classmethod
    def _file_name(cls, value: Any) -> Any:
        problem = None if value is None else name_problem(value)
        if problem:
            raise _fail(f"{problem}; the launcher's file is named after it")
        return value

    @field_validator("args")
    @classmethod
    def _real_command_line(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        version = (info.context or {}).get("version", catalogue.default_version())
        problem = check_args(value, version)
        if problem:
            raise _fail(problem)
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
            raise _fail(ref)
        return ref
    text = _text_field(value, info)
    problem = text_problem(text, catalogue_limit())
    if problem:
        raise _fail(problem)
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


#: Speed-dial buttons MicroSIP shows (``[Shortcuts]`` keys 0..7).
MAX_SPEED_DIALS = 8
#: Control characters, TAB and line breaks included: MicroSIP's XML reader decodes only
#: ``&lt; &amp; &gt; &apos; &quot; &#39;``, so a TAB or line break (written as ``&#9;``,
#: ``&#10;``) would reach the phonebook as those six characters; in [Shortcuts] a line break
#: would end the line.
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _field_text(value: Any, info: ValidationInfo) -> Any:
    """Text inside a speed dial (no ';', the field separator) or a contact (no control characters)."""
    text = _text_field(value, info)
    if text is None:
        return None
    if _CONTROL.search(text):
        raise _fail(
            f"{show(text)} contains a control character (a tab or line break, say), which MicroSIP's "
            "files cannot hold: its phonebook reader decodes no such escape; remove it"
        )
    return text


FieldText = Annotated[Any, PlainValidator(_field_text), WithJsonSchema({"type": "string"})]


def _shortcut_type(value: Any, info: ValidationInfo) -> Any:
    version = (info.context or {}).get("version") or catalogue.default_version()
    known = catalogue.shortcut_types(version)
    if value in known:
        return value
    hint = catalogue.did_you_mean(str(value), list(known)) if isinstance(value, str) else ""
    raise _fail(f"{show(value)} is not a speed-dial type MicroSIP {version} knows: {', '.join(known)}{hint}")


ShortcutType = Annotated[
    Any, PlainValidator(_shortcut_type), WithJsonSchema({"enum": list(catalogue.shortcut_types())})
]


#: Speed-dial types that act on the current call and need no number of their own.
NUMBERLESS_SHORTCUTS = ("transfer", "attendedTransfer", "conference")
#: Speed-dial types MicroSIP 3.22.3's free build only answers with "not available in the free version".
NOT_IN_FREE_BUILD = {"3.22": ("runBatch", "callURL", "popURL")}


class SpeedDial(BaseModel):
    """One speed-dial button: written as ``N=label;number;type;number2;presence`` in [Shortcuts]."""

    model_config = FORBID
    label: FieldText
    number: FieldText = None
    type: ShortcutType = "call"
    number2: FieldText = None
    presence: bool = False
    label2: FieldText = None

    @field_validator("label2")
    @classmethod
    def _second_label_since_3_22_16(cls, value: Any, info: ValidationInfo) -> Any:
        version = (info.context or {}).get("version") or catalogue.default_version()
        if value is not None and catalogue.speed_dial_fields(version) < 6:
            raise _fail(f"a second label (`label2`) needs MicroSIP 3.22.16; MicroSIP {version} has no such field")
        return value

    @field_validator("label")
    @classmethod
    def _labelled(cls, value: Any) -> Any:
        if not str(value or "").strip():
            raise _fail("a speed dial needs a label: MicroSIP's own editor drops buttons without one")
        return value

    @field_validator("type")
    @classmethod
    def _in_this_build(cls, value: Any, info: ValidationInfo) -> Any:
        version = (info.context or {}).get("version") or catalogue.default_version()
        if value in NOT_IN_FREE_BUILD.get(version, ()):
            usable = [t for t in catalogue.shortcut_types(version) if t not in NOT_IN_FREE_BUILD[version]]
            raise _fail(
                f'{quoted(value)} buttons only show "not available in the free version" in MicroSIP {version}; '
                f"use one of {', '.join(usable)}"
            )
        return value

    @model_validator(mode="after")
    def _number_when_needed(self) -> SpeedDial:
        if self.type not in NUMBERLESS_SHORTCUTS and not str(self.number or "").strip():
            raise _fail(
                f"a {quoted(self.type)} button needs a number (only {', '.join(NUMBERLESS_SHORTCUTS)} "
                "buttons act on the current call without one)"
            )
        return self

    @field_validator("label", "number", "number2", "label2")
    @classmethod
    def _no_separator(cls, value: Any) -> Any:
        if isinstance(value, str) and ";" in value:
            raise _fail(f"{quoted(value)} contains ';', which separates the fields of a speed dial")
        return value

    @model_validator(mode="after")
    def _fits_microsip_line(self) -> SpeedDial:
        fields = [str(self.label), str(self.number or ""), str(self.type), str(self.number2 or ""), "1"]
        fields += [str(self.label2)] if self.label2 is not None else []
        line = "0=" + ini.written_value(";".join(fields))
        units = utf16_units(line)
        if units > MAX_SHORTCUT_LINE:
            raise _fail(
                f"the button's [Shortcuts] line would be {units} UTF-16 code units; MicroSIP reads at most "
                f"{MAX_SHORTCUT_LINE} -- shorten the label or the number"
            )
        return self


#: The attributes of a ``<contact>`` in MicroSIP's Contacts.xml, in the order MicroSIP writes them.
CONTACT_ATTRIBUTES = (
    "name",
    "number",
    "firstname",
    "lastname",
    "phone",
    "mobile",
    "email",
    "address",
    "city",
    "state",
    "zip",
    "comment",
    "id",
    "info",
    "presence",
    "starred",
    "directory",
)
CONTACT_FLAGS = ("presence", "starred", "directory")


class Contact(BaseModel):
    """One phonebook entry of MicroSIP's Contacts.xml."""

    model_config = FORBID
    name: FieldText
    number: FieldText
    firstname: FieldText = None
    lastname: FieldText = None
    phone: FieldText = None
    mobile: FieldText = None
    email: FieldText = None
    address: FieldText = None
    city: FieldText = None
    state: FieldText = None
    zip: FieldText = None
    comment: FieldText = None
    id: FieldText = None
    info: FieldText = None
    presence: bool | None = None
    starred: bool | None = None
    directory: bool | None = None

    @field_validator("number")
    @classmethod
    def _has_number(cls, value: Any) -> Any:
        if not str(value if value is not None else "").strip():
            raise _fail("a contact needs a number: MicroSIP drops a phonebook entry without one when it loads")
        return value


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
            raise _fail(f"{len(value)} speed dials; MicroSIP has {MAX_SPEED_DIALS} buttons")
        return value

    @field_validator("ini")
    @classmethod
    def _ini_names(cls, value: dict[str, dict[str, Any] | None] | None) -> Any:
        for section, keys in (value or {}).items():
            problem = _ini_name(section, "section")
            for key in keys or {}:
                problem = problem or _ini_name(key, "key")
            if problem:
                raise _fail(problem)
        return value


def _id(value: Any, info: ValidationInfo) -> Any:
    text = _text_field(value, info)
    if not isinstance(text, str) or not re.match(ID_PATTERN, text):
        raise _fail(
            f"{show(text)} is not a valid id: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    reserved = reserved_problem(text, "the seat id")
    if reserved:
        raise _fail(reserved)
    return text


SeatId = Annotated[Any, PlainValidator(_id), WithJsonSchema({"type": "string", "pattern": ID_PATTERN})]


def _words(value: Any, expected: str) -> list[str] | None:
    """A list of strings, a single string taken as a list of one, or None; ``expected`` says what otherwise."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(f"expected a list of {expected}")
    return value


def _name_list(value: Any, info: ValidationInfo) -> Any:
    return _words(value, "profile names")


NameList = Annotated[Any, PlainValidator(_name_list), WithJsonSchema({"type": "array", "items": {"type": "string"}})]


def _active(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(f"{show(value)} is not an account number; use 1 for the first account")
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
            raise _fail(
                f"{quoted(name)} is not a key MicroSIP rewrites while it runs{hint}; "
                "every other key is enforced already, and `enforce` takes only those MicroSIP rewrites "
                "(accountId, enableShortcuts, ...)"
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
            raise _fail(f"{quoted(name)} is not SECTION.KEY; write it as the ini names it, such as Settings.autoAnswer")
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
        raise _fail(f"{show(value)} is not a code page number; write it as Windows numbers it, such as 1252 or 1251")
    try:
        codecs.lookup(f"cp{value}")
    except LookupError:
        raise _fail(
            f"{value} is not a Windows ANSI code page this tool can read (1250-1258, 874, 932, 936, 949, 950)"
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

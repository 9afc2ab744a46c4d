"""The ``settings`` and ``account`` models, generated from the key catalogue, and the value rules every model shares."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from provisioner import catalogue
from provisioner.catalogue import Key, Section
from provisioner.errors import quoted
from provisioner.inputs.secrets import SecretRef, parse_reference
from provisioner.inputs.yaml_reader import raw_text

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
#: Characters Windows forbids in a user-profile folder name (plus separators).
BAD_USER_CHARS = re.compile(r'[\\/:*?"<>|\x00-\x1f]')

FORBID = ConfigDict(extra="forbid")
#: A part of a layer that the merged seat also holds: never changed once made.
FROZEN = ConfigDict(extra="forbid", frozen=True)


def fail(code: str, message: str) -> PydanticCustomError:
    """A validation error whose type is the problem's code (``problem_codes.CODES``)."""
    return PydanticCustomError(code, message)


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
        raise fail("wrong-type", f"expected text, got {str(value).lower()}; quote it if you meant the word")
    if isinstance(value, int | float):
        return raw_text(value) or str(value)
    raise fail("wrong-type", f"expected text, got {type(value).__name__}")


def _coerce_string(key: Key, version: str, value: Any) -> Any:
    text = _joined_text(key, version, value)
    problem = text_problem(text, key.max_length)
    if problem:
        raise fail("unsafe-text", problem)
    choices = key.choices_for(version)
    if choices is not None and text not in choices:
        return _choice(key, version, text, choices)
    if key.kind == "host":
        _check_host(text)
    return text


def _joined_text(key: Key, version: str, value: Any) -> str:
    """The value as MicroSIP's text: a list joined by the key's separator, codecs spelled as MicroSIP
    spells them, YAML false as "off" for an enumerated key that allows it."""
    if key.list_separator and isinstance(value, list):
        items = [_as_text(key, item) for item in value]
        if key.kind == "codecs":
            items = [_codec(key, item) for item in items]
        return key.list_separator.join(items)
    if isinstance(value, bool) and key.choices is not None:
        if value or not key.false_means_empty:
            empty = re.search(r"''\s*\(([^)]*)\)", key.allowed)
            meaning = f' ("" means {empty.group(1)})' if empty else ""
            raise fail(
                "not-one-of",
                f"{str(value).lower()} is ambiguous for {key.name}{meaning}; write one of "
                f"{choices_text(key.choices_for(version) or ())}",
            )
        return ""  # YAML false/off means "off" for enumerated keys
    text = _as_text(key, value)
    if key.kind == "codecs":
        text = " ".join(_codec(key, item) for item in text.split())
    return text


def _choice(key: Key, version: str, text: str, choices: Any) -> Any:
    """The choice ``text`` names in another letter case; else why it is none of them."""
    lowered = {str(c).lower(): c for c in choices}
    if text.lower() in lowered:
        return lowered[text.lower()]
    hint = catalogue.did_you_mean(text, [str(c) for c in choices if c != ""])
    extra = ""
    if key.choices and set(key.choices) - set(choices) and text in key.choices:
        extra = f" in MicroSIP {version}"
    raise fail("not-one-of", f"{show(text)} is not one of {choices_text(choices)}{extra}{hint}")


def _check_host(text: str) -> None:
    for part in text.split():
        if re.match(r"(?i)^sips?:", part):
            bare = re.sub(r"(?i)^sips?:", "", part)
            raise fail(
                "sip-prefix",
                f"{quoted(part)} must not start with 'sip:'; MicroSIP adds it itself -- write {quoted(bare)}",
            )


def _codec(key: Key, item: str) -> str:
    known = key.codecs or ()
    by_lower = {c.lower(): c for c in known}
    if item.lower() in by_lower:
        return by_lower[item.lower()]
    hint = catalogue.did_you_mean(item, list(known))
    raise fail(
        "not-one-of",
        f"unknown codec {quoted(item)}{hint}; codecs are name/clock/channels, see `provisioner keys audioCodecs`",
    )


def _coerce(key: Key, version: str, value: Any, info: ValidationInfo) -> Any:
    if value is None:
        return None  # an explicit null removes an inherited value
    if isinstance(value, dict):
        return _reference(key, value, info)
    if key.type == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise fail("wrong-type", f"{show(value)} is not a boolean; use true or false (or 1 / 0)")
    if key.type == "int":
        return _number(key, version, value)
    if key.kind == "secret":
        text = _as_text(key, value)
        problem = text_problem(text, key.max_length, "the password")
        if problem:
            raise fail("unsafe-text", problem)
        return SecretRef("literal", text)
    return _coerce_string(key, version, value)


def _reference(key: Key, value: dict[str, Any], info: ValidationInfo) -> SecretRef:
    """A secret reference ({env: NAME}, {file: path}), which only a text key may take."""
    if key.type != "string":
        raise fail("wrong-type", f"expected a {'number' if key.type == 'int' else 'boolean'}, got a mapping")
    base_dir = (info.context or {}).get("base_dir", "")
    ref = parse_reference(value, base_dir, (info.context or {}).get("confine"))
    if isinstance(ref, str):
        raise fail("bad-secret-reference", ref)
    return ref


def _number(key: Key, version: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail("wrong-type", f"{show(value)} is not a whole number")
    number = int(value)
    choices = key.choices_for(version)
    if choices is not None and number not in choices:
        raise fail("not-one-of", f"{number} is not one of {choices_text(choices)} ({key.allowed})")
    if key.min is not None and key.max is not None and not key.min <= number <= key.max:
        raise fail("out-of-range", f"{number} is out of range; allowed {key.min}..{key.max}")
    return number


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
                raise fail(
                    "duplicate-key", f"{quoted(canonical)} is given twice (keys are not case-sensitive); keep one"
                )
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


def text_field(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise fail("wrong-type", f"expected text, got {show(value)}")
    text = value if isinstance(value, str) else (raw_text(value) or str(value))
    problem = text_problem(text, 1024)
    if problem:
        raise fail("unsafe-text", problem)
    return text


Text = Annotated[Any, PlainValidator(text_field), WithJsonSchema({"type": "string"})]

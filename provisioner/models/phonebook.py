"""Speed dials and contacts: what MicroSIP's [Shortcuts] lines and its phonebook can hold."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from provisioner import catalogue, ini
from provisioner.errors import quoted
from provisioner.models.sections import FORBID, FROZEN, MAX_SHORTCUT_LINE, fail, show, text_field, utf16_units

#: Speed-dial buttons MicroSIP shows (``[Shortcuts]`` keys 0..7).
MAX_SPEED_DIALS = 8
#: Control characters, TAB and line breaks included: MicroSIP's XML reader decodes only
#: ``&lt; &amp; &gt; &apos; &quot; &#39;``, so a TAB or line break (written as ``&#9;``,
#: ``&#10;``) would reach the phonebook as those six characters; in [Shortcuts] a line break
#: would end the line.
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _field_text(value: Any, info: ValidationInfo) -> Any:
    """Text inside a speed dial (no ';', the field separator) or a contact (no control characters)."""
    text = text_field(value, info)
    if text is None:
        return None
    if _CONTROL.search(text):
        raise fail(
            "unsafe-text",
            f"{show(text)} contains a control character (a tab or line break, say), which MicroSIP's "
            "files cannot hold: its phonebook reader decodes no such escape; remove it",
        )
    return text


FieldText = Annotated[Any, PlainValidator(_field_text), WithJsonSchema({"type": "string"})]


def _shortcut_type(value: Any, info: ValidationInfo) -> Any:
    version = (info.context or {}).get("version") or catalogue.default_version()
    known = catalogue.shortcut_types(version)
    if value in known:
        return value
    hint = catalogue.did_you_mean(str(value), list(known)) if isinstance(value, str) else ""
    raise fail(
        "not-one-of", f"{show(value)} is not a speed-dial type MicroSIP {version} knows: {', '.join(known)}{hint}"
    )


ShortcutType = Annotated[
    Any, PlainValidator(_shortcut_type), WithJsonSchema({"enum": list(catalogue.shortcut_types())})
]


#: Speed-dial types that act on the current call and need no number of their own.
NUMBERLESS_SHORTCUTS = ("transfer", "attendedTransfer", "conference")
#: Speed-dial types MicroSIP 3.22.3's free build only answers with "not available in the free version".
NOT_IN_FREE_BUILD = {"3.22": ("runBatch", "callURL", "popURL")}


class SpeedDial(BaseModel):
    """One speed-dial button: written as ``N=label;number;type;number2;presence`` in [Shortcuts]."""

    model_config = FROZEN
    label: FieldText
    number: FieldText = None
    type: ShortcutType = "call"
    number2: FieldText = None
    presence: bool = False
    label2: FieldText = None

    @classmethod
    def merged(cls, data: dict[str, Any]) -> SpeedDial:
        """The merged seat's, from its merged ``speed_dials`` entry (already checked)."""
        return cls.model_construct(
            label=str(data["label"]),
            number=None if data.get("number") is None else str(data["number"]),
            type=str(data.get("type") or "call"),
            number2=None if data.get("number2") is None else str(data["number2"]),
            presence=bool(data.get("presence")),
            label2=None if data.get("label2") is None else str(data["label2"]),
        )

    @field_validator("label2")
    @classmethod
    def _second_label_since_3_22_16(cls, value: Any, info: ValidationInfo) -> Any:
        version = (info.context or {}).get("version") or catalogue.default_version()
        if value is not None and catalogue.speed_dial_fields(version) < 6:
            raise fail(
                "needs-newer-microsip",
                f"a second label (`label2`) needs MicroSIP 3.22.16; MicroSIP {version} has no such field",
            )
        return value

    @field_validator("label")
    @classmethod
    def _labelled(cls, value: Any) -> Any:
        if not str(value or "").strip():
            raise fail("empty-value", "a speed dial needs a label: MicroSIP's own editor drops buttons without one")
        return value

    @field_validator("type")
    @classmethod
    def _in_this_build(cls, value: Any, info: ValidationInfo) -> Any:
        version = (info.context or {}).get("version") or catalogue.default_version()
        if value in NOT_IN_FREE_BUILD.get(version, ()):
            usable = [t for t in catalogue.shortcut_types(version) if t not in NOT_IN_FREE_BUILD[version]]
            raise fail(
                "invalid-value",
                f'{quoted(value)} buttons only show "not available in the free version" in MicroSIP {version}; '
                f"use one of {', '.join(usable)}",
            )
        return value

    @model_validator(mode="after")
    def _number_when_needed(self) -> SpeedDial:
        if self.type not in NUMBERLESS_SHORTCUTS and not str(self.number or "").strip():
            raise fail(
                "empty-value",
                f"a {quoted(self.type)} button needs a number (only {', '.join(NUMBERLESS_SHORTCUTS)} "
                "buttons act on the current call without one)",
            )
        return self

    @field_validator("label", "number", "number2", "label2")
    @classmethod
    def _no_separator(cls, value: Any) -> Any:
        if isinstance(value, str) and ";" in value:
            raise fail("unsafe-text", f"{quoted(value)} contains ';', which separates the fields of a speed dial")
        return value

    @model_validator(mode="after")
    def _fits_microsip_line(self) -> SpeedDial:
        fields = [str(self.label), str(self.number or ""), str(self.type), str(self.number2 or ""), "1"]
        fields += [str(self.label2)] if self.label2 is not None else []
        line = "0=" + ini.written_value(";".join(fields))
        units = utf16_units(line)
        if units > MAX_SHORTCUT_LINE:
            raise fail(
                "unsafe-text",
                f"the button's [Shortcuts] line would be {units} UTF-16 code units; MicroSIP reads at most "
                f"{MAX_SHORTCUT_LINE} -- shorten the label or the number",
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
            raise fail(
                "empty-value", "a contact needs a number: MicroSIP drops a phonebook entry without one when it loads"
            )
        return value

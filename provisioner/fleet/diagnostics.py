"""Pydantic's errors as one-line problems, placed where the value was written."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from provisioner import catalogue
from provisioner.errors import Problems, quoted
from provisioner.inputs.yaml_reader import (
    Document,
    Path_,
    format_path,
    raw_text,
)
from provisioner.models import (
    ID_PATTERN,
    choices_text,
    show,
)
from provisioner.problem_codes import CODES


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


#: What a pydantic error type expected, in the words the messages use.
EXPECTED = {
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "string_type": "text",
    "int_type": "a whole number",
    "bool_type": "true or false",
}


#: The code of each pydantic error type the file format meets; a validator of ours raises its own code.
PYDANTIC_CODES = {
    "extra_forbidden": "unknown-key",
    "missing": "missing-key",
    "literal_error": "not-one-of",
    "string_pattern_mismatch": "bad-name",
    **dict.fromkeys(EXPECTED, "wrong-type"),
}


def code_of(err: Any) -> str:
    """The problem code of one pydantic error."""
    kind = str(err["type"])
    if kind == "literal_error" and tuple(err["loc"]) in (("version",), ("microsip",)):
        return "unsupported-version"
    if kind in PYDANTIC_CODES:
        return PYDANTIC_CODES[kind]
    return kind if kind in CODES else "invalid-value"


def _message(err: Any, doc: Document, loc: Path_, model: type[BaseModel], version: str) -> str:
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        return _unknown_key(str(loc[-1]), loc, model, version)
    if kind == "missing":
        return f"required key {loc[-1]!r} is missing"
    if kind == "literal_error":
        return _not_one_of(value, loc, err.get("ctx", {}).get("expected", ""))
    if kind == "string_pattern_mismatch":
        return f"{show(value)} is not a valid name: letters, digits, '.', '_' or '-', starting with a letter or digit"
    if kind in EXPECTED:
        return f"expected {EXPECTED[kind]}, got {kind_of(value)}"
    return str(err["msg"])


def _unknown_key(name: str, loc: Path_, model: type[BaseModel], version: str) -> str:
    """A key the model does not have: MicroSIP's words for an ini key, else what is allowed there."""
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
    if not guess and {"settings", "account"} <= set(allowed):  # a layer: an ini key one level too high?
        for section, where in (("settings", "`settings:`"), ("account", "`account:` or an entry of `accounts`")):
            if catalogue.section_keys(section, version).get(name.lower()) is not None:
                kind = "[Settings]" if section == "settings" else "account"
                return f"{quoted(name)} is a MicroSIP {kind} key; put it under {where}"
    hint = f" (did you mean {quoted(guess)}?)" if guess else ""
    return f"unknown key {quoted(name)}{hint}; allowed here: {', '.join(allowed)}"


def _not_one_of(value: Any, loc: Path_, expected: str) -> str:
    if loc == ("version",):
        return f"{show(value)} is not a fleet format version this tool reads; write `version: 1`"
    if loc == ("microsip",):
        return f"{show(value)} is not a supported MicroSIP version; use one of {choices_text(catalogue.versions())}"
    options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(",")]
    hint = catalogue.did_you_mean(str(value), options) if isinstance(value, str) else ""
    return f"{show(value)} is not one of {', '.join(options)}{hint}"


def kind_of(value: Any) -> str:
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


@functools.lru_cache(maxsize=64)
def _folder_of(path: str) -> str:
    """The folder a fleet file's relative paths start from (asked once per seat: worked out once per file)."""
    return str(Path(path).parent)


def validate(
    model: type[BaseModel],
    data: Any,
    doc: Document,
    prefix: Path_,
    version: str,
    problems: Problems,
) -> BaseModel | None:
    """Validate ``data`` (found at ``prefix`` in ``doc``); record problems, return the model or None."""
    context = {"base_dir": _folder_of(doc.path), "version": version, "confine": doc.confine}
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
            problems.error(doc.locate(loc, key=at_key), label_path(doc, shown), message, code=code_of(err))
        return None

"""Read fleet YAML files, keeping ``file:line:col`` for every key and value.

PyYAML parses (with libyaml's C parser when it is installed); we turn its events
into plain Python data ourselves, without a node graph, so that we can refuse what a fleet
file must not contain -- duplicate keys, merge keys, custom tags, runaway alias
expansion ("billion laughs"), absurd nesting -- and record where each value came
from. Integers and floats keep the text they were written as (``YInt.raw``), so a
username written ``007`` stays ``007``.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provisioner.errors import FleetError, Loc, Problem, Problems, quoted
from provisioner.inputs.regular_files import NotRegular, TooLarge, read_regular

try:  # libyaml is much faster; fall back to the pure-Python loader where it is missing
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

#: A fleet file larger than this is refused before parsing.
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Values produced by expanding aliases, per file; a fleet never needs more.
MAX_ALIAS_VALUES = 100_000
#: Mappings and lists nested deeper than this are refused.
MAX_DEPTH = 64

Path_ = tuple[str | int, ...]


class YInt(int):
    """An integer from YAML that remembers how it was written."""

    raw: str


class YFloat(float):
    """A float from YAML that remembers how it was written."""

    raw: str


def raw_text(value: Any) -> str | None:
    """The source text of a YAML number, or None for anything else."""
    return getattr(value, "raw", None)


@dataclass
class Document:
    """One YAML file: its data and where each part of it stands."""

    path: str
    data: Any
    # Positions are packed as ``line << 24 | column`` (1-based): a 10,000-seat fleet
    # has hundreds of thousands of them, and a small int is far lighter than a Loc.
    # A YAML file's tables are built only when a message first needs a position (by
    # parsing ``source`` again): a fleet without problems never holds them. A CSV
    # file's are filled as it is read.
    value_locs: dict[Path_, int] = field(default_factory=dict)
    key_locs: dict[Path_, int] = field(default_factory=dict)
    source: str | None = field(default=None, repr=False)
    #: Words YAML read as booleans (``yes``, ``no``, ``on``, ``off``), by path: messages quote what was written.
    words: dict[Path_, str] = field(default_factory=dict)
    #: Names to show for paths instead of the structural ones (a CSV cell shows its header).
    labels: dict[Path_, str] = field(default_factory=dict)
    #: For data files (CSV): the folder its `file:` references must stay inside.
    confine: str | None = None

    def _loc(self, packed: int) -> Loc:
        return Loc(self.path, packed >> 24, packed & 0xFFFFFF)

    def _positions(self) -> None:
        """Build the position tables of a YAML file on first use (the text parsed once more)."""
        if self.source is None:
            return
        source, self.source = self.source, None
        loader = _Loader(source)
        builder = _Builder(self.path, loader, source, record=True)
        builder.doc = self  # the tables go here; the data built again is dropped
        try:
            builder.document()
        finally:
            loader.dispose()

    def locate(self, path: Path_, *, key: bool = False) -> Loc:
        """Where the value (or, with ``key``, the key) at ``path`` stands.

        Keys are matched case-insensitively when the exact spelling is not found
        (models report canonical key names); a path that does not exist (a missing
        field) falls back to its closest existing parent.
        """
        self._positions()
        resolved = self.resolve(path)
        table = self.key_locs if key else self.value_locs
        while resolved:
            if resolved in table:
                return self._loc(table[resolved])
            if resolved in self.value_locs:
                return self._loc(self.value_locs[resolved])
            resolved = resolved[:-1]
        return self._loc(self.value_locs.get((), 1 << 24 | 1))

    def resolve(self, path: Path_) -> Path_:
        """Map a path with canonical key names onto the spelling used in the file."""
        self._positions()
        out: list[str | int] = []
        for part in path:
            candidate = (*out, part)
            if candidate not in self.value_locs and isinstance(part, str):
                prefix = tuple(out)
                lowered = part.lower()
                for known in self._children(prefix):
                    if isinstance(known, str) and known.lower() == lowered:
                        part = known
                        break
            out.append(part)
        return tuple(out)

    def _children(self, prefix: Path_) -> Iterator[str | int]:
        node = self.get(prefix)
        if isinstance(node, dict):
            yield from node.keys()

    def get(self, path: Path_) -> Any:
        """The value at ``path``, or None."""
        node = self.data
        for part in path:
            in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if (isinstance(node, dict) and part in node) or in_list:
                node = node[part]
            else:
                return None
        return node


_STR_TAG = "tag:yaml.org,2002:str"
#: Characters a double-quoted escape makes that no fleet value means (a line feed from \n, a tab from \t).
_ESCAPED = re.compile("[\x00-\x08\x09\x0a\x0b\x0c\x0d\x1b\x85\xa0\u2028\u2029]")
_ESCAPE_NAMES = {
    "n": "a line feed",
    "t": "a tab",
    "r": "a carriage return",
    "b": "a backspace",
    "f": "a form feed",
    "a": "a bell",
    "v": "a vertical tab",
    "e": "an escape",
    "0": "a NUL",
    "N": "a next-line character",
    "_": "a no-break space",
    "L": "a line separator",
    "P": "a paragraph separator",
}


#: A double-quoted scalar that starts like a Windows path (``"C:\\...``, ``"\\\\server...``).
_PATH = re.compile(r'"(?:[A-Za-z]:\\|\\\\[A-Za-z0-9])')


def _escapes(source: str) -> str:
    """What the escapes in ``source`` became: ``\\n became a line feed and \\t a tab``."""
    found = [(letter, name) for letter, name in _ESCAPE_NAMES.items() if "\\" + letter in source]
    if not found:
        return "its escapes became control characters"
    words = [f"\\{letter} {'became ' if i == 0 else ''}{name}" for i, (letter, name) in enumerate(found)]
    return " and ".join(words)


class _Replay:
    """The recorded events of an anchored node, read again for an alias."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events
        self.at = 0

    def get_event(self) -> Any:
        event = self.events[self.at]
        self.at += 1
        return event

    def check_event(self, kind: type) -> bool:
        return isinstance(self.events[self.at], kind)


_EMPTY = object()  # a stream without a document


class _Builder:
    """Turns the parser's events into Python data with locations, without a node graph.

    Building from events rather than from composed nodes keeps only the data: a large
    fleet's node graph alone would be as large as everything the tool keeps.
    An anchored node's events are recorded, and an alias reads them again at its own
    path (each value it expands is counted, so an alias bomb is refused).
    """

    def __init__(self, path: str, loader: Any, text: str | None = None, *, record: bool = False) -> None:
        self.doc = Document(path, None)
        self.loader = loader  # the parser's event interface is untyped
        self.record = record  # fill the position tables (only when a message needs them)
        self.lines = text.splitlines() if text is not None else []
        self.values = 0
        self.anchors: dict[str, list[Any]] = {}
        self.recording: dict[str, list[Any]] = {}  # anchors whose node is still being read
        self.problems = Problems()

    def loc(self, mark: Any) -> Loc:
        return Loc(self.doc.path, mark.line + 1, mark.column + 1)

    def document(self) -> Any:
        """The stream's single document as data (``_EMPTY`` for a stream without one); as PyYAML composes it."""
        loader = self.loader
        loader.get_event()  # stream start
        data: Any = _EMPTY
        start = None
        if not loader.check_event(yaml.StreamEndEvent):
            start = loader.get_event().start_mark  # document start
            data = self.build(loader, (), 0)
            loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            event = loader.get_event()
            raise yaml.composer.ComposerError(
                "expected a single document in the stream", start, "but found another document", event.start_mark
            )
        return data

    def _next(self, source: Any) -> Any:
        event = source.get_event()
        if source is self.loader:  # what an alias expands is recorded as the alias itself
            for events in self.recording.values():
                events.append(event)
        return event

    def build(self, source: Any, path: Path_, depth: int) -> Any:
        event = self._next(source)
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event, path, depth)
        if source is not self.loader or depth > MAX_DEPTH:
            self._check_limits(source, event, depth)
        if self.record:
            mark = event.start_mark
            self.doc.value_locs[path] = (mark.line + 1) << 24 | (mark.column + 1)
        anchor = event.anchor if source is self.loader else None
        if anchor is None:
            return self._node(source, event, path, depth)
        self._anchor(anchor, event)
        try:
            return self._node(source, event, path, depth)
        finally:
            self.anchors[anchor] = self.recording.pop(anchor)

    def _check_limits(self, source: Any, event: Any, depth: int) -> None:
        """Refuse an alias bomb (values an alias expands to, counted) and a file nested too deep."""
        if source is not self.loader:
            self.values += 1  # a value an alias expands to
            if self.values > MAX_ALIAS_VALUES:
                raise _Refused(
                    self.loc(event.start_mark),
                    f"the file expands to more than {MAX_ALIAS_VALUES} values through YAML aliases "
                    "(an alias bomb?); write the values out or use profiles",
                )
        if depth > MAX_DEPTH:
            raise _Refused(
                self.loc(event.start_mark),
                f"nested more than {MAX_DEPTH} levels deep; a fleet file never needs that",
            )

    def _node(self, source: Any, event: Any, path: Path_, depth: int) -> Any:
        """The mapping, list or scalar that ``event`` starts."""
        if isinstance(event, yaml.MappingStartEvent):
            return self._mapping(source, path, depth)
        if isinstance(event, yaml.SequenceStartEvent):
            out: list[Any] = []
            while not source.check_event(yaml.SequenceEndEvent):
                out.append(self.build(source, (*path, len(out)), depth + 1))
            self._next(source)
            return out
        value = self._scalar(event)
        if isinstance(value, bool) and str(event.value).lower() not in ("true", "false"):
            self.doc.words[path] = str(event.value)
        return value

    def _anchor(self, anchor: str, event: Any) -> None:
        earlier = self.anchors.get(anchor) or self.recording.get(anchor)
        if earlier:
            raise yaml.composer.ComposerError(
                "found duplicate anchor; first occurrence", earlier[0].start_mark, "second occurrence", event.start_mark
            )
        self.recording[anchor] = [event]

    def _alias(self, event: Any, path: Path_, depth: int) -> Any:
        if event.anchor in self.recording:
            raise _Refused(self.loc(event.start_mark), "a YAML alias refers to itself")
        return self.build(_Replay(self._recorded(event)), path, depth)

    def _recorded(self, alias: Any) -> list[Any]:
        """The events an alias stands for (its anchor's node, read to its end); as PyYAML, refused when undefined."""
        events = self.anchors.get(alias.anchor)
        if events is None:
            raise yaml.composer.ComposerError(None, None, "found undefined alias", alias.start_mark)
        return events

    def _tag(self, event: Any) -> str:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        return str(tag)

    def _scalar(self, event: Any) -> Any:
        tag = self._tag(event)
        if tag == _STR_TAG:  # most of a fleet: no constructor needed
            if event.style == '"' and _ESCAPED.search(event.value) and _PATH.match(self._source(event)):
                raise _Refused(
                    self.loc(event.start_mark),
                    f"in double quotes {_escapes(self._source(event))}, so {self._source(event)} is not the "
                    "path it looks like: write a Windows path in single quotes or with forward slashes",
                    "double-quoted-path",
                )
            return event.value
        if not tag.startswith("tag:yaml.org,2002:"):
            raise _Refused(
                self.loc(event.start_mark),
                f"unsupported YAML tag {quoted(tag)}; fleet files use plain values (use `include:` to split a fleet)",
            )
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            construct = self.loader.yaml_constructors.get(tag)
            if construct is None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"could not determine a constructor for the tag {tag!r}", event.start_mark
                )
            value = construct(self.loader, node)
        except (
            ValueError,
            TypeError,
            OverflowError,
            ArithmeticError,
            LookupError,
            AttributeError,
            yaml.YAMLError,
        ) as exc:
            kind = tag.rsplit(":", 1)[-1]
            shown = str(event.value)
            shown = f"{shown[:40]}... ({len(shown)} characters)" if len(shown) > 60 else repr(shown)
            why = "too many digits" if "digits" in str(exc) else str(exc).splitlines()[0]
            raise _Refused(
                self.loc(event.start_mark),
                f"{shown} is not a valid {kind} ({why}); put it in quotes to keep it as text",
                "unquoted-value",
            ) from None
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            number = YInt(value)
            number.raw = str(event.value)
            return number
        if isinstance(value, float):
            real = YFloat(value)
            real.raw = str(event.value)
            return real
        if isinstance(value, str):
            return value
        return str(event.value)  # timestamps, binary: keep the text as written

    def _source(self, event: Any) -> str:
        """The scalar as written in the file."""
        start, end = event.start_mark, event.end_mark
        if start.line >= len(self.lines):
            return ""
        line: str = self.lines[start.line]
        if start.line == end.line:
            return line[start.column : end.column]
        return line[start.column :]  # the first line of a scalar over several

    def _key(self, source: Any) -> Any:
        """The next key's event: plain text (an alias to plain text counts as it)."""
        event: Any = self._next(source)
        anchor: Any = event.anchor if isinstance(event, yaml.AliasEvent) else None
        aliased = anchor is not None
        if aliased and anchor not in self.recording:
            recorded = self._recorded(event)
            if len(recorded) == 1:
                event = recorded[0]
        if isinstance(event, yaml.ScalarEvent) and self._tag(event) == "tag:yaml.org,2002:merge":
            raise _Refused(
                self.loc(event.start_mark),
                "YAML merge keys (`<<`) are not supported; share values with `profiles` and `extends` instead",
            )
        if not isinstance(event, yaml.ScalarEvent):
            raise _Refused(self.loc(event.start_mark), "a mapping key must be plain text")
        if event.anchor is not None and source is self.loader and not aliased:
            self._anchor(event.anchor, event)
            self.anchors[event.anchor] = self.recording.pop(event.anchor)
        return event

    def _mapping(self, source: Any, path: Path_, depth: int) -> Any:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        while not source.check_event(yaml.MappingEndEvent):
            key_event = self._key(source)
            key = str(key_event.value)
            key_mark = key_event.start_mark
            here = (*path, key)
            if key in out:
                self.problems.error(
                    self.loc(key_mark),
                    format_path(path),
                    f"duplicate key {quoted(key)} (first defined on line {first_line[key]}); remove one of them",
                    code="duplicate-key",
                )
                kept, self.doc = self.doc, Document(self.doc.path, None)  # read past it; the first one stays
                try:
                    self.build(source, here, depth + 1)
                finally:
                    self.doc = kept
                continue
            first_line[key] = key_mark.line + 1
            if self.record:
                self.doc.key_locs[here] = (key_mark.line + 1) << 24 | (key_mark.column + 1)
            out[key] = self.build(source, here, depth + 1)
        self._next(source)
        return out


class _Refused(Exception):
    def __init__(self, loc: Loc, message: str, code: str = "yaml-refused") -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message
        self.code = code


def format_path(path: Path_) -> str:
    """``('seats', 0, 'id')`` -> ``seats[1].id`` (plain positions, 1-based)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_text(text: str, path: str) -> Document:
    """Parse YAML text into a :class:`Document`; raise :class:`FleetError` on bad input."""
    loader = _Loader(text)
    builder = _Builder(path, loader, text)
    try:
        data = builder.document()
        if data is _EMPTY:
            raise FleetError(
                [Problem(Loc(path, 1, 1), "", "the file is empty; see `provisioner init`", code="empty-file")]
            )
        builder.doc.data = data
        builder.doc.source = text  # positions, when a message needs them
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Loc(path, mark.line + 1, mark.column + 1) if mark else Loc(path, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        hint = _syntax_hint(problem, text, mark)
        raise FleetError([Problem(loc, "", f"YAML syntax error: {problem}{hint}", code="yaml-syntax")]) from None
    except yaml.YAMLError as exc:
        raise FleetError([Problem(Loc(path, 1, 1), "", f"YAML error: {exc}", code="yaml-syntax")]) from None
    except _Refused as exc:
        raise FleetError([Problem(exc.loc, "", exc.message, code=exc.code)]) from None
    except RecursionError:
        raise FleetError(
            [Problem(Loc(path, 1, 1), "", f"nested more than {MAX_DEPTH} levels deep", code="yaml-refused")]
        ) from None
    finally:
        loader.dispose()
    builder.problems.raise_if_errors()
    return builder.doc


#: YAML errors that mean a line is indented wrongly.
_INDENTATION = (
    "did not find expected key",
    "did not find expected '-' indicator",
    "mapping values are not allowed",
    "expected <block end>",
)


#: ``key: value: more`` -- a plain value that holds ``": "`` (YAML reads a second mapping there).
_COLON_IN_VALUE = re.compile(r"^\s*(?:- )?[^\s:'\"#][^:#]*: +[^\s'\"\[{|>][^#]*: ")


def _quoted_value(line: str) -> str:
    """The line with its value in single quotes, as the admin should write it."""
    key, _, value = line.strip().partition(": ")
    return f"{key}: '{value.strip().replace(chr(39), chr(39) * 2)}'"


def _syntax_hint(problem: str, text: str, mark: Any) -> str:
    """What an admin should do about a YAML syntax error, from the error and the text around it."""
    lines = text.splitlines()
    line = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
    if "unknown escape character" in problem or "expected hexdecimal number" in problem:  # \U, \x, \u want hex
        return (
            "; in double quotes a backslash starts an escape (\\n, \\t, ...): write a Windows path in "
            "single quotes ('C:\\Program Files\\...') or with forward slashes (C:/Program Files/...)"
        )
    if "mapping values are not allowed" in problem and _COLON_IN_VALUE.match(line):
        return f"; a value holding ': ' must be quoted: {_quoted_value(line)}"
    if mark is not None and "\t" in line[: mark.column + 1] and "cannot start any token" in problem:
        return "; a tab: YAML indents with spaces only -- replace the tab with spaces"
    if line.strip() and any(word in problem for word in _INDENTATION):
        return f"; check the indentation of line {mark.line + 1} against the lines above it: {line.strip()!r}"
    return ""


def read_text_file(path: Path, kind: str, save_as: str) -> tuple[str, str]:
    """``(name, text)`` of a UTF-8 file (BOM allowed); FleetError naming the file otherwise."""
    name = os.fspath(path)
    try:
        data = read_regular(path, MAX_FILE_BYTES)[0]
    except FileNotFoundError:
        raise FleetError([Problem(Loc(name), "", "no such file", code="file-missing")]) from None
    except IsADirectoryError:
        raise FleetError([Problem(Loc(name), "", f"is a folder, not a {kind}", code="not-a-file")]) from None
    except NotRegular as exc:
        what = "a folder" if stat.S_ISDIR(exc.mode) else "not a regular file (a FIFO or a device?)"
        raise FleetError([Problem(Loc(name), "", f"is {what}, not a {kind}", code="not-a-file")]) from None
    except TooLarge as exc:
        limit = MAX_FILE_BYTES // (1024 * 1024)
        raise FleetError(
            [
                Problem(
                    Loc(name),
                    "",
                    f"the file is {exc.size} bytes; fleet files are limited to {limit} MiB",
                    code="file-too-large",
                )
            ]
        ) from None
    except OSError as exc:
        raise FleetError(
            [Problem(Loc(name), "", f"cannot read: {exc.strerror or exc}", code="file-unreadable")]
        ) from None
    try:
        return name, data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise FleetError(
            [Problem(Loc(name, line, col), "", f"the file is not UTF-8 text; save it as {save_as}", code="not-utf8")]
        ) from None


def load_file(path: Path) -> Document:
    """Read and parse one YAML file (UTF-8, optionally with BOM)."""
    name, text = read_text_file(path, "YAML file", "UTF-8")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise FleetError(
            [
                Problem(
                    Loc(name, line, 1),
                    "",
                    "the file contains NUL characters (UTF-16?); save it as UTF-8",
                    code="not-utf8",
                )
            ]
        )
    return load_text(text, name)


def pack(line: int, col: int) -> int:
    """A position as the Document tables store it."""
    return line << 24 | col

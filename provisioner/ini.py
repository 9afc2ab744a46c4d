"""MicroSIP's ini format: encode, decode and parse the way Windows reads it.

MicroSIP keeps its ini as UTF-16LE with a BOM and CRLF line endings, and reads it
through the Windows profile API, which trims blanks around keys and values,
matches section and key names case-insensitively, takes the first of duplicated
keys, and strips one pair of matching quotes (``"..."`` or ``'...'``) around a
value. :func:`written_value` is the inverse of that last rule, so every value we
write reads back exactly as the fleet gave it.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

BOM = codecs.BOM_UTF16_LE
#: Windows splits ini lines on CR and LF only (not on form feeds or Unicode separators).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
ENCODING = "utf-16-le"


def written_value(value: str, *, hook: bool = False) -> str:
    """The text to put after ``key=`` so that Windows reads back ``value``.

    Event hooks always get the extra pair of double quotes MicroSIP writes itself.
    Any other value that starts and ends with the same quote character would lose
    them on reading, so it gets an extra pair too.
    """
    if hook and value:
        return f'"{value}"'
    if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
        return f'"{value}"'
    return value


def split_lines(text: str) -> list[str]:
    """Lines as Windows sees them: split on CR, LF or CRLF only."""
    return _LINE_BREAK.split(text)


def read_value(text: str) -> str:
    """What the Windows profile API returns for the text after ``=``."""
    value = text.strip()
    if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
        return value[1:-1]
    return value


def encode(text: str) -> bytes:
    """UTF-16LE with BOM and CRLF line endings, whatever newlines ``text`` has."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    return BOM + lines.replace("\n", "\r\n").encode(ENCODING)


class DecodeError(ValueError):
    """The bytes are not an ini file MicroSIP could read."""


#: The Windows ANSI code page MicroSIP reads a file without a BOM in, unless the fleet names another.
DEFAULT_ANSI = "cp1252"


def decode(data: bytes, ansi: str = DEFAULT_ANSI) -> tuple[str, str]:
    """Decode ini bytes as MicroSIP reads them; return ``(text, encoding)``.

    UTF-16LE with BOM is what MicroSIP writes. A file without a BOM is read by
    Windows' profile API in the machine's ANSI code page (``ansi``; Windows-1252 in
    Western Europe and the Americas) -- UTF-8 text included, which then shows as
    mojibake (see :func:`utf8_as_ansi`). The tool reads it the same way, so what it
    keeps of the file is what MicroSIP sees.
    """
    if data.startswith(BOM):
        body = data[len(BOM) :]
        if len(body) % 2:
            raise DecodeError("truncated UTF-16 text (odd number of bytes)")
        try:
            return body.decode(ENCODING), "utf-16-le"
        except UnicodeDecodeError as exc:
            raise DecodeError(f"invalid UTF-16 text at byte {exc.start + 2}") from None
    if data.startswith(codecs.BOM_UTF8):
        raise DecodeError("UTF-8 with BOM: MicroSIP would lose the [Settings] header on line 1")
    if data.startswith(codecs.BOM_UTF16_BE):
        raise DecodeError("UTF-16 big-endian, which MicroSIP cannot read")
    if b"\x00" in data:
        raise DecodeError("binary data (NUL bytes) in a file without a UTF-16 BOM")
    return data.decode(ansi, errors="replace"), ansi


def utf8_as_ansi(data: bytes, ansi: str = DEFAULT_ANSI) -> str | None:
    """For UTF-8 text without a BOM that MicroSIP would read as mojibake: an example (``'Ã¼' for 'ü'``).

    None when the file has a BOM, is plain ASCII, or is not UTF-8.
    """
    if data.startswith((BOM, codecs.BOM_UTF8)) or data.isascii():
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    first = next(c for c in text if not c.isascii())
    seen = first.encode("utf-8").decode(ansi, errors="replace")
    return f"{seen!r} for {first!r}"


@dataclass
class Entry:
    """One ``key=value`` line."""

    key: str
    value: str
    line: int


@dataclass
class Section:
    """A section and its entries, in file order (duplicates included)."""

    name: str
    line: int
    entries: list[Entry] = field(default_factory=list)

    def values(self) -> dict[str, str]:
        """Key (lower-cased) -> value, first occurrence winning as on Windows."""
        out: dict[str, str] = {}
        for entry in self.entries:
            out.setdefault(entry.key.lower(), entry.value)
        return out


@dataclass
class Parsed:
    """An ini file as Windows sees it, plus what Windows silently ignores."""

    sections: list[Section]
    stray: list[int] = field(default_factory=list)  # lines that are neither sections nor keys

    def section(self, name: str) -> Section | None:
        """The first section called ``name`` (case-insensitive)."""
        lowered = name.lower()
        return next((s for s in self.sections if s.name.lower() == lowered), None)

    def as_dict(self) -> dict[str, dict[str, str]]:
        """Section (lower-cased) -> key (lower-cased) -> value, as Windows reads them.

        The first of duplicated keys wins, and a repeated section is unreachable:
        every lookup stops at the first section of that name.
        """
        out: dict[str, dict[str, str]] = {}
        for section in self.sections:
            out.setdefault(section.name.lower(), section.values())
        return out


def parse(text: str) -> Parsed:
    """Parse ini text with the Windows profile API's rules."""
    sections: list[Section] = []
    stray: list[int] = []
    current: Section | None = None
    for number, raw in enumerate(_LINE_BREAK.split(text), start=1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("["):
            end = line.find("]")
            name = line[1:end] if end != -1 else line[1:]
            current = Section(name.strip(), number)
            sections.append(current)
            continue
        key, sep, rest = line.partition("=")
        if current is None or not key.strip():
            stray.append(number)
            continue
        current.entries.append(Entry(key.strip(), read_value(rest) if sep else "", number))
    return Parsed(sections, stray)


@dataclass
class MergeResult:
    """The merged text and what the merge noticed."""

    text: str
    changed: bool
    notes: list[str] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # seeded keys left as found
    written: list[tuple[str, str]] = field(default_factory=list)  # seeded keys written


def merge(
    old_text: str,
    sections: list[tuple[str, list[tuple[str, str]]]],
    seeded: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
    *,
    parsed: Parsed | None = None,
) -> MergeResult:
    """Set the managed keys in an existing ini text; keep every other line as it was.

    ``sections`` lists the managed sections and ``(key, written value)`` pairs in
    order. Keys are matched case-insensitively in the first section of that name
    (the one Windows reads); a line is rewritten only when the value Windows would
    read differs. ``seeded`` keys (``(section, key)`` lower-cased) are written only
    when missing or empty -- an existing value is kept (passwords MicroSIP has
    encrypted, state MicroSIP rewrites).
    """
    lines = _LINE_BREAK.split(old_text)
    trailing_newline = len(lines) > 1 and lines[-1] == ""
    if trailing_newline:
        lines.pop()
    if lines == [""]:
        lines = []
    if parsed is None:  # the caller may have parsed ``old_text`` already (same lines, same numbers)
        parsed = parse("\n".join(lines))
    notes: list[str] = []
    result = MergeResult("", False, notes)
    seen = _first_sections(parsed, notes)
    inserts: list[tuple[int, list[str]]] = []  # (insert after this 0-based line index, new lines)
    appended: list[str] = []
    prepended: list[str] = []
    for name, entries in sections:
        lowered = name.lower()
        current = seen.get(lowered)
        if current is None:
            block = [f"[{name}]"] + [f"{key}={text}" for key, text in entries]
            result.written.extend((name, key) for key, _ in entries if (lowered, key.lower()) in seeded)
            if lowered == "settings" and parsed.sections:
                prepended += block
            else:
                appended += block
            continue
        new_lines = _merge_section(lines, current, name, entries, seeded, result)
        if new_lines:
            inserts.append((max([current.line] + [e.line for e in current.entries]) - 1, new_lines))
    for index, new_lines in sorted(inserts, reverse=True):
        lines[index + 1 : index + 1] = new_lines
    if inserts or appended or prepended:
        result.changed = True
    lines = prepended + lines + appended
    result.text = "\r\n".join(lines) + ("\r\n" if lines else "")
    return result


def _first_sections(parsed: Parsed, notes: list[str]) -> dict[str, Section]:
    """The first section of each name (lower-cased), the one Windows reads; a note for each repeat."""
    seen: dict[str, Section] = {}
    for section in parsed.sections:
        lowered = section.name.lower()
        if lowered in seen:
            notes.append(
                f"[{section.name}] appears twice (lines {seen[lowered].line} and {section.line}); "
                "Windows reads only the first, which is the one updated"
            )
        else:
            seen[lowered] = section
    return seen


def _merge_section(
    lines: list[str],
    current: Section,
    name: str,
    entries: list[tuple[str, str]],
    seeded: set[tuple[str, str]],
    result: MergeResult,
) -> list[str]:
    """Set ``entries`` in the existing section ``current`` (its lines rewritten in ``lines``); the
    lines of keys it lacks, to insert after its last line."""
    lowered = name.lower()
    first = _first_entries(current, entries, result.notes)
    new_lines: list[str] = []
    for key, text in entries:
        key_lower = key.lower()
        existing = first.get(key_lower)
        is_seeded = (lowered, key_lower) in seeded
        if is_seeded and existing is not None and existing.value != "":
            result.kept.append((name, key))
            continue
        if is_seeded:
            result.written.append((name, key))
        if existing is None:
            new_lines.append(f"{key}={text}")
        elif existing.value != read_value(text):
            lines[existing.line - 1] = f"{key}={text}"
            result.changed = True
    return new_lines


def _first_entries(current: Section, entries: list[tuple[str, str]], notes: list[str]) -> dict[str, Entry]:
    """The first line of each key in the section (the one Windows reads); a note when a managed key repeats."""
    first: dict[str, Entry] = {}
    for entry in current.entries:
        key_lower = entry.key.lower()
        if key_lower in first:
            if any(k.lower() == key_lower for k, _ in entries):
                notes.append(
                    f"[{current.name}] {entry.key} appears twice (lines {first[key_lower].line} and "
                    f"{entry.line}); Windows reads the first, which is the one updated"
                )
            continue
        first[key_lower] = entry
    return first


def restore(old_text: str, values: list[tuple[str, str, str | None]]) -> MergeResult:
    """Put keys back to earlier values: ``(section, key, text)`` sets it, ``text=None`` removes it.

    ``text`` is the value as written after ``=`` (from :func:`raw_values` of a backup),
    so hooks keep their quotes exactly.

    Used by rollback with the values a backup holds; every other line is kept as it
    is (MicroSIP's state written since). Removal takes the key out of the first
    section of that name, which is the one Windows reads.
    """
    lines = _LINE_BREAK.split(old_text)
    removed = False
    drop = {(s.lower(), k.lower()) for s, k, v in values if v is None}
    if drop:
        parsed = parse(old_text)
        seen: set[str] = set()
        doomed: set[int] = set()
        for section in parsed.sections:
            lowered = section.name.lower()
            if lowered in seen:
                continue
            seen.add(lowered)
            first: set[str] = set()
            for entry in section.entries:
                key = entry.key.lower()
                if (lowered, key) in drop and key not in first:
                    doomed.add(entry.line - 1)
                first.add(key)
        if doomed:
            lines = [line for index, line in enumerate(lines) if index not in doomed]
            removed = True
    sections: dict[str, list[tuple[str, str]]] = {}
    for name, key, value in values:
        if value is not None:
            sections.setdefault(name, []).append((key, value))
    merged = merge("\r\n".join(lines), list(sections.items()))
    merged.changed = merged.changed or removed
    return merged


def raw_values(text: str) -> dict[tuple[str, str], str]:
    """``(section, key)`` (lower-cased) -> the text after ``=``, as Windows would find it (first wins)."""
    out: dict[tuple[str, str], str] = {}
    seen: set[str] = set()
    current: str | None = None
    for raw in _LINE_BREAK.split(text):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("["):
            end = line.find("]")
            name = (line[1:end] if end != -1 else line[1:]).strip().lower()
            current = None if name in seen else name
            seen.add(name)
            continue
        key, sep, rest = line.partition("=")
        if current is not None and key.strip():
            out.setdefault((current, key.strip().lower()), rest.strip() if sep else "")
    return out


#: A MicroSIP ini with years of call history is well under this; anything larger is not one.
MAX_INI_BYTES = 4 * 1024 * 1024
#: Control characters no ini text holds (tab, LF, VT, FF and CR excepted).
_BINARY = re.compile("[\x00-\x08\x0e-\x1f\x7f]")


@dataclass
class ReadIni:
    """An ini's bytes decoded and parsed once (plan, merge and conflicts share it)."""

    text: str
    encoding: str
    parsed: Parsed


def read_ini(data: bytes, ansi: str = DEFAULT_ANSI) -> ReadIni | str:
    """The ini decoded (as MicroSIP reads it) and parsed, or why it is not an ini MicroSIP could have left."""
    if len(data) > MAX_INI_BYTES:
        return f"{len(data)} bytes, far larger than any MicroSIP ini"
    try:
        text, encoding = decode(data, ansi)
    except DecodeError as exc:
        return str(exc)
    parsed = parse(text)
    meaningful = sum(1 for line in split_lines(text) if line.strip() and not line.strip().startswith(";"))
    if meaningful and not parsed.sections:
        return "no [section] in it"
    if parsed.stray and len(parsed.stray) > max(3, meaningful // 10):
        return f"{len(parsed.stray)} lines that are neither [sections] nor key=value"
    if _BINARY.search(text):
        return "control characters (binary data)"
    return ReadIni(text, encoding, parsed)


def unreadable_reason(data: bytes) -> str | None:
    """Why ``data`` is not an ini MicroSIP could have left, or None when it is one."""
    found = read_ini(data)
    return found if isinstance(found, str) else None


def encoding_note(data: bytes, encoding: str, ansi: str) -> str | None:
    """What MicroSIP makes of a file without a BOM, or None for its own UTF-16LE."""
    if encoding == "utf-16-le":
        return None
    mojibake = utf8_as_ansi(data, ansi)
    if mojibake:
        return (
            f"the file is UTF-8 without a BOM, which MicroSIP reads in the ANSI code page ({ansi}): it shows "
            f"{mojibake}; its values are kept as MicroSIP reads them, and the fleet's are written correctly"
        )
    return f"converted from {encoding} (no BOM: MicroSIP reads it in the ANSI code page) to UTF-16LE with BOM"

"""The ini codec: Windows reading rules, encodings, quoting."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner import ini


def test_encode_is_utf16le_bom_crlf() -> None:
    assert ini.encode("[Settings]\nx=é\n") == codecs.BOM_UTF16_LE + "[Settings]\r\nx=é\r\n".encode("utf-16-le")
    assert ini.encode("a\r\nb\rc") == codecs.BOM_UTF16_LE + "a\r\nb\r\nc".encode("utf-16-le")


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        (codecs.BOM_UTF16_LE + "[S]\r\nk=ü".encode("utf-16-le"), "[S]\r\nk=ü", "utf-16-le"),
        ("[S]\nk=ü".encode(), "[S]\nk=Ã¼", "cp1252"),  # UTF-8 without BOM: MicroSIP's mojibake
        ("[S]\nk=ü".encode("cp1252"), "[S]\nk=ü", "cp1252"),
    ],
)
def test_decode_what_microsip_and_people_leave(data: bytes, text: str, encoding: str) -> None:
    assert ini.decode(data) == (text, encoding)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (codecs.BOM_UTF16_LE + b"[\x00S", "truncated UTF-16"),
        (codecs.BOM_UTF8 + b"[Settings]", "UTF-8 with BOM"),
        (b"\x00\x01\x02junk", "binary data"),
    ],
)
def test_decode_refuses_garbage(data: bytes, reason: str) -> None:
    with pytest.raises(ini.DecodeError, match=reason):
        ini.decode(data)


def test_parse_follows_windows_rules() -> None:
    parsed = ini.parse("; c\n[Settings]\n  Key = \"quoted\" \nkey=second\n[settings]\nOther='x'\nstray\n")
    assert parsed.as_dict() == {"settings": {"key": "quoted"}}  # the second [settings] is unreachable
    assert [[e.key for e in s.entries] for s in parsed.sections] == [["Key", "key"], ["Other", "stray"]]
    assert ini.parse("orphan=1\n").stray == [1]


@given(st.text(alphabet=st.characters(exclude_characters="\r\n\x00", exclude_categories=["Cs"])))
def test_written_value_reads_back(value: str) -> None:
    value = value.strip()
    assert ini.read_value(ini.written_value(value)) == value
    assert ini.read_value(ini.written_value(value, hook=True)) == value


keys = st.sampled_from(["alpha", "Beta", "gamma"])
values = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\x00"), max_size=12).filter(
    lambda v: v == v.strip()
)
managed_sections = st.lists(
    st.tuples(st.sampled_from(["Settings", "Account1"]), st.dictionaries(keys, values, max_size=3)),
    max_size=2,
    unique_by=lambda s: s[0],
)
existing = st.lists(st.sampled_from(["[Settings]", "[account1]", "alpha=old", "BETA=x", "other=kept", "; note", ""]))


@given(existing, managed_sections)
def test_merge_reads_back_what_it_wrote_and_is_idempotent(
    lines: list[str], sections: list[tuple[str, dict[str, str]]]
) -> None:
    """After a merge, Windows' reader finds every managed value; merging the result again changes nothing."""
    managed = [(name, [(k, ini.written_value(v)) for k, v in entries.items()]) for name, entries in sections]
    first = ini.merge("\r\n".join(lines), managed)
    found = ini.parse(first.text).as_dict()
    for name, entries in sections:
        for key, value in entries.items():
            assert found[name.lower()][key.lower()] == value
    second = ini.merge(first.text, managed)
    assert not second.changed and second.text == first.text
    kept = [line for line in lines if line == "other=kept"]
    assert first.text.count("other=kept") >= len(kept) > 0 or not kept  # the user's own keys stay

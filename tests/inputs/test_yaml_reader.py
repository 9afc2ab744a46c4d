"""YAML loading: locations, numbers that keep their spelling, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.errors import FleetError, Loc
from provisioner.inputs.yaml_reader import MAX_DEPTH, load_file, load_text, raw_text


def test_every_value_and_key_has_a_location() -> None:
    doc = load_text("a:\n  b: [1, x]\n  'C': {d: true}\n", "f.yaml")
    assert doc.locate(("a", "b", 1)) == Loc("f.yaml", 2, 10)
    assert doc.locate(("a", "C", "d")) == Loc("f.yaml", 3, 12)
    assert doc.locate(("a", "C"), key=True) == Loc("f.yaml", 3, 3)


def test_locate_matches_keys_case_insensitively_and_falls_back_to_parent() -> None:
    doc = load_text("settings:\n  AutoAnswer: all\n", "f.yaml")
    assert doc.locate(("settings", "autoAnswer")) == Loc("f.yaml", 2, 15)
    assert doc.locate(("settings", "missing")) == Loc("f.yaml", 2, 3)


def test_numbers_keep_their_spelling() -> None:
    doc = load_text("u: 007\nv: 3.20\nw: 0x1F\n", "f.yaml")
    assert doc.data["u"] == 7 and raw_text(doc.data["u"]) == "007"
    assert raw_text(doc.data["v"]) == "3.20"
    assert raw_text(doc.data["w"]) == "0x1F"


def test_aliases_are_expanded_within_limits() -> None:
    doc = load_text("a: &x {k: 1}\nb: *x\n", "f.yaml")
    assert doc.data["b"] == {"k": 1}


def test_self_referencing_alias_is_refused() -> None:
    with pytest.raises(FleetError) as info:
        load_text("a: &x [1, *x]\n", "f.yaml")
    assert "refers to itself" in str(info.value)


def test_custom_tags_are_refused() -> None:
    with pytest.raises(FleetError) as info:
        load_text("a: !include other.yaml\n", "f.yaml")
    assert str(info.value) == (
        "f.yaml:1:4: unsupported YAML tag '!include'; fleet files use plain values (use `include:` to split a fleet)"
    )


def test_deep_nesting_is_refused() -> None:
    text = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    with pytest.raises(FleetError) as info:
        load_text(text, "f.yaml")
    assert "levels deep" in str(info.value)


def test_very_deep_nesting_fails_fast_in_the_parser() -> None:
    text = "a: " + "[" * 100_000 + "]" * 100_000 + "\n"
    with pytest.raises(FleetError) as info:
        load_text(text, "f.yaml")
    assert str(info.value).startswith("f.yaml:")


def test_file_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert load_file(path).data == {"a": 1}


def test_utf16_file_is_refused_with_a_fix(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes("a: 1\n".encode("utf-16-le"))
    with pytest.raises(FleetError) as info:
        load_file(path)
    assert "save it as UTF-8" in str(info.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(FleetError) as info:
        load_file(tmp_path / "nope.yaml")
    assert str(info.value).endswith("nope.yaml: no such file")
    with pytest.raises(FleetError) as info:
        load_file(tmp_path)
    assert "is a folder" in str(info.value)


def test_duplicate_keys_are_all_reported() -> None:
    with pytest.raises(FleetError) as info:
        load_text("a: 1\nb: 2\na: 3\nb: 4\n", "f.yaml")
    assert str(info.value).splitlines() == [
        "f.yaml:3:1: duplicate key 'a' (first defined on line 1); remove one of them",
        "f.yaml:4:1: duplicate key 'b' (first defined on line 2); remove one of them",
    ]


def test_positions_are_built_only_when_a_message_needs_one(tmp_path: Path) -> None:
    """A clean fleet never holds its position tables; the first lookup builds them, exactly."""
    from provisioner.fleet import load_fleet

    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(
        "version: 1\nname: t\nseats:\n  - id: ana\n    accounts: [{username: '1', domain: d}]\n", encoding="utf-8"
    )
    fleet = load_fleet(fleet_file)
    (doc,) = fleet.documents
    assert doc.value_locs == {} and doc.key_locs == {} and doc.source is not None
    where = fleet.seat("ana").loc(("accounts", 0, "domain"))
    assert (where.line, where.col) == (5, 40)
    assert doc.source is None and doc.value_locs  # built once, kept


def test_includes_and_seat_files_do_not_build_positions_either() -> None:
    """The example fleet has includes and a CSV phonebook; loading it cleanly builds no YAML position table."""
    from provisioner.fleet import load_fleet
    from tests.conftest import EXAMPLE

    fleet = load_fleet(EXAMPLE)
    assert len(fleet.documents) > 1
    assert all(doc.source is not None and not doc.key_locs for doc in fleet.documents if doc.path.endswith(".yaml"))


def test_aliases_expand_at_their_own_path_and_count_against_the_limit() -> None:
    doc = load_text("base: &b {k: 1, l: [a, b]}\none: *b\ntwo: *b\n", "f.yaml")
    assert doc.data == {"base": {"k": 1, "l": ["a", "b"]}, "one": {"k": 1, "l": ["a", "b"]}, "two": doc.data["one"]}
    doc.data["one"]["k"] = 2
    assert doc.data["two"]["k"] == 1  # each alias is its own copy
    assert doc.locate(("two", "l", 1)) == Loc("f.yaml", 1, 24)  # where the value was written
    layers = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 7))
    with pytest.raises(FleetError) as info:
        load_text("l0: &l0 x\n" + layers, "f.yaml")
    assert "more than 100000 values through YAML aliases" in str(info.value)


def test_an_alias_may_stand_for_a_key() -> None:
    doc = load_text("names: [&k server]\nsettings: {*k : pbx}\n", "f.yaml")
    assert doc.data["settings"] == {"server": "pbx"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &x 1\nb: &x 2\n", "f.yaml:2:4: YAML syntax error: second occurrence"),
        ("a: *nowhere\n", "f.yaml:1:4: YAML syntax error: found undefined alias"),
        ("a: 1\n---\nb: 2\n", "f.yaml:2:1: YAML syntax error: but found another document"),
        ("? [a, b]\n: 1\n", "f.yaml:1:3: a mapping key must be plain text"),
        (
            "a: 1\n<<: {b: 2}\n",
            "f.yaml:2:1: YAML merge keys (`<<`) are not supported; share values with `profiles` and `extends` instead",
        ),
        ("# only a comment\n", "f.yaml:1:1: the file is empty; see `provisioner init`"),
    ],
)
def test_what_the_parser_refuses_is_named_where_it_stands(text: str, message: str) -> None:
    with pytest.raises(FleetError) as info:
        load_text(text, "f.yaml")
    assert str(info.value) == message


def test_a_duplicate_key_keeps_the_first_value_and_its_position() -> None:
    with pytest.raises(FleetError) as info:
        load_text("a: {k: 1}\nb: 2\na: {k: 3, m: [x]}\n", "f.yaml")
    assert str(info.value) == "f.yaml:3:1: duplicate key 'a' (first defined on line 1); remove one of them"

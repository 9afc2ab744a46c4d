"""Merging: associativity, null removal, provenance, profile order, target switch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from provisioner.fleet import Provenance, load_fleet
from provisioner.fleet.merging import finalize, merge_layers, overlay
from tests.conftest import BuildTree

keys = st.sampled_from(["a", "b", "c", "d"])
scalars = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from(["x", "y"]), st.lists(st.integers(0, 2), max_size=2))
layers: st.SearchStrategy[dict[str, Any]] = st.recursive(
    st.dictionaries(keys, scalars, max_size=4),
    lambda children: st.dictionaries(keys, st.one_of(scalars, children), max_size=4),
    max_leaves=12,
)


def tagged(value: Any) -> Any:
    """Equality that also sees the Replace marker (a dict subclass)."""
    if isinstance(value, dict):
        return (type(value).__name__, {k: tagged(v) for k, v in value.items()})
    return value


@given(layers, layers, layers)
def test_overlay_is_associative(a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]) -> None:
    assert tagged(overlay(overlay(a, b), c)) == tagged(overlay(a, overlay(b, c)))


@given(layers, layers, layers, layers)
def test_final_result_does_not_depend_on_grouping(
    a: dict[str, Any], b: dict[str, Any], c: dict[str, Any], d: dict[str, Any]
) -> None:
    left = overlay(overlay(overlay(a, b), c), d)
    right = overlay(a, overlay(b, overlay(c, d)))
    assert finalize(left) == finalize(right)


def test_mapping_after_removal_does_not_bring_back_old_keys() -> None:
    removed_then_set = overlay(overlay({"d": {"x": 1}}, {"d": None}), {"d": {"y": 2}})
    assert finalize(removed_then_set) == {"d": {"y": 2}}
    assert finalize(overlay({"d": {"x": 1}}, overlay({"d": None}, {"d": {"y": 2}}))) == {"d": {"y": 2}}


@given(layers, layers)
def test_top_wins_for_scalars_and_null_removes(a: dict[str, Any], b: dict[str, Any]) -> None:
    merged = finalize(overlay(a, b))
    for key, value in b.items():
        if value is None:
            assert key not in merged
        elif not isinstance(value, dict):
            assert merged[key] == finalize(value)


@given(layers)
def test_overlay_with_empty_is_identity(a: dict[str, Any]) -> None:
    assert overlay({}, a) == a
    assert overlay(a, {}) == a


@given(layers, layers)
def test_fold_matches_overlay(a: dict[str, Any], b: dict[str, Any]) -> None:
    merged, _ = merge_layers([(a, "A"), (b, "B")])
    assert merged == overlay(a, b)


targets = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["appdata", "portable"])}, optional={"root": st.sampled_from(["r", "s"])}
    ),
)


@given(st.lists(st.tuples(layers, targets), min_size=1, max_size=5), st.integers(0, 5))
def test_folding_onto_a_shared_start_matches_one_fold(parts: list[tuple[dict[str, Any], Any]], cut: int) -> None:
    """Seats sharing profiles merge them once (``start``); the result and provenance must not change."""
    named = [({**data, "target": target} if target else data, f"L{i}") for i, (data, target) in enumerate(parts)]
    cut = min(cut, len(named))
    start = merge_layers(named[:cut])
    snapshot = (tagged(start[0]), dict(start[1]))
    assert tuple(map(tagged, merge_layers(named[cut:], start))) == tuple(map(tagged, merge_layers(named)))
    assert (tagged(start[0]), start[1]) == snapshot  # the shared start is never changed


paths = st.lists(st.sampled_from(["a", "b", "c", "d", "target", "type", "root"]), min_size=1, max_size=3).map(tuple)


@given(st.lists(st.tuples(layers, targets), min_size=1, max_size=5), st.integers(0, 5), st.lists(paths, max_size=6))
def test_provenance_asked_later_names_the_origin_one_fold_records(
    parts: list[tuple[dict[str, Any], Any]], cut: int, asked: list[tuple[str, ...]]
) -> None:
    """A seat's origins are worked out only when asked (:class:`Provenance`), and must be the ones a fold records."""
    named: list[tuple[dict[str, Any], Any]] = [
        ({**data, "target": target} if target else data, ("layer", (str(i),))) for i, (data, target) in enumerate(parts)
    ]
    cut = min(cut, len(named))
    start = merge_layers(named[:cut])
    merged, none = merge_layers(named[cut:], start, provenance=False)
    full_merged, full = merge_layers(named)
    assert tagged(merged) == tagged(full_merged) and none == {}
    own = tuple(data for data, _ in named[cut:])
    offsets = tuple(origin[1] for _, origin in named[cut:])

    def later() -> Provenance:
        return Provenance(start, "layer", own, offsets)  # type: ignore[arg-type]  # a name stands for the layer

    for path in [*asked, *full, *start[1]]:  # each asked first: most are answered by the shared start alone
        assert later().get(path) == full.get(path), path
    assert later().all() == full


def test_provenance_names_the_layer_that_set_each_value() -> None:
    merged, origins = merge_layers(
        [
            ({"settings": {"x": 1, "y": 2}, "list": [1]}, "defaults"),
            ({"settings": {"y": 3}, "list": [2]}, "profile"),
            ({"settings": {"x": None}}, "seat"),
        ]
    )
    assert finalize(merged) == {"settings": {"y": 3}, "list": [2]}
    assert origins[("settings", "y")] == "profile"
    assert origins[("settings", "x")] == "seat"
    assert origins[("list",)] == "profile"


def test_target_of_another_type_replaces_the_inherited_one() -> None:
    merged, origins = merge_layers(
        [
            ({"target": {"type": "appdata", "root": "C:/Users"}}, "defaults"),
            ({"target": {"type": "portable", "path": "usb"}}, "seat"),
        ]
    )
    assert merged["target"] == {"type": "portable", "path": "usb"}
    assert ("target", "root") not in origins


def test_target_of_the_same_type_merges_key_by_key() -> None:
    merged, _ = merge_layers(
        [
            ({"target": {"type": "appdata", "root": "C:/Users"}}, "defaults"),
            ({"target": {"user": "bob"}}, "seat"),
        ]
    )
    assert merged["target"] == {"type": "appdata", "root": "C:/Users", "user": "bob"}


FLEET = """\
version: 1
name: t
defaults:
  settings: {autoAnswer: button, volumeRing: 10}
  account: {domain: example.com, transport: tcp}
profiles:
  base: {settings: {volumeRing: 20, localDTMF: false}}
  agent: {extends: [base], settings: {volumeRing: 30, autoAnswer: header}}
  night: {extends: [base], settings: {volumeRing: 40}}
seats:
  - id: s1
    profiles: [agent, night]
    settings: {autoAnswer: null}
    account: {transport: null}
    accounts:
      - {username: "1"}
      - {username: "2", transport: tls}
"""


def test_profiles_apply_parents_first_each_once_and_seat_last(build_tree: BuildTree) -> None:
    build_tree({"fleet.yaml": FLEET})
    seat = load_fleet(Path("fleet.yaml")).seat("s1")
    # defaults 10 -> base 20 -> agent 30 -> night 40 (base is not applied again)
    assert seat.settings == {"volumeRing": 40, "localDTMF": False}
    assert seat.loc(("settings", "volumeRing")).line == 9
    assert seat.loc(("settings", "localDTMF")).line == 7
    assert seat.accounts == [
        {"domain": "example.com", "username": "1"},
        {"domain": "example.com", "username": "2", "transport": "tls"},
    ]
    assert seat.account_loc(0, "domain").line == 5
    assert seat.account_loc(1, "transport").line == 17

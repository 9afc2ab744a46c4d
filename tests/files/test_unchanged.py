"""Whether a seat needs judging at all: its manifest against the files found now (no CLI, no disk)."""

from __future__ import annotations

from typing import Any

from provisioner.files.unchanged import unchanged_since
from provisioner.state import MANIFEST_VERSION, bytes_hash

INI, LNK = b"\xff\xfe[\x00S\x00]\x00", b"L\x00\x00\x00 shortcut"
SPOT = {"root": "/srv/users", "parts": ["kim", "AppData", "Roaming", "MicroSIP"], "home": 1, "name": "microsip.ini"}


def manifest(**changes: Any) -> dict[str, Any]:
    """A seat's manifest as the last run left it: made from ``inputs-1``, both files as found."""
    return {
        "manifest": MANIFEST_VERSION,
        "inputs": "inputs-1",
        "files": {
            "microsip.ini": {"seen": bytes_hash(INI), "spot": SPOT},
            "MicroSIP.lnk": {"seen": bytes_hash(LNK), "spot": SPOT},
        },
        **changes,
    }


def test_the_same_inputs_and_the_same_bytes_need_no_judging() -> None:
    assert unchanged_since(manifest(), "inputs-1", {"microsip.ini": INI, "MicroSIP.lnk": LNK})


def test_anything_else_is_judged_afresh() -> None:
    found = {"microsip.ini": INI, "MicroSIP.lnk": LNK}
    assert not unchanged_since(manifest(), "inputs-2", found)  # the fleet, a template or the tool changed
    assert not unchanged_since(manifest(), None, found)  # a run that records no digest
    assert not unchanged_since(manifest(), "inputs-1", {**found, "microsip.ini": INI + b"\x00"})  # MicroSIP wrote
    assert not unchanged_since(manifest(), "inputs-1", {**found, "MicroSIP.lnk": None})  # deleted
    assert not unchanged_since(manifest(), "inputs-1", {"microsip.ini": INI})  # a launcher fewer
    assert not unchanged_since(manifest(manifest=MANIFEST_VERSION + 1), "inputs-1", found)  # another format
    assert not unchanged_since(manifest(files=["not", "a", "mapping"]), "inputs-1", found)  # read, not trusted
    assert not unchanged_since(manifest(files={"microsip.ini": "x", "MicroSIP.lnk": "y"}), "inputs-1", found)
    unplaced = {name: {"seen": bytes_hash(data)} for name, data in found.items()}  # written before spots were
    assert not unchanged_since(manifest(files=unplaced), "inputs-1", found)

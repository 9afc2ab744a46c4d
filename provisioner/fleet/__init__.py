"""The fleet as a whole: files -> validated layers -> effective seats.

This is the load -> merge -> validate part of the pipeline. It reads the fleet
file and its includes (:mod:`.sources`) and CSV seat files (:mod:`.seat_files`),
validates every layer -- defaults, each profile, each seat -- on its own so that
all problems are found in one pass and each is reported where it was written
(:mod:`.diagnostics`), turns each into plain data (:mod:`.layers`), merges each
seat's layers with provenance and checks the rules only the merged seat can
answer (:mod:`.effective`). :mod:`.loader` drives it; :mod:`.seat` holds what
comes out.
"""

from provisioner.fleet.loader import load_fleet
from provisioner.fleet.seat import (
    Fleet,
    KeyedValues,
    LayerSource,
    Origin,
    Provenance,
    Seat,
    ini_key,
    origin_loc,
    seat_loc,
)
from provisioner.inputs.yaml_reader import format_path

__all__ = [
    "Fleet",
    "KeyedValues",
    "LayerSource",
    "Origin",
    "Provenance",
    "Seat",
    "format_path",
    "ini_key",
    "load_fleet",
    "origin_loc",
    "seat_loc",
]

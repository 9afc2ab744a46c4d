"""Whole numbers read from text people typed: a CSV cell, an ini, a command line, a launcher's arguments.

Python refuses to convert a string of more than 4,300 digits (and every digit costs
time), and MicroSIP reads 32-bit numbers. So text is a whole number here only when it
is plain ASCII digits, perhaps signed, and no longer than any number MicroSIP reads;
anything else is not one, and the caller says so, never an exception.
"""

from __future__ import annotations

import re

#: More digits than any value MicroSIP reads (a 64-bit number has 20).
MAX_DIGITS = 20

_WHOLE = re.compile(rf"[-+]?[0-9]{{1,{MAX_DIGITS}}}")


def whole(text: str) -> int | None:
    """``text`` as a whole number, or None when it is not one (or is longer than :data:`MAX_DIGITS` digits)."""
    return int(text) if _WHOLE.fullmatch(text) else None

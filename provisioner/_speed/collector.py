"""Keeping the cyclic garbage collector off what a command builds to keep.

A fleet's data is millions of small objects that form no reference cycles and
live until the command ends. The collector would scan them again and again for
cycles they do not have; reference counting frees whatever is dropped.

Only the command line does this (:func:`tune`, at its entry): a program that uses the
library keeps its collector as it set it, and these context managers do nothing there.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_TUNED: list[None] = []  # one entry once the command line's entry called tune()


def tune() -> None:
    """Let this process's collector be kept off the fleet's data: the command line's entry only."""
    if not _TUNED:
        _TUNED.append(None)


@contextmanager
def bulk_allocation() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large acyclic structures.

    Loading a 10,000-seat fleet allocates millions of small objects; the collector
    would scan them over and over (it halves the run time to pause it). Nothing
    built here forms reference cycles, so reference counting frees it all.
    """
    if not _TUNED:
        yield
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _LONG_LIVED:
            # Kept until the command ends anyway (:func:`long_lived`): out of the collector's
            # way now, before its first pass on resuming scans everything just built (a
            # quarter of a second at 10,000 seats, five times that at 50,000).
            gc.freeze()
        if was_enabled:
            gc.enable()


_LONG_LIVED: list[None] = []  # one entry per :func:`long_lived` now running


@contextmanager
def long_lived() -> Iterator[Callable[[], None]]:
    """Keep the cyclic garbage collector off what is already built, for a long per-seat loop.

    The loaded and rendered fleet lives until the command ends; with it in the
    collector's oldest generation, every full collection scans all of it again, so a
    loop over 50,000 seats would cost more than five times one over 10,000.
    ``gc.freeze`` moves it out of the collector's way (reference counting still frees
    what is dropped). The function yielded does it again, for what was built since
    (the fleet once loaded, its seats once rendered), and so does the end of each
    :func:`bulk_allocation` inside it.
    """
    if not _TUNED:
        yield _nothing
        return
    gc.freeze()
    _LONG_LIVED.append(None)
    try:
        yield gc.freeze
    finally:
        _LONG_LIVED.pop()
        gc.unfreeze()


def _nothing() -> None:
    """What :func:`long_lived` yields where the collector is the host program's."""

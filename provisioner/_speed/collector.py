"""Keeping the cyclic garbage collector off what a command builds to keep.

A fleet's data is millions of small objects that form no reference cycles and live
until the command ends. The collector would scan them again and again for cycles they
do not have; reference counting frees whatever is dropped. Only the command line's
runner does this, for its own process: a program that uses the library keeps its
collector as it set it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Collector:
    """The collector paused while bulk data is built, and what lasts frozen out of its way."""

    def __init__(self) -> None:
        self._lasting = 0  # how many lasting() blocks are running

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """Pause the cyclic garbage collector while building large acyclic structures.

        Loading a large fleet allocates millions of small objects, which the collector
        would scan over and over. Nothing built here forms reference cycles, so reference
        counting frees it all.
        """
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            if self._lasting:
                # Kept until the command ends anyway (lasting): out of the collector's way
                # now, before its first pass on resuming scans everything just built.
                gc.freeze()
            if was_enabled:
                gc.enable()

    @contextmanager
    def lasting(self) -> Iterator[Callable[[], None]]:
        """Keep the cyclic garbage collector off what is already built, for a long per-seat loop.

        The loaded and rendered fleet lives until the command ends; with it in the
        collector's oldest generation, every full collection scans all of it again, so a
        long loop would grow faster than the fleet.
        ``gc.freeze`` moves it out of the collector's way (reference counting still frees
        what is dropped). The function yielded does it again, for what was built since,
        and so does the end of each :meth:`bulk` inside it.
        """
        gc.freeze()
        self._lasting += 1
        try:
            yield gc.freeze
        finally:
            self._lasting -= 1
            gc.unfreeze()

"""How the per-seat stages run: the one seam between the core and speed.

The core hands its per-seat work to the runner in force (:func:`current`): it maps a
stage over seats, marks what it builds in bulk and what lives until the command ends,
keeps rendered files until their turn, and may open folders below a target root in one
call. :class:`Serial`, the default, does each plainly, in this process, and leaves the
host program's garbage collector as it found it. The command line puts its own faster
runner in force for the command it runs (:func:`using`); a program that uses the
library gets :class:`Serial` unless it chooses otherwise.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from provisioner.render.files import RenderedFile

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class Keeper(Protocol):
    """Keeps seats' rendered files until they are written."""

    def keep(self, files: tuple[RenderedFile, ...]) -> object:
        """What to hold instead of ``files`` (:meth:`files` gives them back)."""
        ...

    def files(self, kept: object) -> tuple[RenderedFile, ...]:
        """The files :meth:`keep` was given."""
        ...


class Runner(Protocol):
    """How per-seat work runs."""

    def map(self, items: Sequence[Item], work: Callable[[Sequence[Item]], list[Answer]]) -> list[Answer]:
        """``work(items)``: one answer per item, in order.

        ``work`` must only read; its answers are plain values (text, numbers, bytes,
        tuples, lists), so that a runner may work some items out elsewhere.
        """
        ...

    def bulk(self) -> AbstractContextManager[None]:
        """Around building many small objects that form no reference cycles (a fleet, its seats)."""
        ...

    def lasting(self) -> AbstractContextManager[Callable[[], None]]:
        """Around a command whose data lives until it ends; what it yields is called once more
        has been built that lives as long."""
        ...

    def keeper(self, like: tuple[RenderedFile, ...]) -> Keeper:
        """A keeper for seats' files, which look like ``like`` (the first seat's)."""
        ...

    def open_folders(self, fd: int, parts: tuple[str, ...]) -> int | None:
        """A descriptor on the folder ``parts`` below ``fd``, opened in one call refusing every link,
        or None: walk it one folder at a time instead.

        FileNotFoundError when a folder on the way does not exist (every one before it was
        a real folder).
        """
        ...


class _AsTheyAre:
    """Keeps files as they are."""

    def keep(self, files: tuple[RenderedFile, ...]) -> object:
        return files

    def files(self, kept: object) -> tuple[RenderedFile, ...]:
        assert isinstance(kept, tuple)
        return kept


class Serial:
    """Everything in this process, plainly: the host program's state as it was."""

    def map(self, items: Sequence[Item], work: Callable[[Sequence[Item]], list[Answer]]) -> list[Answer]:
        return work(items)

    def bulk(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def lasting(self) -> Iterator[Callable[[], None]]:
        yield _nothing

    def keeper(self, like: tuple[RenderedFile, ...]) -> Keeper:
        return _AsTheyAre()

    def open_folders(self, fd: int, parts: tuple[str, ...]) -> int | None:
        return None


def _nothing() -> None:
    """Nothing to do."""


_SERIAL = Serial()
_CURRENT: contextvars.ContextVar[Runner | None] = contextvars.ContextVar("provisioner_runner", default=None)


def current() -> Runner:
    """The runner in force: :class:`Serial` unless :func:`using` put another in force."""
    return _CURRENT.get() or _SERIAL


@contextlib.contextmanager
def using(runner: Runner) -> Iterator[Runner]:
    """Put ``runner`` in force until the block ends."""
    token = _CURRENT.set(runner)
    try:
        yield runner
    finally:
        _CURRENT.reset(token)

"""The command line's runner: two cores, the collector kept off the fleet, files packed, openat2.

Private: the core never imports it. The command line puts :class:`Fast` in force for
the command it runs (:func:`provisioner.runner.using`); the benchmarks do the same.
Each aid gives the answer :class:`provisioner.runner.Serial` gives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, TypeVar

from provisioner._speed.collector import Collector
from provisioner._speed.cores import SHARED_FROM, TwoCores
from provisioner._speed.openat2 import Openat2
from provisioner.runner import Keeper

if TYPE_CHECKING:
    from provisioner.render.files import RenderedFile

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class Fast:
    """A :class:`provisioner.runner.Runner` for the tool's own process."""

    def __init__(self, *, shared_from: int = SHARED_FROM, cores: int | None = None) -> None:
        self._cores = TwoCores(shared_from=shared_from, cores=cores)
        self._collector = Collector()
        self._openat2 = Openat2()

    def map(self, items: Sequence[Item], work: Callable[[Sequence[Item]], list[Answer]]) -> list[Answer]:
        return self._cores.map(items, work)

    def bulk(self) -> AbstractContextManager[None]:
        return self._collector.bulk()

    def lasting(self) -> AbstractContextManager[Callable[[], None]]:
        return self._collector.lasting()

    def keeper(self, like: tuple[RenderedFile, ...]) -> Keeper:
        from provisioner._speed.packing import Packer  # loaded by the commands that deploy

        return Packer(like)

    def open_folders(self, fd: int, parts: tuple[str, ...]) -> int | None:
        return self._openat2.folder(fd, parts)

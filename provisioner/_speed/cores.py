"""Independent per-seat work shared with a second core: a forked child takes half the seats.

Only work that reads is ever shared: the child writes nothing but its answer, marshalled,
to a pipe, and leaves with ``os._exit`` (no clean-up handler of the parent's runs twice).
Whatever goes wrong in the child -- an exception, a crash, an answer that does not load --
the parent does that half itself, so the outcome is the same as on one core. On Windows,
with one core, with threads running (forking them is unsafe) or for a small fleet,
everything runs in this process.
"""

from __future__ import annotations

import contextlib
import ctypes
import marshal
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")

_PR_SET_PDEATHSIG = 1

#: Below this many items the work stays on one core: forking costs more than it saves.
SHARED_FROM = 1000


def cores() -> int:
    """How many cores this process may use: ``PROVISIONER_CORES`` when set (1 keeps everything in
    this process), else how many it may run on."""
    chosen = os.environ.get("PROVISIONER_CORES", "").strip()
    if chosen.isdigit():
        return int(chosen)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


def _die_with(parent: int) -> None:  # pragma: no cover - runs in the child
    """Have the kernel end this helper if the tool is killed (Linux): no orphan goes on reading."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # killed before that took hold
        os._exit(1)


class TwoCores:
    """Maps work over items, the second half in a forked child when that pays.

    ``shared_from`` is how many items make a fork worth it; ``cores`` how many this
    process may use (:func:`cores` when not given).
    """

    def __init__(self, *, shared_from: int = SHARED_FROM, cores: int | None = None) -> None:
        self.shared_from = shared_from
        self.cores = cores

    def _may_fork(self) -> bool:
        if not hasattr(os, "fork") or sys.platform == "win32":
            return False
        return threading.active_count() == 1 and (self.cores if self.cores is not None else cores()) >= 2

    def map(self, items: Sequence[Item], work: Callable[[Sequence[Item]], list[Answer]]) -> list[Answer]:
        """``work(items)``, with the second half done in a forked child when that pays.

        ``work`` must only read, and return one plain value (what :mod:`marshal` takes) per
        item, in order.
        """
        if len(items) < self.shared_from or not self._may_fork():
            return work(items)
        half = len(items) // 2
        parent = os.getpid()
        reading, writing = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which coverage does not follow
            code = 1
            try:
                _die_with(parent)
                os.close(reading)
                answer = marshal.dumps(work(items[half:]))
                with os.fdopen(writing, "wb") as pipe:
                    pipe.write(answer)
                code = 0
            finally:
                os._exit(code)
        os.close(writing)
        with os.fdopen(reading, "rb") as pipe:
            try:
                mine = work(items[:half])
                answer = pipe.read()
                _, status = os.waitpid(pid, 0)
                pid = 0
            finally:
                if pid:  # interrupted: the child is not needed any more
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                        os.waitpid(pid, 0)
        theirs = _loaded(answer) if status == 0 else None
        if not isinstance(theirs, list) or len(theirs) != len(items) - half:
            theirs = work(items[half:])  # the child failed: do its half here
        return [*mine, *theirs]


def _loaded(answer: bytes) -> object:
    """The child's answer, or None when it does not load."""
    try:
        return marshal.loads(answer)
    except (EOFError, ValueError, TypeError):
        return None

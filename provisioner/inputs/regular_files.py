"""The admin's own input files (fleet files, CSV tables, secret files), read as files.

Each is opened without blocking, so a FIFO is refused instead of waited on; it must
be a regular file on the open descriptor; and it is read within a limit, checked
before a byte is read. Callers turn the exceptions into their own messages.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


class NotRegular(OSError):
    """The path is a folder, a FIFO, a device or a socket (``mode`` says which)."""

    def __init__(self, mode: int) -> None:
        super().__init__("not a regular file")
        self.mode = mode


class TooLarge(OSError):
    """The file is larger than the limit (``size`` bytes)."""

    def __init__(self, size: int) -> None:
        super().__init__("too large")
        self.size = size


def read_regular(path: Path, limit: int) -> tuple[bytes, os.stat_result]:
    """The file's bytes and status. Raises what ``os.open`` raises, :class:`NotRegular` or :class:`TooLarge`."""
    fd = os.open(path, _FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(st.st_mode)
        if st.st_size > limit:
            raise TooLarge(st.st_size)
        with os.fdopen(os.dup(fd), "rb") as file:
            return file.read(limit + 1), st
    finally:
        os.close(fd)

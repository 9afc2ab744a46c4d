"""Folders several levels below a descriptor opened in one ``openat2`` call (Linux)."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import sys
from typing import Any

from provisioner.targetfs.safefs import CLOEXEC, DIRECTORY


class _OpenHow(ctypes.Structure):
    """Linux's ``struct open_how`` (openat2)."""

    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


#: openat2's system call number, the same on these architectures (not on alpha, say), and its
#: RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH.
_SYS_OPENAT2 = 437
_SAME_NUMBER = {"x86_64", "amd64", "aarch64", "arm64", "i386", "i686", "armv7l", "riscv64", "ppc64le", "s390x"}
_RESOLVE_SAFELY = 0x02 | 0x04 | 0x08


class Openat2:
    """Open a folder several levels below a descriptor in one system call, refusing every link.

    ``openat2`` with ``RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH`` walks the whole relative
    path in the kernel and fails on any link, on any component that is not a folder and
    on any way out of the starting folder: the same promise as opening one component at
    a time with ``O_NOFOLLOW``, in one call instead of one per folder. It only ever
    *finds* folders: when it fails for any reason (a folder missing, a link, a kernel
    without it), the caller walks component by component, which says exactly what is
    wrong. Linux only; elsewhere it is never used.
    """

    def __init__(self) -> None:
        self._call: Any = None
        if sys.platform.startswith("linux") and platform.machine().lower() in _SAME_NUMBER:
            with contextlib.suppress(OSError, AttributeError):
                libc = ctypes.CDLL(None, use_errno=True)
                self._call = libc.syscall
                self._call.restype = ctypes.c_long
        self._how = _OpenHow(os.O_RDONLY | DIRECTORY | CLOEXEC, 0, _RESOLVE_SAFELY)
        self._size = ctypes.c_size_t(ctypes.sizeof(_OpenHow))

    def folder(self, fd: int, parts: tuple[str, ...]) -> int | None:
        """A descriptor on ``parts`` below ``fd`` (each a checked plain name), or None: walk it instead.

        FileNotFoundError when a folder on the way does not exist: every one before it was
        a real folder, not a link (a link fails with ELOOP, never ENOENT).
        """
        if self._call is None:
            return None
        path = "/".join(parts).encode("utf-8", "surrogateescape")
        found = self._call(_SYS_OPENAT2, ctypes.c_long(fd), ctypes.c_char_p(path), ctypes.byref(self._how), self._size)
        if found < 0:
            error = ctypes.get_errno()
            if error in (errno.ENOSYS, errno.EPERM):  # no openat2 here (or a sandbox forbids it)
                self._call = None
            if error == errno.ENOENT:
                raise FileNotFoundError(error, os.strerror(error))
            return None
        return int(found)

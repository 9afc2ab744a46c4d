"""Seats' rendered files kept small in memory until they are written."""

from __future__ import annotations

import dataclasses
import marshal
import zlib

from provisioner.render.files import RenderedFile


class Packer:
    """Keeps seats' rendered files small in memory until they are written.

    A first deploy renders every seat once to check it before anything is written; what
    it rendered is kept, packed, so that the files written are the files checked, without
    holding thousands of seats' files as objects. Seats look alike, so each is compressed
    against the first seat's files (``like``) and keeps a small fraction of their size.
    Packed files stay in this process (or come from its own forked helper): they hold
    passwords and are never written anywhere.
    """

    def __init__(self, like: tuple[RenderedFile, ...]) -> None:
        self._dictionary = _flat(like)

    def keep(self, files: tuple[RenderedFile, ...]) -> object:
        """The files as compressed bytes (:meth:`files` gives them back)."""
        squeeze = zlib.compressobj(1, zdict=self._dictionary)
        return squeeze.compress(_flat(files)) + squeeze.flush()

    def files(self, kept: object) -> tuple[RenderedFile, ...]:
        """The files :meth:`keep` was given."""
        assert isinstance(kept, bytes)
        expand = zlib.decompressobj(zdict=self._dictionary)
        return tuple(RenderedFile(*values) for values in marshal.loads(expand.decompress(kept) + expand.flush()))


_FIELDS = tuple(field.name for field in dataclasses.fields(RenderedFile))


def _flat(files: tuple[RenderedFile, ...]) -> bytes:
    """The files' fields as plain values, in :class:`RenderedFile`'s order."""
    return marshal.dumps(tuple(tuple(getattr(file, name) for name in _FIELDS) for file in files))

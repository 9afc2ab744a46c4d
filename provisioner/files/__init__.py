"""Each kind of file a seat deploys, one module each, with how it is planned, verified and rolled back.

chezmoi's way: the code that knows an ini from a launcher lives with its kind, and the
callers (:mod:`provisioner.api`, :mod:`provisioner.deploy`) ask :data:`KINDS` instead of
testing ``kind``. :mod:`.microsip_ini` is merged key by key and judged on the keys the
fleet manages; :mod:`.launcher` is the tool's whole and judged on its bytes;
:mod:`.contacts` is merged contact by contact. :mod:`.change` holds what they produce,
:mod:`.unchanged` what tells a seat needs no judging at all.
"""

from __future__ import annotations

from provisioner.files import contacts, launcher, microsip_ini
from provisioner.files.change import DeployedFile
from provisioner.render.files import FileKind

#: Each kind of file a seat deploys, by :attr:`~provisioner.render.files.RenderedFile.kind`.
KINDS: dict[FileKind, DeployedFile] = {"ini": microsip_ini, "owned": launcher, "contacts": contacts}

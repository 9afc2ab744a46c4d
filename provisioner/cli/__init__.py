"""The ``provisioner`` command line: a thin click layer over :mod:`provisioner.api`.

Each command parses its options, makes one call into the API, and prints the
result. Exit codes follow the contract: 0 ok, 1 drift/pending, 2 bad input,
3 deploy failed, 4 internal error (one line plus the path of a log file holding
the traceback). No traceback ever reaches the terminal.
"""

from __future__ import annotations

from provisioner.cli import comparing as _comparing  # noqa: F401  (its command joins the group)
from provisioner.cli import deploying as _deploying  # noqa: F401  (its commands join the group)
from provisioner.cli import registering as _registering  # noqa: F401  (its command joins the group)
from provisioner.cli.commands import main

__all__ = ["main"]

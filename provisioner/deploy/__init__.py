"""Carrying out and undoing a seat's plan on its target.

* :mod:`~provisioner.deploy.apply` carries out a seat's plan (in steps, so seats share
  each wait for the disk), through the file system of :mod:`provisioner.targetfs.system`;
* :mod:`~provisioner.deploy.rollback` undoes it: our change, and nothing else.

The admin's own outputs (render, init, bundles, the share) are written by
:mod:`provisioner.admin_files`.
"""

from provisioner.deploy.apply import SeatOutcome, Steps, backup_file_name, seat_steps, stamp_now
from provisioner.deploy.rollback import (
    NOTHING_RECORDED,
    BackupEntry,
    RollbackOutcome,
    SeatFile,
    list_backups,
    rollback_seat,
)
from provisioner.targetfs.safefs import TEMP_PREFIX
from provisioner.targetfs.system import DryRunFS, RealFS, Store

__all__ = [
    "NOTHING_RECORDED",
    "TEMP_PREFIX",
    "BackupEntry",
    "DryRunFS",
    "RealFS",
    "RollbackOutcome",
    "SeatFile",
    "SeatOutcome",
    "Steps",
    "Store",
    "backup_file_name",
    "list_backups",
    "rollback_seat",
    "seat_steps",
    "stamp_now",
]

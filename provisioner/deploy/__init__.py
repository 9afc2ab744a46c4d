"""Carrying out and undoing a seat's plan on its target.

* :mod:`~provisioner.deploy.apply` carries out seats' plans (in steps, so a batch of seats
  shares each wait for the disk), through the file system of :mod:`provisioner.targetfs.system`;
* :mod:`~provisioner.deploy.rollback` undoes it: our change, and nothing else.

The admin's own outputs (render, init, bundles, the share) are written by
:mod:`provisioner.admin_files`.
"""

from provisioner.deploy.apply import (
    BATCH_SEATS,
    Applied,
    SeatOutcome,
    Steps,
    apply_plans,
    backup_file_name,
    seat_steps,
    stamp_now,
)
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
    "BATCH_SEATS",
    "NOTHING_RECORDED",
    "TEMP_PREFIX",
    "Applied",
    "BackupEntry",
    "DryRunFS",
    "RealFS",
    "RollbackOutcome",
    "SeatFile",
    "SeatOutcome",
    "Steps",
    "Store",
    "apply_plans",
    "backup_file_name",
    "list_backups",
    "rollback_seat",
    "seat_steps",
    "stamp_now",
]

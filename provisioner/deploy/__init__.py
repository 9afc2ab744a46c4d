"""The only place that writes files.

* :mod:`~provisioner.deploy.output` writes the admin's own outputs (render, init,
  bundles): atomic, 0600 files and 0700 folders.
* :mod:`~provisioner.deploy.targetfs` reaches files below target roots -- folders
  that belong to someone else -- through :mod:`provisioner.safefs`, never following
  a link, and keeps the admin's state (manifests, backups, locks) in a folder of
  the admin's.
* :mod:`~provisioner.deploy.apply` carries out a seat's plan (in steps, so seats share each wait for the disk);
  :mod:`~provisioner.deploy.rollback` undoes it.
"""

from provisioner.deploy.apply import SeatOutcome, Steps, backup_file_name, seat_steps, stamp_now
from provisioner.deploy.output import (
    make_folders,
    write_atomic,
    write_files,
    write_new_files,
    write_share,
    write_tree,
)
from provisioner.deploy.rollback import (
    NOTHING_RECORDED,
    BackupEntry,
    RollbackOutcome,
    SeatFile,
    list_backups,
    rollback_seat,
)
from provisioner.deploy.targetfs import DryRunFS, RealFS, Store
from provisioner.safefs import TEMP_PREFIX

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
    "make_folders",
    "rollback_seat",
    "seat_steps",
    "stamp_now",
    "write_atomic",
    "write_files",
    "write_new_files",
    "write_share",
    "write_tree",
]

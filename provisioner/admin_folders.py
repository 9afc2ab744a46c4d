"""Whether a folder of the admin's is out of everyone else's reach, as OpenSSH checks ``~/.ssh``.

The state folder holds every seat's backups (passwords among them) and the
manifests that say what a file may be rolled back to; whoever can write it, or any
folder on the way to it, can read those backups, forge a manifest or swap the folder
for their own. So the folder and each folder above it must belong to the admin (the
user running the tool) or to root, and none may be writable by group or others. A
root-owned folder with the sticky bit (``/tmp``) may lie on the way: nobody else can
rename or remove what the admin made in it. A folder that does not exist yet is
judged by the folders it will be created in.

Only POSIX has owners to check; elsewhere every folder passes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def user_name(uid: int) -> str:
    """The account's name, else ``uid N``."""
    import pwd  # POSIX only, as the callers are

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _problem(path: Path, st: os.stat_result, *, on_the_way: bool) -> str | None:
    """Why one folder is not the admin's alone, or None."""
    admin = os.geteuid()
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a folder"
    if st.st_uid not in (admin, 0):
        allowed = "root" if admin == 0 else f"{user_name(admin)} or root"
        return f"{path} belongs to {user_name(st.st_uid)}, not to {allowed}"
    who = _writers(st.st_mode)
    if who is None or (on_the_way and st.st_mode & stat.S_ISVTX and st.st_uid == 0):
        return None  # nobody else writes it, or like /tmp: others may add entries, never touch ours
    return f"{path} is writable by {who} (mode {stat.S_IMODE(st.st_mode):04o})"


def _writers(mode: int) -> str | None:
    """``"others"`` or ``"its group"`` when a folder's mode lets someone else write it, else None."""
    if mode & stat.S_IWOTH:
        return "others"
    return "its group" if mode & stat.S_IWGRP else None


def not_private(folder: Path) -> str | None:
    """Why ``folder`` (existing or to be created) is not the admin's alone, or None."""
    if not hasattr(os, "geteuid"):
        return None
    real = Path(folder).resolve()
    for path in (real, *real.parents):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue  # created later, 0700, by the admin
        except OSError as exc:
            return f"{path} cannot be checked ({exc.strerror or exc})"
        problem = _problem(path, st, on_the_way=path != real)
        if problem is not None:
            return problem
    return None


def writable_by_others(folder: Path) -> str | None:
    """``"others"`` or ``"its group"`` when someone else may add, replace or remove entries of ``folder``."""
    if not hasattr(os, "geteuid"):
        return None
    try:
        st = folder.stat()
    except OSError:
        return None
    return None if st.st_mode & stat.S_ISVTX else _writers(st.st_mode)

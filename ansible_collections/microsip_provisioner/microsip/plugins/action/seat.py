# Copyright: microsip-provisioner developers
# MIT License (see the repository's LICENSE)
"""Action plugin for microsip_provisioner.microsip.seat: merge a seat's files on the controller, push them.

The work is done on the controller, as ansible.windows' win_template does it: each of the
seat's files (its ini, its phonebook, its launchers) is read from the host with slurp, judged
as ``provisioner apply`` judges it (``provisioner.api.merge_file``: the ini merged key by key,
the phonebook by number, a launcher on its bytes), and handed to win_copy (a Windows host)
or copy (a Linux or Wine host) only when it changes. Every file is judged before any is
written, so a conflict anywhere writes nothing; a file's record is saved on the controller
only after its push succeeded.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from collections import namedtuple
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

try:
    from provisioner import api
    from provisioner.errors import ProvisionerError
except ImportError as exc:  # the controller needs the microsip-provisioner package
    api = None
    ProvisionerError = Exception
    IMPORT_ERROR = exc
else:
    IMPORT_ERROR = None

ARGUMENT_SPEC = {
    "fleet": {"type": "path", "required": True},
    "seat": {"type": "str", "required": True},
    "state_dir": {"type": "path", "required": True},
    "dest": {"type": "str"},
    "force": {"type": "bool", "default": False},
    "keep_user": {"type": "list", "elements": "str", "default": []},
    "rotate_passwords": {"type": "bool", "default": False},
}

#: The modules each kind of host is read and written with (the same calls as win_template's).
MODULES = {
    True: ("ansible.windows.slurp", "ansible.windows.win_copy"),
    False: ("ansible.builtin.slurp", "ansible.legacy.copy"),
}


class Judged(namedtuple("Judged", "file merged record")):
    """One of the seat's files (api.SeatFile), what the merge makes of it, and where its record is kept."""

    __slots__ = ()


def record_path(state_dir, host, seat, name):
    """Where the controller keeps a host's record of one of a seat's files (``ini/microsip.ini``)."""
    return os.path.join(state_dir, host, seat, *name.split("/")) + ".json"


def load_record(path):
    """The record the last successful push left, or None."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def save_record(path, record):
    """Keep ``record`` at ``path``, atomically (a crash leaves the old one or the new one)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".record-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def is_windows(connection):
    """Whether the host speaks PowerShell (a Windows host)."""
    return getattr(connection._shell, "SHELL_FAMILY", "") == "powershell"  # pylint: disable=protected-access


class ActionModule(ActionBase):
    """Merge one seat's MicroSIP files into the host's and push those that change."""

    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        if api is None:
            raise AnsibleActionFail(f"the microsip-provisioner package is needed on the controller: {IMPORT_ERROR}")
        windows = is_windows(self._connection)
        host = (task_vars or {}).get("inventory_hostname", "localhost")
        try:
            args["fleet"] = api.load(Path(args["fleet"]))  # read once for all of the seat's files
            judged = [self._judge(args, host, found, windows, task_vars) for found in self._files(args, windows)]
        except ProvisionerError as exc:
            raise AnsibleActionFail(str(exc)) from None
        conflicts = [text for one in judged if one.merged.action == "conflict" for text in one.merged.conflicts]
        if conflicts and not args["force"]:
            raise AnsibleActionFail("\n".join(conflicts))
        return self._deliver(result, judged, windows, task_vars)

    def _files(self, args, windows):
        """The seat's files and their places on the host (``dest`` moves the ini)."""
        files = api.seat_files(args["fleet"], args["seat"], windows=windows)
        if args["dest"]:
            files[0] = api.SeatFile(files[0].name, args["dest"], files[0].kind, files[0].private)
        return files

    def _judge(self, args, host, found, windows, task_vars):
        """One file's bytes on the host judged against its record."""
        kept = record_path(args["state_dir"], host, args["seat"], found.name)
        merged = api.merge_file(
            args["fleet"],
            args["seat"],
            found.name,
            self._read(found.dest, windows, task_vars),
            load_record(kept),
            keep_user=args["keep_user"],
            rotate_passwords=args["rotate_passwords"],
        )
        return Judged(found, merged, kept)

    def _deliver(self, result, judged, windows, task_vars):
        """Push each file that changes (none in check mode); keep its record once it is pushed."""
        result["files"] = [{"name": j.file.name, "dest": j.file.dest, "action": j.merged.action} for j in judged]
        result["changed"] = any(j.merged.action != "unchanged" for j in judged)
        result["dest"] = judged[0].file.dest
        result["action"] = judged[0].merged.action
        result["notes"] = [note for j in judged for note in j.merged.notes]
        diffs = [j.merged.diff or f"{j.file.name}: {j.merged.action}" for j in judged if j.merged.action != "unchanged"]
        if self._task.diff and diffs:
            result["diff"] = {"prepared": "\n".join(diffs)}
        if self._task.check_mode:
            return result
        for one in judged:
            if one.merged.action == "unchanged":
                continue
            copied = self._write(one.merged.data, one.file, windows, task_vars)
            if copied.get("failed"):
                result.update(failed=True, msg=f"{one.file.dest}: {copied.get('msg', 'the copy failed')}")
                return result
            save_record(one.record, one.merged.record)
        return result

    def _read(self, dest, windows, task_vars):
        """The host's file as bytes; None when there is none yet."""
        found = self._execute_module(module_name=MODULES[windows][0], module_args={"src": dest}, task_vars=task_vars)
        if found.get("failed"):
            message = str(found.get("msg", ""))
            if "not found" in message.lower() or "does not exist" in message.lower():
                return None
            raise AnsibleActionFail(f"cannot read {dest}: {message}")
        return base64.b64decode(found["content"])

    def _write(self, data, found, windows, task_vars):
        """Hand ``data`` to win_copy or copy, as win_template hands its rendered file."""
        local = tempfile.mkdtemp(prefix="microsip-seat-")
        try:
            source = os.path.join(local, "file")
            with open(source, "wb") as handle:
                handle.write(data)
            task = self._task.copy()
            mode = {} if windows else {"mode": "0600" if found.private else "0644"}
            task.args = {"src": source, "dest": found.dest, **mode}
            copy_action = self._shared_loader_obj.action_loader.get(
                MODULES[windows][1],
                task=task,
                connection=self._connection,
                play_context=self._play_context,
                loader=self._loader,
                templar=self._templar,
                shared_loader_obj=self._shared_loader_obj,
            )
            return copy_action.run(task_vars=task_vars)
        finally:
            shutil.rmtree(local, ignore_errors=True)

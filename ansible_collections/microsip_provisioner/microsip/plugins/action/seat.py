# Copyright: microsip-provisioner developers
# MIT License (see the repository's LICENSE)
"""Action plugin for microsip_provisioner.microsip.seat: merge a seat's ini on the controller, push it.

The work is done on the controller, as ansible.windows' win_template does it: the host's
current ini is read with slurp, the merge is the one ``provisioner apply`` makes
(``provisioner.api.merge_seat``), and the bytes are handed to win_copy (a Windows host) or
copy (a Linux or Wine host) only when they change. The seat's record is saved on the
controller only after the push succeeded.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile

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


def record_path(state_dir, host, seat):
    """Where the controller keeps a host's record of a seat's ini."""
    return os.path.join(state_dir, host, seat + ".json")


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
    """Merge one seat's MicroSIP ini into the host's and push it when it changes."""

    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        if api is None:
            raise AnsibleActionFail(f"the microsip-provisioner package is needed on the controller: {IMPORT_ERROR}")
        windows = is_windows(self._connection)
        try:
            dest = args["dest"] or api.ini_destination(args["fleet"], args["seat"], windows=windows)
            host = (task_vars or {}).get("inventory_hostname", "localhost")
            kept = record_path(args["state_dir"], host, args["seat"])
            current = self._read(dest, windows, task_vars)
            merged = api.merge_seat(
                args["fleet"],
                args["seat"],
                current,
                load_record(kept),
                keep_user=args["keep_user"],
                rotate_passwords=args["rotate_passwords"],
            )
        except ProvisionerError as exc:
            raise AnsibleActionFail(str(exc)) from None
        return self._deliver(result, merged, dest, windows, kept, args["force"], task_vars)

    def _deliver(self, result, merged, dest, windows, kept, force, task_vars):
        """Push the merge when it changes anything (not in check mode); keep the record after it."""
        if merged.action == "conflict" and not force:
            raise AnsibleActionFail("\n".join(merged.conflicts))
        result.update(changed=merged.action != "unchanged", action=merged.action, dest=dest, notes=list(merged.notes))
        if self._task.diff and merged.diff:
            result["diff"] = {"prepared": merged.diff}
        if not result["changed"] or self._task.check_mode:
            return result
        copied = self._write(merged.data, dest, windows, task_vars)
        if copied.get("failed"):
            result.update(failed=True, msg=copied.get("msg", "the copy failed"))
            return result
        save_record(kept, merged.record)
        return result

    def _read(self, dest, windows, task_vars):
        """The host's ini as bytes; None when there is none yet."""
        found = self._execute_module(module_name=MODULES[windows][0], module_args={"src": dest}, task_vars=task_vars)
        if found.get("failed"):
            message = str(found.get("msg", ""))
            if "not found" in message.lower() or "does not exist" in message.lower():
                return None
            raise AnsibleActionFail(f"cannot read {dest}: {message}")
        return base64.b64decode(found["content"])

    def _write(self, data, dest, windows, task_vars):
        """Hand ``data`` to win_copy or copy, as win_template hands its rendered file."""
        local = tempfile.mkdtemp(prefix="microsip-seat-")
        try:
            source = os.path.join(local, "microsip.ini")
            with open(source, "wb") as handle:
                handle.write(data)
            task = self._task.copy()
            task.args = {"src": source, "dest": dest, **({} if windows else {"mode": "0600"})}
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

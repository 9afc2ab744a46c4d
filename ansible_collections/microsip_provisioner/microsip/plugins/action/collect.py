# Copyright: microsip-provisioner developers
# MIT License (see the repository's LICENSE)
"""Action plugin for microsip_provisioner.microsip.collect: bring hosts' inis back to the controller.

Each host's ini is read with slurp and written to ``dest/<inventory_hostname>/<its name>``,
where ``provisioner import dest/*/microsip.ini`` reads them.
"""

from __future__ import annotations

import base64
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

try:
    from provisioner import api
except ImportError:  # only needed to find the ini from a fleet's seat
    api = None

ARGUMENT_SPEC = {
    "dest": {"type": "path", "required": True},
    "src": {"type": "str"},
    "fleet": {"type": "path"},
    "seat": {"type": "str"},
}


class ActionModule(ActionBase):
    """Copy one host's MicroSIP ini into a folder on the controller."""

    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        windows = getattr(self._connection._shell, "SHELL_FAMILY", "") == "powershell"  # pylint: disable=protected-access
        src = args["src"] or self._from_fleet(args, windows)
        slurp = "ansible.windows.slurp" if windows else "ansible.builtin.slurp"
        found = self._execute_module(module_name=slurp, module_args={"src": src}, task_vars=task_vars)
        if found.get("failed"):
            raise AnsibleActionFail(f"cannot read {src}: {found.get('msg', '')}")
        host = (task_vars or {}).get("inventory_hostname", "localhost")
        name = src.replace("\\", "/").rsplit("/", 1)[-1]
        target = os.path.join(args["dest"], host, name)
        data = base64.b64decode(found["content"])
        result.update(changed=_write(target, data, self._task.check_mode), src=src, dest=target)
        return result

    def _from_fleet(self, args, windows):
        if not (args["fleet"] and args["seat"]):
            raise AnsibleActionFail("give src, or fleet and seat")
        if api is None:
            raise AnsibleActionFail("the microsip-provisioner package is needed on the controller to find the ini")
        return api.ini_destination(args["fleet"], args["seat"], windows=windows)


def _write(target, data, check_mode):
    """Whether ``target`` changes; it is written (privately: it holds passwords) unless in check mode."""
    try:
        with open(target, "rb") as handle:
            if handle.read() == data:
                return False
    except FileNotFoundError:
        pass
    if check_mode:
        return True
    os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".collect-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, target)
    return True

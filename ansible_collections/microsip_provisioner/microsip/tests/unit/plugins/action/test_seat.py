# Copyright: microsip-provisioner developers
# MIT License (see the repository's LICENSE)
"""The seat action plugin's choices, with the merge replaced by a stand-in (ansible-test units runs
without the microsip-provisioner package; the integration test runs the real merge)."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.microsip_provisioner.microsip.plugins.action import seat


class FakeApi:
    """Stands in for provisioner.api: one merge result, and the calls made."""

    def __init__(self, action="update", conflicts=()):
        self.result = SimpleNamespace(
            action=action,
            data=b"merged bytes",
            diff="--- a/microsip.ini\n+++ b/microsip.ini\n",
            record={"kind": "ini", "managed": {}},
            conflicts=tuple(conflicts),
            notes=(),
        )
        self.merged = []

    def ini_destination(self, fleet, seat_id, windows):
        return "C:\\Users\\kim\\AppData\\Roaming\\MicroSIP\\microsip.ini" if windows else "/home/kim/microsip.ini"

    def merge_seat(self, fleet, seat_id, existing, record, **options):
        self.merged.append((existing, record, options))
        return self.result


def plugin(shell_family, args, check_mode=False):
    task = MagicMock()
    task.args = args
    task.check_mode = check_mode
    task.diff = True
    task.async_val = 0
    task.copy.return_value = MagicMock()
    connection = MagicMock()
    connection._shell.SHELL_FAMILY = shell_family  # pylint: disable=protected-access
    loader = MagicMock()
    action = seat.ActionModule(task, connection, MagicMock(), loader, MagicMock(), loader)
    action._shared_loader_obj = loader  # ansible 2.19 sets the global plugin loaders here
    action._execute_module = MagicMock(return_value={"content": base64.b64encode(b"old bytes").decode()})
    copier = MagicMock()
    copier.run.return_value = {"changed": True}
    loader.action_loader.get.return_value = copier
    return action, loader, copier


@pytest.fixture
def fake(monkeypatch):
    stand_in = FakeApi()
    monkeypatch.setattr(seat, "api", stand_in)
    return stand_in


@pytest.mark.parametrize(
    "family, slurp, copy, extra",
    [
        ("powershell", "ansible.windows.slurp", "ansible.windows.win_copy", {}),
        ("sh", "ansible.builtin.slurp", "ansible.legacy.copy", {"mode": "0600"}),
    ],
)
def test_the_shell_family_picks_the_modules(fake, tmp_path, family, slurp, copy, extra):
    args = {"fleet": "fleet.yaml", "seat": "kim", "state_dir": str(tmp_path)}
    action, loader, _copier = plugin(family, args)
    result = action.run(task_vars={"inventory_hostname": "desk-1"})
    assert action._execute_module.call_args.kwargs["module_name"] == slurp
    assert loader.action_loader.get.call_args.args == (copy,)
    pushed = action._task.copy.return_value.args
    assert set(pushed) == {"src", "dest", *extra} and pushed["dest"] == fake.ini_destination("", "", family != "sh")
    assert result["changed"] is True and result["diff"] == {"prepared": fake.result.diff}
    assert json.loads((tmp_path / "desk-1" / "kim.json").read_text()) == fake.result.record
    assert fake.merged[0][0] == b"old bytes"


def test_a_missing_argument_is_refused(fake, tmp_path):
    action, _loader, copier = plugin("sh", {"fleet": "fleet.yaml", "state_dir": str(tmp_path)})
    with pytest.raises(AnsibleActionFail, match="seat"):
        action.run(task_vars={})
    assert not copier.run.called


def test_a_conflict_fails_with_the_tools_words_unless_forced(fake, tmp_path):
    fake.result.action, fake.result.conflicts = "conflict", ("[Settings] autoAnswer: changed since the last apply",)
    args = {"fleet": "fleet.yaml", "seat": "kim", "state_dir": str(tmp_path)}
    action, _loader, copier = plugin("sh", args)
    with pytest.raises(AnsibleActionFail, match=r"autoAnswer: changed since the last apply"):
        action.run(task_vars={})
    assert not copier.run.called and not (tmp_path / "localhost").exists()
    action, _loader, copier = plugin("sh", {**args, "force": True})
    assert action.run(task_vars={})["changed"] is True and copier.run.called


def test_check_mode_pushes_nothing_and_keeps_no_record(fake, tmp_path):
    args = {"fleet": "fleet.yaml", "seat": "kim", "state_dir": str(tmp_path)}
    action, _loader, copier = plugin("sh", args, check_mode=True)
    assert action.run(task_vars={})["changed"] is True
    assert not copier.run.called and not (tmp_path / "localhost").exists()


def test_a_failed_push_keeps_the_old_record(fake, tmp_path):
    args = {"fleet": "fleet.yaml", "seat": "kim", "state_dir": str(tmp_path)}
    action, _loader, copier = plugin("sh", args)
    copier.run.return_value = {"failed": True, "msg": "disk full"}
    result = action.run(task_vars={})
    assert result["failed"] is True and result["msg"] == "disk full"
    assert not (tmp_path / "localhost").exists()

# Copyright: microsip-provisioner developers
# MIT License (see the repository's LICENSE)
"""The seat action plugin's choices, with the merge replaced by a stand-in (ansible-test units runs
without the microsip-provisioner package; the integration test runs the real merge)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.microsip_provisioner.microsip.plugins.action import seat


@dataclass(frozen=True)
class SeatFile:
    """As provisioner.api.SeatFile."""

    name: str
    dest: str
    kind: str
    private: bool


class FakeApi:
    """Stands in for provisioner.api: a seat with an ini and a launcher, one merge result each, the calls made."""

    SeatFile = SeatFile

    def __init__(self):
        self.results = {name: self.result_of("update") for name in ("ini/microsip.ini", "desktop/MicroSIP.lnk")}
        self.merged = []

    @staticmethod
    def result_of(action, conflicts=()):
        return SimpleNamespace(
            action=action,
            data=b"merged bytes",
            diff="--- a/microsip.ini\n+++ b/microsip.ini\n",
            record={"kind": "ini", "managed": {}},
            conflicts=tuple(conflicts),
            notes=(),
        )

    @property
    def result(self):
        return self.results["ini/microsip.ini"]

    @staticmethod
    def load(path):
        return path

    def seat_files(self, fleet, seat_id, windows):
        if windows:
            return [
                SeatFile("ini/microsip.ini", "C:\\Users\\kim\\AppData\\Roaming\\MicroSIP\\microsip.ini", "ini", True),
                SeatFile("desktop/MicroSIP.lnk", "C:\\Users\\kim\\Desktop\\MicroSIP.lnk", "owned", False),
            ]
        return [
            SeatFile("ini/microsip.ini", "/home/kim/microsip.ini", "ini", True),
            SeatFile("desktop/MicroSIP.lnk", "/home/kim/Desktop/MicroSIP.lnk", "owned", False),
        ]

    def merge_file(self, fleet, seat_id, name, existing, record, **options):
        self.merged.append((name, existing, record, options))
        return self.results[name]


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
    "family, slurp, copy, modes",
    [
        ("powershell", "ansible.windows.slurp", "ansible.windows.win_copy", [None, None]),
        ("sh", "ansible.builtin.slurp", "ansible.legacy.copy", ["0600", "0644"]),
    ],
)
def test_the_shell_family_picks_the_modules(fake, tmp_path, family, slurp, copy, modes):
    args = {"fleet": "fleet.yaml", "seat": "kim", "state_dir": str(tmp_path)}
    action, loader, copier = plugin(family, args)
    result = action.run(task_vars={"inventory_hostname": "desk-1"})
    files = fake.seat_files("", "", family == "powershell")
    read = [call.kwargs for call in action._execute_module.call_args_list]
    assert [(r["module_name"], r["module_args"]["src"]) for r in read] == [(slurp, f.dest) for f in files]
    assert [call.args for call in loader.action_loader.get.call_args_list] == [(copy,), (copy,)]
    assert copier.run.call_count == 2
    pushed = action._task.copy.return_value.args
    assert pushed["dest"] == files[1].dest and pushed.get("mode") == modes[1]
    assert result["changed"] is True and result["diff"]["prepared"].startswith(fake.result.diff)
    saved = tmp_path / "desk-1" / "kim" / "ini" / "microsip.ini.json"
    assert json.loads(saved.read_text()) == fake.result.record
    assert [(call[0], call[1]) for call in fake.merged] == [(f.name, b"old bytes") for f in files]


def test_a_missing_argument_is_refused(fake, tmp_path):
    action, _loader, copier = plugin("sh", {"fleet": "fleet.yaml", "state_dir": str(tmp_path)})
    with pytest.raises(AnsibleActionFail, match="seat"):
        action.run(task_vars={})
    assert not copier.run.called


def test_a_conflict_fails_with_the_tools_words_unless_forced(fake, tmp_path):
    changed = ("[Settings] autoAnswer: changed since the last apply",)
    fake.results["ini/microsip.ini"] = fake.result_of("conflict", changed)
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
    assert result["failed"] is True and result["msg"] == "/home/kim/microsip.ini: disk full"
    assert not (tmp_path / "localhost").exists() and copier.run.call_count == 1  # stopped at the first failure

"""The Ansible collection (issue 27): built, its sanity and unit tests, and a real playbook run.

ansible-core 2.19 is a test-only dependency. The playbook runs against localhost
(``ansible_connection=local``, so the seat action picks ``ansible.builtin.copy``) into a
Wine-like prefix in the test's folder. ansible-test runs on a copy of the collection in
the test's folder, with ``HOME`` there too: its pip bootstrap (downloaded from the internet
otherwise) is a local script at its documented cache path that uses ``ensurepip``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from provisioner import ini

REPO = Path(__file__).resolve().parent.parent
COLLECTION = REPO / "ansible_collections" / "microsip_provisioner" / "microsip"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(not (BIN / "ansible-playbook").exists(), reason="ansible-core is not installed")

FLEET = """\
version: 1
name: office
seats:
  - id: kim
    user: kim
    target: {{type: wine, prefix: '{prefix}'}}
    settings: {{autoAnswer: button}}
    accounts: [{{server: pbx.example, domain: pbx.example, username: '1000', password: {{env: PW}}}}]
    launch: {{shortcuts: [desktop]}}
    contacts: [{{name: Reception, number: '1000'}}]
"""
PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - microsip_provisioner.microsip.seat:
        fleet: "{fleet}"
        seat: kim
        state_dir: "{state}"
        force: "{{{{ force | default(false) | bool }}}}"
"""
BOOTSTRAP = '''"""pip's bootstrap for ansible-test, offline: ensurepip."""
import ensurepip

ensurepip.bootstrap(upgrade=True, default_pip=True)
'''


@pytest.fixture
def office(tmp_path: Path) -> dict[str, Path]:
    prefix = tmp_path / "prefix"
    folder = prefix / "drive_c" / "users" / "kim" / "AppData" / "Roaming" / "MicroSIP"
    folder.mkdir(parents=True)  # MicroSIP has run once: its folder is there
    (prefix / "drive_c" / "users" / "kim" / "Desktop").mkdir()
    (tmp_path / "fleet.yaml").write_text(FLEET.format(prefix=prefix), encoding="utf-8")
    (tmp_path / "play.yml").write_text(
        PLAYBOOK.format(fleet=tmp_path / "fleet.yaml", state=tmp_path / "state"), encoding="utf-8"
    )
    (tmp_path / "hosts.ini").write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n", encoding="utf-8"
    )
    desktop = prefix / "drive_c" / "users" / "kim" / "Desktop"
    return {"folder": tmp_path, "ini": folder / "microsip.ini", "contacts": folder / "Contacts.xml", "desktop": desktop}


def playbook(office: dict[str, Path], *extra: str) -> subprocess.CompletedProcess[str]:
    folder = office["folder"]
    env = {
        **os.environ,
        "HOME": str(folder / "home"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO),
        "ANSIBLE_LOCAL_TEMP": str(folder / "ansible-local"),
        "ANSIBLE_REMOTE_TMP": str(folder / "ansible-remote"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_CONFIG": str(folder / "no-ansible.cfg"),
        "PW": "s3cret",
    }
    command = [str(BIN / "ansible-playbook"), "-i", str(folder / "hosts.ini"), str(folder / "play.yml"), *extra]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False)


def recap(done: subprocess.CompletedProcess[str]) -> tuple[int, int]:
    """``(changed, failed)`` from the play recap."""
    found = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", done.stdout)
    assert found, done.stdout + done.stderr
    return int(found.group(1)), int(found.group(2))


def text(path: Path) -> str:
    return ini.decode(path.read_bytes())[0]


@pytest.mark.slow
def test_the_playbook_merges_like_apply(office: dict[str, Path]) -> None:
    first = playbook(office)
    assert recap(first) == (1, 0), first.stdout
    assert "autoAnswer=button" in text(office["ini"]) and "password=s3cret" in text(office["ini"])
    assert oct(office["ini"].stat().st_mode & 0o777) == "0o600"
    (launcher,) = office["desktop"].glob("*.lnk")  # the launcher and the phonebook follow the same path
    assert launcher.read_bytes()[:4] == b"L\0\0\0"
    assert b'number="1000"' in office["contacts"].read_bytes()
    own = office["contacts"].read_bytes().replace(b"</contacts>", b'<contact name="Mum" number="0171"/></contacts>')
    office["contacts"].write_bytes(own)  # the user adds a contact of their own
    assert recap(playbook(office)) == (0, 0)  # the second run changes nothing
    ran = text(office["ini"]).replace("password=s3cret", "password=ENCRYPTED") + "[Calls]\r\n0=1000;Kim;1;0;0;\r\n"
    office["ini"].write_bytes(ini.encode(ran))  # MicroSIP ran: call history, an encrypted password
    assert recap(playbook(office)) == (0, 0)
    assert "[Calls]" in text(office["ini"]) and "password=ENCRYPTED" in text(office["ini"])
    office["ini"].write_bytes(ini.encode(text(office["ini"]).replace("autoAnswer=button", "autoAnswer=all")))
    edited = office["ini"].read_bytes()
    refused = playbook(office)
    assert recap(refused) == (0, 1)
    assert (
        "[Settings] autoAnswer: changed since the last apply: 'all' on disk, the fleet says 'button'" in refused.stdout
    )
    checked = playbook(office, "--check", "--diff", "-e", "force=true")
    assert recap(checked) == (1, 0) and office["ini"].read_bytes() == edited  # changed, nothing written
    assert "-autoAnswer=all" in checked.stdout and "+autoAnswer=button" in checked.stdout
    assert "s3cret" not in checked.stdout and "ENCRYPTED" not in checked.stdout
    assert recap(playbook(office, "-e", "force=true")) == (1, 0)
    assert "autoAnswer=button" in text(office["ini"]) and "[Calls]" in text(office["ini"])
    assert b'number="0171"' in office["contacts"].read_bytes()  # merged by number: the user's stays
    assert recap(playbook(office)) == (0, 0)


def test_the_collection_builds(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "build", str(COLLECTION), "--output-path", str(tmp_path)],
        env={**os.environ, "HOME": str(tmp_path), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (built,) = tmp_path.glob("microsip_provisioner-microsip-*.tar.gz")
    with tarfile.open(built) as archive:
        names = set(archive.getnames())
    assert {"MANIFEST.json", "FILES.json", "plugins/action/seat.py", "plugins/modules/seat.py"} <= names
    assert {"plugins/action/collect.py", "meta/runtime.yml", "examples/playbook.yml"} <= names


def ansible_test(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``ansible-test ARGS`` on a copy of the collection, with HOME and the pip bootstrap in ``tmp_path``."""
    copy = tmp_path / "ansible_collections" / "microsip_provisioner" / "microsip"
    shutil.copytree(COLLECTION, copy, ignore=shutil.ignore_patterns("output", "__pycache__"))
    home = tmp_path / "home"
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True)
    for version in ("24_2", "25_0", "25_1"):  # the bootstrap ansible-test 2.19 names, by the pip it wants
        (cache / f"get_pip_{version}.py").write_text(BOOTSTRAP, encoding="utf-8")
    env = {**os.environ, "HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"}
    return subprocess.run(
        [str(BIN / "ansible-test"), *args, "--python", "3.11"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


@pytest.mark.slow
def test_ansible_test_sanity_passes(tmp_path: Path) -> None:
    tests = ["action-plugin-docs", "ansible-doc", "compile", "import", "pep8", "pylint", "validate-modules", "yamllint"]
    done = ansible_test(tmp_path, "sanity", *(f"--test={name}" for name in tests))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    for name in tests:
        assert f'Running sanity test "{name}"' in done.stdout


@pytest.mark.slow
def test_ansible_test_units_pass(tmp_path: Path) -> None:
    done = ansible_test(tmp_path, "units", "--venv")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert re.search(r"\b6 passed\b", done.stdout), done.stdout[-2000:]


COLLECT = """\
- hosts: all
  gather_facts: false
  tasks:
    - microsip_provisioner.microsip.collect:
        fleet: "{fleet}"
        seat: kim
        dest: "{dest}"
"""


@pytest.mark.slow
def test_collect_brings_the_ini_back_for_import(office: dict[str, Path]) -> None:
    assert recap(playbook(office)) == (1, 0)
    folder = office["folder"]
    (folder / "play.yml").write_text(COLLECT.format(fleet=folder / "fleet.yaml", dest=folder / "collected"))
    assert recap(playbook(office)) == (1, 0)
    collected = folder / "collected" / "localhost" / "microsip.ini"
    assert collected.read_bytes() == office["ini"].read_bytes()
    assert oct(collected.stat().st_mode & 0o777) == "0o600"  # it holds the password
    assert recap(playbook(office)) == (0, 0)  # the same bytes again: unchanged
    imported = subprocess.run(
        [sys.executable, "-m", "provisioner", "import", str(collected)], capture_output=True, text=True, check=False
    )
    assert imported.returncode == 0, imported.stderr
    assert 'username: "1000"' in imported.stdout and "SIP_PASSWORD_LOCALHOST_1" in imported.stdout  # named by host

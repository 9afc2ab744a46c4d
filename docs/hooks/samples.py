"""MkDocs hook: sample outputs produced by running the tool while the site is built.

A page asks for one with ``<!-- run: validate fleet.yaml --format sarif -->``; the hook
runs that command in a scratch git repository (two commits of a small fleet, then an
uncommitted mistake in the work tree) and puts what it printed in the page. The
samples cannot drift from what the tool does: they are what it did.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig

FIRST = """\
version: 1
name: acme-office
defaults:
  account: {server: pbx.acme.example, domain: acme.example, transport: tls}
seats:
  - id: reception
    accounts: [{username: "1000", password: {env: PW_1000}}]
  - id: sales
    accounts: [{username: "1100", password: {env: PW_1100}}]
"""
SECOND = (
    FIRST.replace("transport: tls}", "transport: tls}\n  settings: {autoAnswer: header}").replace("PW_1100", "PW_SALES")
    + '  - id: support\n    accounts: [{username: "2001", password: {env: PW_2001}}]\n'
)
MISTAKE = SECOND.replace("transport: tls", "transport: tsl").replace("{env: PW_2001}", "hunter2")

#: Where the samples say the checkout is (the scratch folder's real name changes each build).
SHOWN_ROOT = "/home/runner/work/fleets"

_MARK = re.compile(r"<!-- run: (.+?) -->")
_ANSIBLE = re.compile(r"<!-- ansible-playbook(.*?) -->")

#: A one-desk office pushed by the collection to localhost, into a Wine-like prefix.
ANSIBLE_FLEET = """\
version: 1
name: office
seats:
  - id: kim
    user: kim
    target: {{type: wine, prefix: '{prefix}'}}
    settings: {{autoAnswer: button}}
    accounts: [{{server: pbx.acme.example, domain: acme.example, username: '1000', password: {{env: PW_1000}}}}]
"""
ANSIBLE_PLAY = """\
- name: MicroSIP settings
  hosts: all
  gather_facts: false
  tasks:
    - name: Merge and push the seat's microsip.ini
      microsip_provisioner.microsip.seat:
        fleet: fleet.yaml
        seat: kim
        state_dir: .microsip-state
"""


def on_page_markdown(markdown: str, page: Any, config: MkDocsConfig, files: Any) -> str:
    """Each ``<!-- run: ARGS -->`` replaced by the command and what it printed; ``<!-- fleet -->`` by the
    work tree's fleet file the commands read."""
    if "<!-- run:" not in markdown and "<!-- ansible-playbook" not in markdown:
        return markdown
    markdown = markdown.replace("<!-- fleet -->", f"```yaml\n{MISTAKE}```")
    with tempfile.TemporaryDirectory(prefix="provisioner-docs-") as scratch:
        folder = _repository(Path(scratch) / "fleets")
        markdown = _MARK.sub(lambda found: _ran(found.group(1), folder), markdown)
        if _ANSIBLE.search(markdown):
            desk = _desk(Path(scratch) / "desk")
            markdown = _ANSIBLE.sub(lambda found: _played(found.group(1).strip(), desk), markdown)
        return markdown.replace("<!-- ansible play -->", f"```yaml\n{ANSIBLE_PLAY}```")


def _repository(folder: Path) -> Path:
    folder.mkdir()
    git = ["git", "-c", "user.name=Admin", "-c", "user.email=admin@acme.example", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=folder, check=True)
    for text, message in ((FIRST, "First fleet"), (SECOND, "Sales' password moves; a support seat")):
        (folder / "fleet.yaml").write_text(text, encoding="utf-8")
        subprocess.run([*git, "add", "fleet.yaml"], cwd=folder, check=True)
        subprocess.run([*git, "commit", "-q", "-m", message], cwd=folder, check=True)
    (folder / "fleet.yaml").write_text(MISTAKE, encoding="utf-8")
    return folder


def _ran(args: str, folder: Path) -> str:
    env = {**os.environ, "NO_COLOR": "1", "PROVISIONER_STATE": str(folder / ".state")}
    done = subprocess.run(
        [sys.executable, "-m", "provisioner", *shlex.split(args)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    printed = (done.stdout + done.stderr).replace(str(folder.resolve()), SHOWN_ROOT).rstrip("\n")
    return f"```console\n$ provisioner {args}\n{printed}\n$ echo $?\n{done.returncode}\n```"


def _desk(folder: Path) -> Path:
    """A folder with a fleet, a playbook, an inventory of localhost and a Wine-like prefix."""
    prefix = folder / "prefix"
    (prefix / "drive_c" / "users" / "kim" / "AppData" / "Roaming" / "MicroSIP").mkdir(parents=True)
    (folder / "fleet.yaml").write_text(ANSIBLE_FLEET.format(prefix=prefix), encoding="utf-8")
    (folder / "play.yml").write_text(ANSIBLE_PLAY, encoding="utf-8")
    host = f"kim-desk ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    (folder / "hosts.ini").write_text(host, encoding="utf-8")
    return folder


def _played(args: str, folder: Path) -> str:
    """``ansible-playbook -i hosts.ini play.yml ARGS`` on the desk, and what it printed."""
    repo = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "HOME": str(folder),
        "ANSIBLE_COLLECTIONS_PATH": str(repo),
        "ANSIBLE_LOCAL_TEMP": str(folder / ".ansible-tmp"),
        "ANSIBLE_REMOTE_TMP": str(folder / ".ansible-remote"),  # else the local connection's goes to ~/.ansible
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_CONFIG": str(folder / "none.cfg"),
        "PW_1000": "s3cret",
    }
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "hosts.ini", "play.yml", *shlex.split(args)]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300, env=env, check=False)
    if done.returncode != 0:  # the page shows a push that works: a failure here is a broken build
        raise RuntimeError(f"the Ansible sample failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    printed = (done.stdout + done.stderr).replace(str(folder.resolve()), "/srv/desk").rstrip("\n")
    shown = " ".join(["ansible-playbook -i hosts.ini play.yml", args]).strip()
    return f"```console\n$ {shown}\n{printed}\n```"

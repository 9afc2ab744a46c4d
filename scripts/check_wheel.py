"""Check the built wheel: what it holds, and that the installed command does the main jobs.

Run by ``make wheel-check`` (part of ``make test``) after it built the wheel into
FOLDER and installed it into ``FOLDER/venv``: the wheel must carry the templates,
the starter profile, the key catalogue and the agent, and not the example fleet or
its demo secrets; then ``init``, ``validate``, ``render``, ``publish``, ``plan`` and
``package-agent`` (with wixl, which ``make test`` installs) run from the installed
command in an empty folder, away from this checkout.

Usage: python scripts/check_wheel.py FOLDER
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MUST_HOLD = (
    "provisioner/templates/microsip.ini.j2",
    "provisioner/profiles/starter/fleet.yaml",
    "provisioner/data/catalogue.json",
    "provisioner/data/agent/provisioner-agent.exe",
)
MUST_NOT_HOLD = ("provisioner/profiles/example/", "tests/", "reference/")


def check(folder: Path) -> list[str]:
    """Every way the wheel in ``folder`` falls short (empty when it is right)."""
    problems = []
    (wheel,) = folder.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    problems += [f"{wheel.name} lacks {name}" for name in MUST_HOLD if name not in names]
    problems += [f"{wheel.name} holds {n}" for n in names if n.startswith(MUST_NOT_HOLD)]
    command = (folder / "venv" / "bin" / "provisioner").resolve()
    problems += _version_problems(wheel, command)
    with tempfile.TemporaryDirectory(prefix="wheel-check-") as tmp:
        steps = [
            ["init", "."],
            ["validate", "fleet.yaml", "--targets", "--secrets", "--strict"],
            ["render", "fleet.yaml", "--out", "out"],
            ["publish", "fleet.yaml", "--out", "share"],
            ["plan", "fleet.yaml"],
            ["package-agent", "--out", "pkg"],  # its olefile dependency, and the agent from the wheel
        ]
        for step in steps:
            done = subprocess.run([str(command), *step], cwd=tmp, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                problems.append(f"provisioner {' '.join(step)}: exit {done.returncode}: {done.stderr.strip()}")
        produced_files = (
            "out/alice/microsip.ini",
            "share/agent/provisioner-agent.exe",
            "share/seats/alice/seat.ini",
            "pkg/provisioner-agent.msi",
        )
        for produced in produced_files:
            if not (Path(tmp) / produced).is_file():
                problems.append(f"the installed command did not produce {produced}")
    return problems


def _version_problems(wheel: Path, command: Path) -> list[str]:
    """The version has one home (provisioner/__init__.py): the wheel's name and the command agree."""
    built = wheel.name.split("-")[1]
    shown = subprocess.run([str(command), "--version"], capture_output=True, text=True, check=False).stdout.strip()
    if shown != f"microsip-provisioner, version {built}":
        return [f"{wheel.name} is version {built}, but `provisioner --version` says {shown!r}"]
    return []


def main(argv: list[str]) -> int:
    """Entry point: exit 1 (printing why) when the wheel is not what the repository tests."""
    problems = check(Path(argv[1]))
    for problem in problems:
        print(f"wheel-check: {problem}", file=sys.stderr)
    if not problems:
        print("wheel-check: the wheel holds what it should, and its main commands (package-agent too) run from it")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

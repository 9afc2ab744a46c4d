"""Crash safety: SIGKILL an apply at random moments; every file is old or new, never torn.

Each round restores the tree to its state before the apply, starts a real
``python -m provisioner apply`` in a subprocess, kills it at a random moment,
and checks every ini and manifest. Seats are applied in batches (files staged,
made durable together, renamed, then the manifests); a seat's manifest is
written after its ini, so it may lag behind (the next apply recovers: disk already equals the
fleet, so that is no conflict) but must never claim a write that did not happen.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, read_manifest

pytestmark = pytest.mark.slow  # `make quick` skips these rounds; `make test` (and CI) runs them

SEATS = 200
ROUNDS = 20
MAX_ROUNDS = 60


def fleet_text(display: str) -> str:
    lines = [
        "version: 1",
        "name: crash",
        "defaults:",
        "  target: {type: appdata, root: users}",
        f"  account: {{domain: example.com, displayName: {display}}}",
        "seats:",
    ]
    for i in range(SEATS):
        lines += [f"  - id: s{i:03d}", f"    accounts: [{{username: '{1000 + i}'}}]"]
    return "\n".join(lines) + "\n"


def run_tool(cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    """``python -m provisioner ARGS`` in a real child process (one we can kill)."""
    return subprocess.Popen(
        [sys.executable, "-m", "provisioner", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def run_apply(cwd: Path) -> subprocess.Popen[bytes]:
    return run_tool(cwd, "apply", "fleet.yaml")


def managed(manifest: bytes) -> object:
    """What a manifest says was written (backup names carry timestamps, so bytes differ per run)."""
    return json.loads(manifest.partition(b"\n")[0])["files"]["microsip.ini"]["managed"]


def files(tree: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(tree)): p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file() and p.name != "lock"
    }


def backups_present(tree: Path) -> bool:
    """Every backup a manifest names exists (a manifest is renamed only after its seat's backups are)."""
    for path in (tree / ".provisioner-state" / "targets").glob("*/manifest.json"):
        name = read_manifest(path)["files"]["microsip.ini"].get("backup")
        if name and not (path.parent / "backups" / name).is_file():
            return False
    return True


def state(tree: Path) -> dict[str, bytes]:
    """Each seat's manifest in the admin's state folder, by the seat's ini (relative to users/)."""
    out = {}
    for path in (tree / ".provisioner-state" / "targets").glob("*/manifest.json"):
        seat = path.parent.name.rsplit("-", 1)[0]
        out[f"{seat}/AppData/Roaming/MicroSIP/microsip.ini"] = path.read_bytes()
    return out


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_never_leaves_a_torn_file_or_a_lying_manifest(tmp_path: Path) -> None:
    base = tmp_path / "base"
    for i in range(SEATS):  # the users have logged on: their profile folders exist
        (base / "users" / f"s{i:03d}").mkdir(parents=True)
    (base / "fleet.yaml").write_text(fleet_text("Old Name"), encoding="utf-8")
    assert run_apply(base).wait(120) == 0
    (base / "fleet.yaml").write_text(fleet_text("New Name"), encoding="utf-8")
    before = files(base / "users")

    finished = tmp_path / "finished"
    shutil.copytree(base, finished)
    start = time.monotonic()
    assert run_apply(finished).wait(120) == 0
    duration = time.monotonic() - start
    after = files(finished / "users")
    inis = [name for name in after if name.endswith(".ini")]
    assert len(inis) == SEATS
    before_state, after_state = state(base), state(finished)
    assert sorted(after_state) == sorted(inis)

    rng = random.Random(20261126)
    killed_mid_way = 0
    early, late = 0.3 * duration, duration  # the kills are drawn between: past the loading, where the writes are
    for round_ in range(MAX_ROUNDS):
        if round_ >= ROUNDS and killed_mid_way >= 3:
            break  # seats are written in batches: a kill may need a few more tries to land inside one
        work = tmp_path / f"round{round_}"
        shutil.copytree(base, work)
        proc = run_apply(work)
        delay = rng.uniform(early, late)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        now = files(work / "users")
        new_inis = sum(now[name] == after[name] for name in inis)
        killed_mid_way += 0 < new_inis < SEATS
        # a machine busier or idler than in the timed run moves the writes: narrow the window onto them
        if new_inis == SEATS:
            late = delay
        elif new_inis == 0:
            early = delay
        for name in inis:
            assert now[name] in (before[name], after[name]), f"round {round_}: {name} is torn"
        for name, manifest in state(work).items():
            claims = managed(manifest)  # parses, so it is not torn
            if claims == managed(after_state[name]):  # the manifest claims the new apply ...
                assert now[name] == after[name], f"round {round_}: the manifest claims an unwritten {name}"
            else:
                assert manifest == before_state[name], f"round {round_}: {name}'s manifest is neither old nor new"
        assert backups_present(work), f"round {round_}: a manifest names a backup that is not there"
        # the next apply finishes the job: no conflict, no leftovers
        assert run_apply(work).wait(120) == 0
        final = files(work / "users")
        assert {n: final[n] for n in inis} == {n: after[n] for n in inis}
        assert not [n for n in final if ".provisioner-tmp-" in n]
        shutil.rmtree(work)
    assert killed_mid_way >= 3, "the kills should land in the middle of the apply several times"


def run_render(cwd: Path) -> subprocess.Popen[bytes]:
    return run_tool(cwd, "render", "fleet.yaml", "--out", "out")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_during_a_batched_render_leaves_every_file_old_or_new(tmp_path: Path) -> None:
    """render writes every temporary file, makes them durable together, then renames: kill it anywhere."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "fleet.yaml").write_text(fleet_text("Old Name"), encoding="utf-8")
    assert run_render(base).wait(120) == 0
    before = files(base / "out")
    (base / "fleet.yaml").write_text(fleet_text("New Name"), encoding="utf-8")
    finished = tmp_path / "finished"
    shutil.copytree(base, finished)
    start = time.monotonic()
    assert run_render(finished).wait(120) == 0
    duration = time.monotonic() - start
    after = files(finished / "out")
    assert before.keys() == after.keys() and len(after) == SEATS
    rng = random.Random(20261127)
    for round_ in range(ROUNDS // 2):
        work = tmp_path / f"round{round_}"
        shutil.copytree(base, work)
        proc = run_render(work)
        time.sleep(rng.uniform(0.3 * duration, duration))  # past the loading, where the writes are
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        now = {n: d for n, d in files(work / "out").items() if ".provisioner-tmp-" not in n}
        assert now.keys() == after.keys(), f"round {round_}: files appeared or vanished"
        for name, data in now.items():
            assert data in (before[name], after[name]), f"round {round_}: {name} is torn"
        assert run_render(work).wait(120) == 0  # the next render finishes the job and tidies up
        final = files(work / "out")
        assert final == after, f"round {round_}: the next render left temporaries or old bytes"
        shutil.rmtree(work)

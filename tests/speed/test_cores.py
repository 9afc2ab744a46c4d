"""Per-seat work shared with a forked child: the same answer as one core, whatever the child does."""

from __future__ import annotations

import json
import marshal
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from provisioner._speed import cores
from provisioner.errors import Loc, Problem
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only: Windows never forks")


#: Sharing from two items on, on two cores.
SMALL = cores.TwoCores(shared_from=2, cores=2)


def test_the_child_does_half_and_the_answers_keep_their_order() -> None:
    parent = os.getpid()
    done_by: list[int] = []

    def work(items: Sequence[int]) -> list[list[int]]:
        return [[item * item, os.getpid()] for item in items]

    answers = SMALL.map(list(range(10)), work)
    assert [square for square, _ in answers] == [n * n for n in range(10)]
    done_by = [pid for _, pid in answers]
    assert done_by[:5] == [parent] * 5
    assert parent not in done_by[5:]  # the second half came from the child


@pytest.mark.parametrize("how", ["raises", "killed", "garbled"])
def test_a_failing_child_leaves_its_half_to_the_parent(how: str) -> None:
    parent = os.getpid()

    def work(items: Sequence[int]) -> list[int]:
        if os.getpid() != parent:
            if how == "raises":
                raise RuntimeError("the child fails")
            if how == "killed":
                os.kill(os.getpid(), signal.SIGKILL)
            return []  # an answer of the wrong length
        return [item + 1 for item in items]

    assert SMALL.map(list(range(6)), work) == [1, 2, 3, 4, 5, 6]


def test_the_parent_failing_stops_the_child() -> None:
    parent = os.getpid()

    def work(items: Sequence[int]) -> list[int]:
        if os.getpid() == parent:
            raise KeyError("the parent fails")
        signal.pause()  # the child would wait forever
        return []

    with pytest.raises(KeyError):
        SMALL.map(list(range(4)), work)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # the child was reaped


def test_small_work_and_one_core_stay_in_this_process() -> None:
    def work(items: Sequence[int]) -> list[int]:
        return [os.getpid()] * len(items)

    assert set(cores.TwoCores(shared_from=100, cores=2).map(list(range(10)), work)) == {os.getpid()}
    assert set(cores.TwoCores(shared_from=2, cores=1).map(list(range(10)), work)) == {os.getpid()}


@pytest.mark.parametrize("warning", [False, True])
def test_a_problem_comes_back_from_the_helper_as_it_went(warning: bool) -> None:
    sent = Problem(
        Loc("fleet.yaml", 12, 7),
        "seats[a].accounts[1]",
        "a message, with 'quotes' and ünïcode",
        warning,
        code="unknown-key",
    )
    assert Problem.of_tuple(marshal.loads(marshal.dumps(sent.as_tuple()))) == sent


HELPER = """
import os, sys, time
from provisioner._speed import cores
parent = os.getpid()

def work(items):
    if os.getpid() != parent:
        with open(sys.argv[1], "w") as out:
            out.write(str(os.getpid()))
    time.sleep(60)
    return list(items)

cores.TwoCores(shared_from=2, cores=2).map([1, 2], work)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel ends the helper on Linux")
def test_the_helper_does_not_outlive_a_killed_tool(tmp_path: Path) -> None:
    told = tmp_path / "helper.pid"
    tool = subprocess.Popen([sys.executable, "-c", HELPER, str(told)], cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while not (told.exists() and told.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        helper = int(told.read_text())
    finally:
        tool.kill()
        tool.wait()
    deadline = time.monotonic() + 10
    while _running(helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(helper)


def _running(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for its new parent to reap it has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_provisioner_cores_1_keeps_everything_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVISIONER_CORES", "1")
    assert cores.cores() == 1
    shared_from_two = cores.TwoCores(shared_from=2)  # as many cores as the environment says
    assert set(shared_from_two.map(list(range(10)), lambda items: [os.getpid()] * len(items))) == {os.getpid()}
    monkeypatch.setenv("PROVISIONER_CORES", "2")
    assert cores.cores() == 2
    monkeypatch.setenv("PROVISIONER_CORES", "")  # unset or not a number: the cores this process may run on
    assert cores.cores() == len(os.sched_getaffinity(0))


LIBRARY_HOST = """
import contextlib, gc, json, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from render_scale import generate
from provisioner import api
calls = []
for name in ("freeze", "unfreeze", "enable", "disable"):  # what the library calls of the collector
    def record(*args, _real=getattr(gc, name), _name=name):
        calls.append(_name)
        return _real(*args)
    setattr(gc, name, record)
forks = []
os.register_at_fork(before=lambda: forks.append(1))
fleet = generate(Path(sys.argv[1]) / "fleet", 1200)  # over the size that shares work with a helper
os.environ["QUEUE_PW"] = "queue-secret"
root = Path(sys.argv[1]) / "root"
for i in range(1200):
    (root / "users" / f"user{i:05d}").mkdir(parents=True)
enabled = gc.isenabled()
with contextlib.ExitStack() as stack:
    if sys.argv[3] == "fast":  # what the command line's entry puts in force
        from provisioner import runner
        from provisioner._speed import Fast
        stack.enter_context(runner.using(Fast()))
    api.validate(fleet)
    api.render(fleet, Path(sys.argv[1]) / "out")
    api.apply(fleet, root=root, state=Path(sys.argv[1]) / "state")  # a first deploy checks every seat first
print(json.dumps({"collector": calls, "still enabled": gc.isenabled() == enabled, "forks": len(forks)}))
"""


def _host(tmp_path: Path, how: str) -> dict[str, object]:
    env = {**os.environ, "PROVISIONER_CORES": "2"}
    done = subprocess.run(
        [sys.executable, "-c", LIBRARY_HOST, str(tmp_path), str(REPO / "benchmarks"), how],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout)
    return found


def test_a_program_using_the_library_keeps_its_collector_and_is_never_forked(tmp_path: Path) -> None:
    """The collector tuning and the forked helper are the command line's runner's."""
    assert _host(tmp_path, "serial") == {"collector": [], "still enabled": True, "forks": 0}


def test_the_command_lines_runner_forks_and_keeps_the_collector_off(tmp_path: Path) -> None:
    """The same program with the command line's runner in force: the speed is all behind the seam."""
    found = _host(tmp_path, "fast")
    assert found["forks"] == 1  # the first deploy's check of 1,200 seats, half in a helper
    assert found["still enabled"] is True
    calls = found["collector"]
    assert isinstance(calls, list) and {"freeze", "unfreeze", "disable", "enable"} <= set(calls)

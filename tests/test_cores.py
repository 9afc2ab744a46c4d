"""Per-seat work shared with a forked child: the same answer as one core, whatever the child does."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Sequence

import pytest

from provisioner import cores
from provisioner.errors import Loc, Problem

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only: Windows never forks")


@pytest.fixture(autouse=True)
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cores, "SHARED_FROM", 2)
    monkeypatch.setattr(cores, "cores", lambda: 2)


def test_the_child_does_half_and_the_answers_keep_their_order() -> None:
    parent = os.getpid()
    done_by: list[int] = []

    def work(items: Sequence[int]) -> list[list[int]]:
        return [[item * item, os.getpid()] for item in items]

    answers = cores.shared(list(range(10)), work)
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

    assert cores.shared(list(range(6)), work) == [1, 2, 3, 4, 5, 6]


def test_the_parent_failing_stops_the_child() -> None:
    parent = os.getpid()

    def work(items: Sequence[int]) -> list[int]:
        if os.getpid() == parent:
            raise KeyError("the parent fails")
        signal.pause()  # the child would wait forever
        return []

    with pytest.raises(KeyError):
        cores.shared(list(range(4)), work)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # the child was reaped


def test_small_work_and_one_core_stay_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def work(items: Sequence[int]) -> list[int]:
        return [os.getpid()] * len(items)

    monkeypatch.setattr(cores, "SHARED_FROM", 100)
    assert set(cores.shared(list(range(10)), work)) == {os.getpid()}
    monkeypatch.setattr(cores, "SHARED_FROM", 2)
    monkeypatch.setattr(cores, "cores", lambda: 1)
    assert set(cores.shared(list(range(10)), work)) == {os.getpid()}


@pytest.mark.parametrize("warning", [False, True])
def test_a_problem_comes_back_from_the_helper_as_it_went(warning: bool) -> None:
    sent = Problem(Loc("fleet.yaml", 12, 7), "seats[a].accounts[1]", "a message, with 'quotes' and ünïcode", warning)
    assert Problem.of_tuple(json.loads(json.dumps(sent.as_tuple()))) == sent

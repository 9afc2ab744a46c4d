"""What a CI format reports: each problem, and each target plan or verify judged, as one finding.

A finding has a code, a level, a message, a place in the checkout and the case it
belongs to (the seat it is about, else its file), whichever command found it. The
formats in :mod:`provisioner.cli.ci_formats` only lay findings out.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.errors import Loc, Problem, display_path

#: ``seats[alice].accounts[1]`` -> ``alice``: the seat a problem's logical path names.
_SEAT = re.compile(r"^seats\[([^\]]+)\]")


@dataclass(frozen=True)
class Finding:
    """One thing a CI format reports."""

    code: str
    level: str  # error, warning or note (SARIF's words)
    message: str
    file: str  # relative to the base folder when below it, else absolute; "" for none
    line: int
    col: int
    case: str  # the seat it is about, else its file (JUnit's test case)
    path: str = ""  # the logical path (seats[alice].accounts[1]), when there is one


def base_folder(given: Path | None) -> Path:
    """``--base-dir``, else the top of the git work tree around the current folder, else the current folder."""
    if given is not None:
        return Path(os.path.realpath(given))
    here = Path(os.path.realpath(Path.cwd()))
    for folder in (here, *here.parents):
        if (folder / ".git").exists():  # a folder, or a worktree's file
            return folder
    return here


@functools.lru_cache(maxsize=256)
def relative(file: str, base: Path) -> str:
    """``file`` as a path below ``base`` (forward slashes), or absolute when it lies elsewhere."""
    if not file:
        return ""
    real = Path(os.path.realpath(file))
    try:
        return real.relative_to(base).as_posix()
    except ValueError:
        return real.as_posix()


def _placed(loc: Loc, base: Path) -> tuple[str, int, int]:
    return relative(loc.file, base), max(loc.line, 0), max(loc.col, 0)


def of_problems(problems: Iterable[Problem], base: Path) -> list[Finding]:
    """Each problem as a finding, in the case of the seat it names (else of its file)."""
    out = []
    for problem in problems:
        file, line, col = _placed(problem.loc, base)
        seat = _SEAT.match(problem.path)
        level = "warning" if problem.warning else "error"
        case = seat.group(1) if seat else file
        out.append(Finding(problem.code, level, problem.message, file, line, col, case, problem.path))
    return out


def of_result(result: Any, base: Path) -> list[Finding]:
    """The findings of a plan or verify result: its warnings, then each seat's targets (each placed at its
    seat in the fleet file, worked out only for a seat with something to report)."""
    seats = {seat.id: seat for seat in result.fleet.seats}
    out = of_problems(result.warnings, base)
    for report in result.seats:
        judged = list(_judged(report, result.verified))
        seat = seats.get(report.seat_id)
        file, line, col = _placed(seat.source.loc(()), base) if judged and seat else ("", 0, 0)
        for code, level, message in judged:
            out.append(Finding(code, level, message, file, line, col, report.seat_id, f"seats[{report.seat_id}]"))
    return out


def _judged(report: Any, verified: bool) -> Iterator[tuple[str, str, str]]:
    """``(code, level, message)`` for each thing plan or verify found about one seat."""
    if report.error:
        yield "seat-failed", "error", report.error
    if report.waiting:
        yield "waiting", "note", report.waiting
    for drift in report.drift:
        where = f"{drift.key}: " if drift.key else ""
        yield "drift", "error", f"{display_path(str(drift.file))}: {where}{drift.message}"
    if report.plan is None or verified:
        return
    for change in report.plan.files:
        path = display_path(str(change.path))
        for conflict in change.conflicts:
            yield "conflict", "error", f"{path}: {conflict}"
        if change.pending and change.action != "conflict":
            yield "pending", "note", f"apply would {change.action} {path}"
    for refused in report.plan.refused:
        yield "refused", "error", f"{display_path(str(refused.path))}: {refused.why}"


def failure(message: str) -> Finding:
    """A command that failed as a whole (a lock held, a folder it cannot write)."""
    return Finding("command-failed", "error", message, "", 0, 0, "command")

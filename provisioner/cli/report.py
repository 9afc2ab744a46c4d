"""What plan, apply and verify print: one line a target, a status word coloured, a summary, a progress bar."""

from __future__ import annotations

import os
import sys
from collections import Counter
from typing import Any

import click

from provisioner.errors import Problem, display_path


def print_warnings(warnings: list[Problem]) -> None:
    """Each warning on its own line, on stderr."""
    for problem in warnings:
        click.echo(str(problem), err=True)


def row_json(row: Any) -> dict[str, str]:
    """One row of ``explain`` as JSON."""
    return {"path": row.path, "value": row.value, "origin": row.origin, "layer": row.layer}


def plural(count: int, word: str) -> str:
    """``1 seat``, ``2 seats``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def aligned(rows: list[list[str]]) -> list[str]:
    """Rows as lines whose columns line up however long a value is (the last column is not padded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)] if rows else []
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]) for row in rows]


#: How much plan, apply and verify print: the summary only, changes (default), or everything.
QUIET, NORMAL, VERBOSE = 0, 1, 2


#: The colour of each status word, where a terminal shows colour (never with NO_COLOR set).
COLOURS = {
    "create": "green",
    "update": "yellow",
    "overwrite": "yellow",
    "conflict": "red",
    "failed": "red",
    "drift": "red",
    "waiting": "cyan",
    "unchanged": "bright_black",
}


def paint(text: str) -> str:
    """``text`` with its leading status word coloured (click drops colour when output is not a terminal)."""
    word = text.split(" ", 1)[0]
    if word not in COLOURS or os.environ.get("NO_COLOR"):
        return text
    return click.style(word, fg=COLOURS[word]) + text[len(word) :]


def say(level: int, needed: int, text: str, *, err: bool = False) -> None:
    """Print ``text`` when the chosen ``level`` reaches ``needed``; a problem (``err``) always goes to stderr,
    at every level, so that scripts find failures on one stream whatever they asked for."""
    if level >= needed or err:
        click.echo(paint(text), err=err)


def print_plan(result: Any, level: int) -> dict[str, int]:
    """Each seat's files as plan sees them; returns how many seats have each status."""
    counts = Counter(report.status for report in result.seats)
    for report in result.seats:
        if report.plan is None:
            word = report.status
            say(level, NORMAL, f"{word:<10} {report.seat_id}: {report.waiting or report.error}", err=word == "failed")
            continue
        for change in report.plan.files:
            _print_planned_file(report.seat_id, change, level)
        _print_refused(report, level)
        if report.error:
            say(level, NORMAL, f"failed     {report.seat_id}: {report.error}", err=True)
    return counts


def _print_planned_file(seat_id: str, change: Any, level: int) -> None:
    """One file of a seat's plan: its action, notes, conflicts and diff."""
    line = f"{change.action:<10} {seat_id:<20} {display_path(str(change.path))}"
    say(level, VERBOSE if change.action == "unchanged" else NORMAL, line, err=change.action == "conflict")
    for note in change.notes:  # what a change does; unchanged targets' notes are --verbose
        say(level, NORMAL if change.pending else VERBOSE, f"  note: {note}")
    for note in change.details:
        say(level, VERBOSE, f"  note: {note}")
    for conflict in change.conflicts:
        say(level, NORMAL, f"  conflict: {conflict}", err=True)
    if change.diff:
        for diff_line in change.diff.splitlines():
            say(level, NORMAL, f"  {diff_line}")


def _print_refused(report: Any, level: int) -> None:
    """Each file of the seat left out because it cannot be reached safely (the others go on)."""
    for refused in report.plan.refused:
        say(level, NORMAL, f"{'refused':<10} {report.seat_id:<20} {display_path(str(refused.path))}", err=True)
        say(level, NORMAL, f"  why: {refused.why}", err=True)


def summary(counts: dict[str, int]) -> str:
    """Plan's summary, in seats: ``3 seats: 1 to create, 1 to update, 1 unchanged, 0 in conflict``."""
    parts = [
        f"{counts['create']} to create",
        f"{counts['update']} to update",
        f"{counts['unchanged']} unchanged",
        f"{counts['conflict']} in conflict",
    ]
    parts += _rare(counts)
    return f"{plural(sum(counts.values()), 'seat')}: " + ", ".join(parts)


def _rare(counts: dict[str, int]) -> list[str]:
    """The summary's words for statuses said only when a seat has them."""
    words = {"partial": "with a refused file", "waiting": "waiting for a first logon", "failed": "failed"}
    return [f"{counts[word]} {text}" for word, text in words.items() if counts.get(word)]


def print_left(result: Any, level: int) -> str:
    """The seats that left the fleet (what apply --prune did with each); the summary's words for them."""
    retired = 0
    for leaver in result.left:
        if leaver.outcome is not None:
            retired += 1
            word, did = ("retire", "would take") if result.dry_run else ("retired", "took")
            say(level, NORMAL, f"{word:<10} {leaver.seat_id}: left the fleet; {did} back what the tool made")
            for path, what in leaver.outcome.done:
                say(level, NORMAL, f"  {display_path(str(path))}: {what}")
        elif result.pruned and leaver.problem:
            say(
                level,
                NORMAL,
                f"{'failed':<10} {leaver.seat_id}: left the fleet, cannot be retired: {leaver.problem}",
                err=True,
            )
        else:
            say(level, NORMAL, f"{'left':<10} {leaver.seat_id}: {leaver.message}")
            if leaver.problem:
                say(level, NORMAL, f"  cannot be retired: {leaver.problem}")
    if retired:
        return f", {retired} left the fleet ({'to retire' if result.dry_run else 'retired'})"
    return f", {plural(len(result.left), 'seat')} left the fleet" if result.left else ""


def output_level(verbose: bool, quiet: bool) -> int:
    if verbose and quiet:
        raise click.UsageError("--verbose and --quiet cannot be used together")
    return VERBOSE if verbose else QUIET if quiet else NORMAL


class ProgressBar:
    """A progress bar on the terminal for long applies (none when output is not a TTY)."""

    THRESHOLD = 20

    def __init__(self, label: str = "applying") -> None:
        self.bar: Any = None
        self.label = label

    def __call__(self, done: int, total: int) -> None:
        if total < self.THRESHOLD:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _print_applied_seat(report: Any, level: int) -> None:
    """The files apply wrote (or found unchanged) for one seat, the refused ones, and the backups."""
    for change in report.plan.files:
        _print_applied_file(report.seat_id, change, report.outcome.status, level)
    _print_refused(report, level)
    for backup in report.outcome.backups:
        say(level, VERBOSE, f"  backup: {display_path(str(backup))}")


def _print_applied_file(seat_id: str, change: Any, status: str, level: int) -> None:
    """One file of a seat that apply judged: its conflicts, what was written, or unchanged."""
    path = display_path(str(change.path))
    if status == "conflict":
        for conflict in change.conflicts:
            say(level, NORMAL, f"conflict   {seat_id}: {path}: {conflict}", err=True)
    elif change.pending:
        word = "overwrite" if change.action == "conflict" else change.action  # --force wrote it
        say(level, NORMAL, f"{word:<10} {seat_id:<20} {path}")
        for note in change.notes:
            say(level, NORMAL, f"  note: {note}")
        for note in change.details:
            say(level, VERBOSE, f"  note: {note}")
    else:
        say(level, VERBOSE, f"{'unchanged':<10} {seat_id:<20} {path}")


def print_apply(result: Any, level: int) -> None:
    """Each seat's written files (conflicts and failures on stderr), then the summary, in seats."""
    counts = Counter(report.status for report in result.seats)
    for report in result.seats:
        if report.error:
            say(level, NORMAL, f"failed     {report.seat_id}: {report.error}", err=True)
        elif report.waiting:
            say(level, NORMAL, f"waiting    {report.seat_id}: {report.waiting}")
        else:
            _print_applied_seat(report, level)
    done = "to write" if result.dry_run else "written"
    parts = [f"{plural(counts['applied'], 'seat')} {done}", f"{counts['unchanged']} unchanged"]
    parts += [f"{counts['conflict']} in conflict", *_rare({**counts, "failed": 0})]
    summary = ", ".join([*parts, f"{counts['failed']} failed (of {len(result.seats)})"]) + print_left(result, level)
    click.echo(("dry run: " if result.dry_run else "apply: ") + summary)
    if counts["conflict"]:
        click.echo(
            "conflicts: someone changed managed keys since the last apply; --force overwrites them, "
            "--keep-user SECTION.KEY keeps the user's value this time, `unmanage:` in the fleet for good",
            err=True,
        )

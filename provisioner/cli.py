"""The ``provisioner`` command line: a thin click layer over :mod:`provisioner.api`.

Each command parses its options, makes one call into the API, and prints the
result. Exit codes follow the contract: 0 ok, 1 drift/pending, 2 bad input,
3 deploy failed, 4 internal error (one line plus the path of a log file holding
the traceback). No traceback ever reaches the terminal.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from provisioner import __version__
from provisioner.errors import FleetError, Problem, ProvisionerError

F = TypeVar("F", bound=Callable[..., Any])


def _json_out(document: dict[str, Any]) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _problems_json(errors: list[Problem], warnings: list[Problem]) -> dict[str, Any]:
    return {
        "ok": not errors,
        "errors": [p.as_json() for p in errors],
        "warnings": [p.as_json() for p in warnings],
    }


def _crash_folder() -> Path:
    """A folder only we can enter: ``$PROVISIONER_LOG_DIR``, else the user's state folder.

    The folder is opened without following a link and must belong to us; a
    group- or world-accessible one is made private on its descriptor. Anything else
    falls back to a fresh private folder with an unpredictable name.
    """
    if os.environ.get("PROVISIONER_LOG_DIR"):
        folder = Path(os.environ["PROVISIONER_LOG_DIR"])
    elif sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        folder = Path(os.environ.get("LOCALAPPDATA") or tempfile.gettempdir()) / "microsip-provisioner" / "crashes"
    else:
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        folder = Path(state) / "microsip-provisioner" / "crashes"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if sys.platform != "win32":
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                st = os.fstat(fd)
                if st.st_uid != os.geteuid():
                    raise PermissionError(f"{folder} belongs to another user")
                if st.st_mode & 0o077:
                    os.fchmod(fd, 0o700)
            finally:
                os.close(fd)
        return folder
    except (OSError, RuntimeError):
        return Path(tempfile.mkdtemp(prefix="microsip-provisioner-crash-"))


def _crash_log(exc: BaseException) -> Path:
    """Write the traceback to a new 0600 file with an unpredictable name; secrets are masked."""
    from provisioner.secrets import redact

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    argv = []
    hide_next = False
    for token in sys.argv:
        if hide_next:
            token, hide_next = "********", False
        elif token.split("=", 1)[0] == "--password":
            hide_next = token in ("--password", "--password=")
            token = "--password=********" if "=" in token else token
        argv.append(token)
    text = f"microsip-provisioner {__version__}, Python {sys.version}\nargv: {argv!r}\n\n" + "".join(
        traceback.format_exception(exc)
    )
    folder = _crash_folder()
    fd, name = tempfile.mkstemp(prefix=f"crash-{stamp}-", suffix=".log", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as handle:
        handle.write(redact(text))
    return Path(name)


def handle_errors(json_errors: bool = False, writes: bool = True) -> Callable[[F], F]:
    """Map exceptions to the contract's exit codes and one-line messages.

    ``writes``: the command writes files, so its errors end with "nothing was written".
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            as_json = json_errors and kwargs.get("output_format") == "json"
            try:
                return func(*args, **kwargs)
            except FleetError as exc:
                if as_json:
                    _json_out(_problems_json(exc.errors, exc.warnings))
                else:
                    for problem in [*exc.errors, *exc.warnings]:
                        click.echo(str(problem), err=True)
                    count = len(exc.errors)
                    tail = "; nothing was written" if writes else ""
                    click.echo(f"{count} error{'s' if count != 1 else ''}{tail}", err=True)
                sys.exit(exc.exit_code)
            except ProvisionerError as exc:
                if as_json:
                    _json_out(
                        {
                            "ok": False,
                            "errors": [{"file": "", "line": 0, "column": 0, "path": "", "message": str(exc)}],
                            "warnings": [],
                        }
                    )
                else:
                    click.echo(f"error: {exc}", err=True)
                sys.exit(exc.exit_code)
            except KeyboardInterrupt:
                click.echo("interrupted", err=True)
                sys.exit(130)
            except BrokenPipeError:  # output piped into `head` and the like
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                sys.exit(141)
            except (click.exceptions.Exit, click.ClickException, SystemExit):
                raise
            except OSError as exc:  # a path the system refused that no layer above worded: I/O, not a bug
                where = str(exc.filename or "")
                where = f"{where[:80]}...: " if len(where) > 80 else f"{where}: " if where else ""
                click.echo(f"error: {where}{exc.strerror or exc}", err=True)
                sys.exit(3)
            except Exception as exc:
                try:
                    log: Path | str = _crash_log(exc)
                except Exception:  # the log cannot be written: still one line, no traceback
                    log = "nowhere (the crash log could not be written)"
                click.echo(
                    f"internal error: {type(exc).__name__}; this is a bug -- details in {log}",
                    err=True,
                )
                sys.exit(4)

        return wrapper  # type: ignore[return-value]

    return decorate


fleet_argument = click.argument("fleet", type=click.Path(path_type=Path, dir_okay=False))
format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format; json prints one document on stdout.",
)
seat_option = click.option("--seat", "seats", multiple=True, metavar="ID", help="Only this seat (repeatable).")
strict_option = click.option("--strict", is_flag=True, help="Treat warnings as errors.")


def _print_warnings(warnings: list[Problem]) -> None:
    for problem in warnings:
        click.echo(str(problem), err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="microsip-provisioner")
def main() -> None:
    """Provision fleets of the MicroSIP softphone from one YAML file."""


@main.command()
@fleet_argument
@strict_option
@click.option("--secrets", is_flag=True, help="Also check that every secret resolves (files exist, not empty).")
@click.option("--targets", "check_targets", is_flag=True, help="Also check that every target root exists here.")
@format_option
@handle_errors(json_errors=True, writes=False)
def validate(fleet: Path, strict: bool, secrets: bool, check_targets: bool, output_format: str) -> None:
    """Load, merge and check a fleet (targets resolved on paper); report every problem in one pass."""
    from provisioner import api

    result = api.validate(fleet, strict=strict, secrets=secrets, check_targets=check_targets)
    seats = result.fleet.seats
    if output_format == "json":
        _json_out(
            {
                **_problems_json([], result.warnings),
                "fleet": result.fleet.name,
                "microsip": result.fleet.version,
                "seats": [s.id for s in seats],
            }
        )
        return
    _print_warnings(result.warnings)
    asked = [what for what, on in (("secrets resolved", secrets), ("target roots exist", check_targets)) if on]
    checked = f" ({', '.join(asked)})" if asked else ""
    click.echo(
        f"ok: fleet {result.fleet.name!r}, {len(seats)} seat{'s' if len(seats) != 1 else ''}, "
        f"MicroSIP {result.fleet.version}{checked}"
    )


@main.command()
@fleet_argument
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False), help="Output folder.")
@seat_option
@strict_option
@handle_errors()
def render(fleet: Path, out: Path, seats: tuple[str, ...], strict: bool) -> None:
    """Write each seat's files under OUT/<seat id>/ (all are rendered before any is written)."""
    from provisioner import api

    result = api.render(fleet, out, seat_ids=list(seats) or None, strict=strict)
    _print_warnings(result.fleet.warnings)
    for path in result.written:
        click.echo(f"wrote {path}")
    click.echo(f"{len(result.written)} file{'s' if len(result.written) != 1 else ''} written")


@main.command()
@fleet_argument
@format_option
@handle_errors(json_errors=True, writes=False)
def seats(fleet: Path, output_format: str) -> None:
    """List the fleet's seats: id, user, target and profiles."""
    from provisioner import api

    rows, warnings = api.seats(fleet)
    if output_format == "json":
        _json_out({**_problems_json([], warnings), "seats": [row.__dict__ for row in rows]})
        return
    _print_warnings(warnings)
    width = max([len(row.id) for row in rows] + [2])
    user_width = max([len(row.user) for row in rows] + [4])
    target_width = max([len(row.target) for row in rows] + [6])
    click.echo(f"{'id':<{width}}  {'user':<{user_width}}  {'target':<{target_width}}  profiles")
    for row in rows:
        profiles = ", ".join(row.profiles) or "-"
        computer = f"  (on {row.computer} only)" if row.computer else ""
        click.echo(f"{row.id:<{width}}  {row.user:<{user_width}}  {row.target:<{target_width}}  {profiles}{computer}")
    click.echo(_plural(len(rows), "seat"))


@main.command()
@fleet_argument
@click.option("--seat", "seats", required=True, multiple=True, metavar="ID", help="The seat to explain (repeatable).")
@format_option
@handle_errors(json_errors=True, writes=False)
def explain(fleet: Path, seats: tuple[str, ...], output_format: str) -> None:
    """Show a seat's effective values and the file:line that set each (secrets masked)."""
    from provisioner import api

    explained = api.explain(fleet, list(seats))
    if output_format == "json":
        _json_out(
            {
                **_problems_json([], explained.warnings),
                **({"seat": explained.seats[0][0].id} if len(explained.seats) == 1 else {}),
                **({"values": [_row_json(r) for r in explained.seats[0][1]]} if len(explained.seats) == 1 else {}),
                "seats": [{"seat": seat.id, "values": [_row_json(r) for r in rows]} for seat, rows in explained.seats],
            }
        )
        return
    labels = tuple(f"seats[{found.id}]" for found, _ in explained.seats)  # other seats' warnings are not asked for
    _print_warnings([w for w in explained.warnings if w.path.startswith(labels) or not w.path.startswith("seats[")])
    for index, (found, rows) in enumerate(explained.seats):
        if index:
            click.echo("")
        click.echo(f"seat {found.id} -> {found.ini_name} ({found.install_mode})")
        width = max(len(r.path) for r in rows)
        value_width = min(40, max(len(r.value) for r in rows))
        for row in rows:
            click.echo(f"  {row.path:<{width}}  {row.value:<{value_width}}  {row.origin} ({row.layer})")


def _row_json(row: Any) -> dict[str, str]:
    return {"path": row.path, "value": row.value, "origin": row.origin, "layer": row.layer}


root_option = click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    help="Re-root every relative target path under DIR (for a scratch tree).",
)
state_option = click.option(
    "--state",
    type=click.Path(path_type=Path, file_okay=False),
    help="The admin's state folder: manifests, backups, locks "
    "(default: $PROVISIONER_STATE, else .provisioner-state beside the fleet).",
)


def _plural(count: int, word: str) -> str:
    """``1 seat``, ``2 seats``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


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


def _paint(text: str) -> str:
    """``text`` with its leading status word coloured (click drops colour when output is not a terminal)."""
    word = text.split(" ", 1)[0]
    if word not in COLOURS or os.environ.get("NO_COLOR"):
        return text
    return click.style(word, fg=COLOURS[word]) + text[len(word) :]


def _say(level: int, needed: int, text: str, *, err: bool = False) -> None:
    """Print ``text`` when the chosen ``level`` reaches ``needed``; problems still reach stderr when quiet."""
    if level >= needed:
        click.echo(_paint(text))
    elif err:
        click.echo(_paint(text), err=True)


def _print_plan(result: Any, level: int) -> dict[str, int]:
    from provisioner.errors import display_path

    counts = {"create": 0, "update": 0, "unchanged": 0, "conflict": 0, "failed": 0, "waiting": 0}
    for report in result.seats:
        if report.plan is None:
            word = "waiting" if report.waiting else "failed"
            counts[word] += 1
            _say(level, NORMAL, f"{word:<10} {report.seat_id}: {report.waiting or report.error}", err=word == "failed")
            continue
        for change in report.plan.files:
            counts[change.action] += 1
            line = f"{change.action:<10} {report.seat_id:<20} {display_path(str(change.path))}"
            _say(level, VERBOSE if change.action == "unchanged" else NORMAL, line, err=change.action == "conflict")
            for note in change.notes:  # what a change does; unchanged targets' notes are --verbose
                _say(level, NORMAL if change.pending else VERBOSE, f"  note: {note}")
            for note in change.details:
                _say(level, VERBOSE, f"  note: {note}")
            for conflict in change.conflicts:
                _say(level, NORMAL, f"  conflict: {conflict}", err=True)
            if change.diff:
                for diff_line in change.diff.splitlines():
                    _say(level, NORMAL, f"  {diff_line}")
        if report.error:
            counts["failed"] += 1
            _say(level, NORMAL, f"  failed: {report.error}", err=True)
    return counts


def _summary(counts: dict[str, int]) -> str:
    parts = [
        f"{counts['create']} to create",
        f"{counts['update']} to update",
        f"{counts['unchanged']} unchanged",
        f"{counts['conflict']} in conflict",
    ]
    if counts["waiting"]:
        parts.append(f"{counts['waiting']} waiting for a first logon")
    if counts["failed"]:
        parts.append(f"{counts['failed']} failed")
    return ", ".join(parts)


def _level(verbose: bool, quiet: bool) -> int:
    if verbose and quiet:
        raise click.UsageError("--verbose and --quiet cannot be used together")
    return VERBOSE if verbose else QUIET if quiet else NORMAL


keep_user_option = click.option(
    "--keep-user",
    "keep_user",
    multiple=True,
    metavar="SECTION.KEY",
    help="Keep the user's value of this managed key this time (repeatable); `unmanage:` keeps it for good.",
)


afresh_option = click.option(
    "--afresh",
    is_flag=True,
    help="Render and judge every seat, even one whose manifest shows it unchanged since the last run.",
)
verbose_option = click.option("--verbose", "-v", is_flag=True, help="Also list unchanged targets, notes and backups.")
quiet_option = click.option(
    "--quiet", "-q", is_flag=True, help="Print the summary only (failures and conflicts still go to stderr)."
)


@main.command()
@fleet_argument
@seat_option
@root_option
@state_option
@format_option
@click.option("--exit-code", is_flag=True, help="Exit 1 when changes are pending.")
@click.option("--rotate-passwords", is_flag=True, help="Plan to replace passwords already on disk.")
@keep_user_option
@afresh_option
@verbose_option
@quiet_option
@handle_errors(json_errors=True, writes=False)
def plan(
    fleet: Path,
    seats: tuple[str, ...],
    root: Path | None,
    state: Path | None,
    output_format: str,
    exit_code: bool,
    rotate_passwords: bool,
    keep_user: tuple[str, ...],
    afresh: bool,
    verbose: bool,
    quiet: bool,
) -> None:
    """Show what apply would change on each target, with diffs (secrets masked).

    Only changes are listed, then a summary; --verbose adds unchanged targets and notes
    (and judges every seat afresh, so that it can say what was kept).
    """
    from provisioner import api

    level = _level(verbose, quiet)
    result = api.plan(
        fleet,
        seat_ids=list(seats) or None,
        root=root,
        rotate_passwords=rotate_passwords,
        keep_user=list(keep_user),
        state=state,
        judge_afresh=afresh or verbose,
    )
    code = result.exit_code(pending_is_failure=exit_code)
    if output_format == "json":
        _json_out(result.as_json(code))
    else:
        _print_warnings(result.warnings)
        click.echo(f"plan: {_summary(_print_plan(result, level))}")
    sys.exit(code)


@main.command()
@fleet_argument
@seat_option
@root_option
@state_option
@click.option("--dry-run", is_flag=True, help="Walk the whole apply, write nothing; exit 1 if changes are pending.")
@click.option("--force", is_flag=True, help="Overwrite targets in conflict (their old bytes are backed up).")
@click.option("--rotate-passwords", is_flag=True, help="Replace passwords already on disk.")
@keep_user_option
@click.option("--no-backup", is_flag=True, help="Do not keep the previous bytes (rollback then cannot restore).")
@afresh_option
@format_option
@verbose_option
@quiet_option
@handle_errors(json_errors=True)
def apply(
    fleet: Path,
    seats: tuple[str, ...],
    root: Path | None,
    state: Path | None,
    dry_run: bool,
    force: bool,
    rotate_passwords: bool,
    keep_user: tuple[str, ...],
    no_backup: bool,
    afresh: bool,
    output_format: str,
    verbose: bool,
    quiet: bool,
) -> None:
    """Deploy: merge into existing files, back up, replace atomically, record a manifest."""
    from provisioner import api

    level = _level(verbose, quiet)
    kwargs: dict[str, Any] = {
        "seat_ids": list(seats) or None,
        "root": root,
        "state": state,
        "dry_run": dry_run,
        "force": force,
        "rotate_passwords": rotate_passwords,
        "keep_user": list(keep_user),
        "backup": not no_backup,
        "diffs": output_format == "json",
        "judge_afresh": afresh or verbose,
    }
    bar = _ProgressBar() if output_format == "text" and sys.stderr.isatty() else None
    try:
        result = api.apply(fleet, progress=bar, **kwargs)
    finally:
        if bar is not None:
            bar.close()
    code = result.exit_code(pending_is_failure=dry_run)
    if output_format == "json":
        _json_out(result.as_json(code))
    else:
        _print_warnings(result.warnings)
        _print_apply(result, level)
    sys.exit(code)


class _ProgressBar:
    """A progress bar on the terminal for long applies (none when output is not a TTY)."""

    THRESHOLD = 20

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if total < self.THRESHOLD:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="applying", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _print_apply(result: Any, level: int) -> None:
    from provisioner.errors import display_path

    counts = {"applied": 0, "unchanged": 0, "conflict": 0, "failed": 0, "waiting": 0}
    for report in result.seats:
        if report.error:
            counts["failed"] += 1
            _say(level, NORMAL, f"failed     {report.seat_id}: {report.error}", err=True)
            continue
        if report.waiting:
            counts["waiting"] += 1
            _say(level, NORMAL, f"waiting    {report.seat_id}: {report.waiting}")
            continue
        assert report.outcome is not None and report.plan is not None
        status = report.outcome.status
        counts[status] = counts.get(status, 0) + 1
        for change in report.plan.files:
            if status == "conflict":
                for conflict in change.conflicts:
                    line = f"conflict   {report.seat_id}: {display_path(str(change.path))}: {conflict}"
                    _say(level, NORMAL, line, err=True)
            elif change.pending:
                word = "overwrite" if change.action == "conflict" else change.action  # --force wrote it
                _say(level, NORMAL, f"{word:<10} {report.seat_id:<20} {display_path(str(change.path))}")
                for note in change.notes:
                    _say(level, NORMAL, f"  note: {note}")
                for note in change.details:
                    _say(level, VERBOSE, f"  note: {note}")
            else:
                _say(level, VERBOSE, f"{'unchanged':<10} {report.seat_id:<20} {display_path(str(change.path))}")
        for backup in report.outcome.backups:
            _say(level, VERBOSE, f"  backup: {display_path(str(backup))}")
    done = "to write" if result.dry_run else "written"
    waiting = f", {counts['waiting']} waiting for a first logon" if counts["waiting"] else ""
    summary = (
        f"{_plural(counts['applied'], 'seat')} {done}, {counts['unchanged']} unchanged, "
        f"{counts['conflict']} in conflict{waiting}, {counts['failed']} failed (of {len(result.seats)})"
    )
    click.echo(("dry run: " if result.dry_run else "apply: ") + summary)
    if counts["conflict"]:
        click.echo(
            "conflicts: someone changed managed keys since the last apply; --force overwrites them, "
            "--keep-user SECTION.KEY keeps the user's value this time, `unmanage:` in the fleet for good",
            err=True,
        )


@main.command()
@fleet_argument
@seat_option
@root_option
@state_option
@afresh_option
@format_option
@verbose_option
@quiet_option
@handle_errors(json_errors=True, writes=False)
def verify(
    fleet: Path,
    seats: tuple[str, ...],
    root: Path | None,
    state: Path | None,
    afresh: bool,
    output_format: str,
    verbose: bool,
    quiet: bool,
) -> None:
    """Compare deployed files with the fleet; exit 1 on drift."""
    from provisioner import api
    from provisioner.errors import display_path

    level = _level(verbose, quiet)
    result = api.verify(fleet, seat_ids=list(seats) or None, root=root, state=state, judge_afresh=afresh)
    drifted = [r for r in result.seats if r.drift]
    code = result.exit_code()
    if output_format == "json":
        _json_out(result.as_json(code))
    else:
        _print_warnings(result.warnings)
        for report in result.seats:
            if report.error:
                _say(level, NORMAL, f"failed  {report.seat_id}: {report.error}", err=True)
            if report.waiting:
                _say(level, NORMAL, f"waiting {report.seat_id}: {report.waiting}")
            for drift in report.drift:
                where = f"{drift.key}: " if drift.key else ""
                line = f"drift   {report.seat_id}: {display_path(str(drift.file))}: {where}{drift.message}"
                _say(level, NORMAL, line)
            if not (report.error or report.waiting or report.drift):
                _say(level, VERBOSE, f"in sync {report.seat_id}")
        click.echo(f"verify: {len(drifted)} of {_plural(len(result.seats), 'seat')} drifted")
    sys.exit(code)


@main.command()
@fleet_argument
@click.option("--seat", "seats", required=True, multiple=True, metavar="ID", help="A seat to roll back (repeatable).")
@root_option
@state_option
@click.option("--dry-run", is_flag=True, help="Say what would be restored; change nothing.")
@click.option("--list", "list_only", is_flag=True, help="List the seat's backups (newest first); change nothing.")
@click.option(
    "--to", "to", metavar="STAMP|BACKUP", help="Go back to the backups taken at STAMP, or to one BACKUP (see --list)."
)
@handle_errors()
def rollback(
    fleet: Path,
    seats: tuple[str, ...],
    root: Path | None,
    state: Path | None,
    dry_run: bool,
    list_only: bool,
    to: str | None,
) -> None:
    """Undo the seat's last apply: managed keys back to their earlier values, MicroSIP's own state kept."""
    from provisioner import api
    from provisioner.errors import display_path

    result = api.rollback(fleet, list(seats), root=root, state=state, dry_run=dry_run, to=to, list_only=list_only)
    if list_only:
        for seat_id, entries in result.backups.items():
            click.echo(f"seat {seat_id}: {len(entries)} backup{'s' if len(entries) != 1 else ''}")
            for entry in entries:
                mark = "  (the last apply's: plain rollback restores it)" if entry.last_apply else ""
                click.echo(f"  {entry.stamp}  {entry.file}  {entry.name}{mark}")
    for outcome in result.seats:
        if outcome.nothing:
            click.echo(f"seat {outcome.seat_id}: {outcome.nothing}")
            continue
        for path, what in outcome.restored:
            click.echo(f"{display_path(str(path))}: {'would be ' if dry_run else ''}{what}")
        count = len(outcome.restored)
        verb = "would be rolled back" if dry_run else "rolled back"
        click.echo(f"rollback: {count} file{'s' if count != 1 else ''} of seat {outcome.seat_id} {verb}")
    for seat_id, why in result.errors:
        click.echo(f"failed     {seat_id}: {why}", err=True)
    if result.errors:
        sys.exit(3)


@main.command()
@fleet_argument
@click.option("--seat", "seat", required=True, metavar="ID", help="The seat to bundle.")
@click.option(
    "--microsip",
    required=True,
    type=click.Path(path_type=Path),
    help="A MicroSIP distribution: the unpacked folder or its release zip.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="A new folder, or a .zip file.")
@click.option(
    "--instances",
    type=click.Choice(["single", "per-account"]),
    default="single",
    show_default=True,
    help="per-account: one side-by-side MicroSIP copy per account.",
)
@click.option("--no-passwords", is_flag=True, help="Leave passwords empty for the user to type.")
@handle_errors()
def bundle(fleet: Path, seat: str, microsip: Path, out: Path, instances: str, no_passwords: bool) -> None:
    """Build a portable MicroSIP folder (or .zip) for one seat, ready for a USB stick."""
    from provisioner import api

    result = api.bundle(fleet, seat, microsip, out, instances=instances, passwords=not no_passwords)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"wrote {out} ({len(result.files)} files)")


@main.command()
@fleet_argument
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False), help="The share's folder.")
@click.option("--no-passwords", is_flag=True, help="Leave passwords out; each user types theirs into MicroSIP once.")
@handle_errors()
def publish(fleet: Path, out: Path, no_passwords: bool) -> None:
    """Write a distribution point that Windows PCs apply at logon (agent, logon.cmd, seats)."""
    from provisioner import api

    result = api.publish(fleet, out, passwords=not no_passwords)
    _print_warnings(result.warnings)
    for line in result.skipped:
        click.echo(line)
    for folder in result.removed:
        click.echo(f"removed {folder} (no longer in the fleet)")
    click.echo(f"published {len(result.seats)} seat{'s' if len(result.seats) != 1 else ''} to {out}")
    if result.seats and not no_passwords:
        click.echo(
            f"next: run {out / 'acl.cmd'} on the file server -- each seat folder holds a plain-text password "
            "and must be readable by its user only",
            err=True,
        )


@main.command()
@click.argument("share", type=click.Path(path_type=Path, file_okay=False))
@format_option
@handle_errors(json_errors=True, writes=False)
def status(share: Path, output_format: str) -> None:
    """The rollout: each published seat applied, stale, deferred, failed or never seen; exit 1 until all applied."""
    from provisioner import api

    seats = api.status(share)
    pending = [s for s in seats if not s.current]
    if output_format == "json":
        _json_out(
            {
                "ok": not pending,
                "errors": [],
                "warnings": [],
                "seats": [
                    {
                        "seat": s.seat,
                        "user": s.user,
                        "computer": s.computer,
                        "generation": s.generation,
                        "state": s.state,
                        "reports": [r.__dict__ for r in s.reports],
                    }
                    for s in seats
                ],
            }
        )
    else:
        for s in seats:
            click.echo(f"{s.state:<11} {s.seat:<20} {s.user}{'@' + s.computer if s.computer else ''}")
            for r in s.reports:
                if r.result != "applied" or r.generation != s.generation:
                    click.echo(f"  {r.computer}: {r.result} {r.generation} at {r.time}: {r.message}")
        counts: dict[str, int] = {}
        for s in seats:
            counts[s.state] = counts.get(s.state, 0) + 1
        click.echo(
            "status: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
            if seats
            else "status: no seats"
        )
    if pending:
        sys.exit(1)


@main.command("import")
@click.argument("inis", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--name", default="imported", show_default=True, help="The fleet's name.")
@click.option(
    "--code-page",
    type=int,
    default=1252,
    show_default=True,
    help="The PCs' Windows ANSI code page: MicroSIP reads an ini without a BOM in it.",
)
@handle_errors(writes=False)
def import_(inis: tuple[Path, ...], name: str, code_page: int) -> None:
    """Turn existing microsip.ini files into a fleet YAML on stdout."""
    from provisioner import api

    result = api.import_inis(list(inis), name=name, code_page=code_page)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(result.yaml, nl=False)


@main.command("translate-flags", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@handle_errors(writes=False)
def translate_flags(args: tuple[str, ...]) -> None:
    """Translate legacy --user/--dn/... flags into fleet YAML and a real launch.args.

    Write the flags after `--`: provisioner translate-flags -- --dn "John Doe" --autoanswer 1
    """
    from provisioner import api

    result = api.translate_flags(list(args))
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(result.yaml, nl=False)


@main.command()
@click.argument("name", required=False)
@format_option
@handle_errors(writes=False)
def keys(name: str | None, output_format: str) -> None:
    """The MicroSIP key catalogue: section, type, default, allowed values, versions."""
    from provisioner import api

    found = api.keys(name)
    if output_format == "json":
        click.echo(json.dumps([k.__dict__ for k in found], indent=2, default=list, ensure_ascii=False))
        return
    if name is None:
        click.echo(f"{'key':<22} {'section':<9} {'type':<7} {'default':<24} versions")
        for k in found:
            flags = " (runtime)" if k.runtime_rewritten else " (legacy)" if k.legacy else ""
            default = "" if k.default is None else json.dumps(k.default, ensure_ascii=False)
            click.echo(f"{k.name:<22} {k.section:<9} {k.type:<7} {default[:24]:<24} {' '.join(k.versions)}{flags}")
        click.echo(f"{len(found)} keys; `provisioner keys NAME` shows one in full")
        return
    for k in found:
        click.echo(f"{k.name}  [{'Settings' if k.section == 'settings' else 'AccountN'}]")
        click.echo(f"  type:     {k.type}")
        click.echo(f"  default:  {json.dumps(k.default, ensure_ascii=False)}")
        click.echo(f"  allowed:  {k.allowed}")
        if k.choices is not None:
            click.echo(f"  choices:  {', '.join(repr(c) for c in k.choices)}")
        if k.min is not None:
            click.echo(f"  range:    {k.min}..{k.max}")
        click.echo(f"  versions: {', '.join(k.versions) or '-'}")
        if k.runtime_rewritten:
            click.echo("  note:     MicroSIP rewrites this key while it runs")
        if k.legacy:
            click.echo("  note:     legacy; a fleet cannot set it")
        if k.notes:
            click.echo(f"  notes:    {k.notes}")


@main.command()
@click.option("--microsip", "version", metavar="VERSION", help="Key set to describe (default: newest).")
@handle_errors(writes=False)
def schema(version: str | None) -> None:
    """Print the JSON Schema of the fleet format (for editor completion)."""
    from provisioner import api

    _json_out(api.schema(version))


@main.command()
@click.argument("folder", required=False, default=".", type=click.Path(path_type=Path, dir_okay=True, file_okay=False))
@handle_errors()
def init(folder: Path) -> None:
    """Create a starter fleet project in FOLDER (default: the current folder)."""
    from provisioner import api

    for path in api.init(folder):
        click.echo(f"created {path}/ (a scratch profile folder)" if path.is_dir() else f"created {path}")
    fleet = folder / "fleet.yaml"
    click.echo(f"next: provisioner validate {fleet}, then provisioner plan {fleet}")


if __name__ == "__main__":  # pragma: no cover
    main()

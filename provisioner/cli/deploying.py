"""The commands that judge and change deployed targets: plan, apply, verify, rollback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from provisioner.cli.commands import main
from provisioner.cli.failures import ci_out, handle_errors, json_out
from provisioner.cli.options import (
    CI_FORMATS,
    afresh_option,
    base_dir_option,
    fleet_argument,
    format_option,
    keep_user_option,
    quiet_option,
    report_format_option,
    root_option,
    seat_option,
    state_option,
    verbose_option,
)
from provisioner.cli.report import (
    NORMAL,
    VERBOSE,
    ProgressBar,
    output_level,
    plural,
    print_apply,
    print_left,
    print_plan,
    print_warnings,
    say,
    summary,
)


@main.command()
@fleet_argument
@seat_option
@root_option
@state_option
@report_format_option
@base_dir_option
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
    base_dir: Path | None,
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

    level = output_level(verbose, quiet)
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
    if output_format in CI_FORMATS:
        _ci_report(output_format, result, base_dir)
    elif output_format == "json":
        json_out(result.as_json(code))
    else:
        print_warnings(result.warnings)
        counts = print_plan(result, level)
        click.echo(f"plan: {summary(counts)}{print_left(result, level)}")
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
@click.option(
    "--prune",
    is_flag=True,
    help="Retire the seats that left the fleet: remove the launchers and phonebook the tool made and its ini keys.",
)
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
    prune: bool,
    afresh: bool,
    output_format: str,
    verbose: bool,
    quiet: bool,
) -> None:
    """Deploy: merge into existing files, back up, replace atomically, record a manifest."""
    from provisioner import api

    level = output_level(verbose, quiet)
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
        "prune": prune,
    }
    bar = ProgressBar() if output_format == "text" and sys.stderr.isatty() else None
    try:
        result = api.apply(fleet, progress=bar, **kwargs)
    finally:
        if bar is not None:
            bar.close()
    code = result.exit_code(pending_is_failure=dry_run)
    if output_format == "json":
        json_out(result.as_json(code))
    else:
        print_warnings(result.warnings)
        print_apply(result, level)
    sys.exit(code)


@main.command()
@fleet_argument
@seat_option
@root_option
@state_option
@afresh_option
@report_format_option
@base_dir_option
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
    base_dir: Path | None,
    verbose: bool,
    quiet: bool,
) -> None:
    """Compare deployed files with the fleet; exit 1 on drift."""
    from provisioner import api
    from provisioner.errors import display_path

    level = output_level(verbose, quiet)
    result = api.verify(fleet, seat_ids=list(seats) or None, root=root, state=state, judge_afresh=afresh)
    drifted = [r for r in result.seats if r.drift]
    code = result.exit_code()
    if output_format in CI_FORMATS:
        _ci_report(output_format, result, base_dir)
    elif output_format == "json":
        json_out(result.as_json(code))
    else:
        print_warnings(result.warnings)
        for report in result.seats:
            if report.error:
                say(level, NORMAL, f"failed  {report.seat_id}: {report.error}", err=True)
            if report.waiting:
                say(level, NORMAL, f"waiting {report.seat_id}: {report.waiting}")
            for drift in report.drift:
                where = f"{drift.key}: " if drift.key else ""
                line = f"drift   {report.seat_id}: {display_path(str(drift.file))}: {where}{drift.message}"
                say(level, NORMAL, line)
            if not (report.error or report.waiting or report.drift):
                say(level, VERBOSE, f"in sync {report.seat_id}")
        failed, waiting = (sum(1 for r in result.seats if r.status == word) for word in ("failed", "waiting"))
        rare = (f", {waiting} waiting for a first logon" if waiting else "") + (f", {failed} failed" if failed else "")
        left = print_left(result, level)
        click.echo(f"verify: {len(drifted)} of {plural(len(result.seats), 'seat')} drifted{rare}{left}")
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


def _ci_report(kind: str, result: Any, base_dir: Path | None) -> None:
    """Plan's or verify's findings in a CI format: a test case per seat."""
    from provisioner.cli import findings

    base = findings.base_folder(base_dir)
    ci_out(kind, findings.of_result(result, base), base, [report.seat_id for report in result.seats])

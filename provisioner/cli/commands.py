"""The command group and the commands that read a fleet, write files out of it, or help write it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from provisioner import __version__
from provisioner.cli.failures import ci_out, handle_errors, json_out, problems_json
from provisioner.cli.help import HelpfulGroup
from provisioner.cli.options import (
    CI_FORMATS,
    base_dir_option,
    fleet_argument,
    format_option,
    report_format_option,
    root_option,
    seat_option,
    strict_option,
)
from provisioner.cli.report import aligned, plural, print_warnings, row_json


@click.group(cls=HelpfulGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="microsip-provisioner")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Provision fleets of the MicroSIP softphone from one YAML file."""
    from provisioner import runner
    from provisioner._speed import Fast

    # The tool's own process, for the command it runs: a second core through a forked
    # helper, the collector kept off the fleet's data, files packed, openat2.
    ctx.with_resource(runner.using(Fast()))


@main.command()
@fleet_argument
@strict_option
@click.option("--secrets", is_flag=True, help="Also check that every secret resolves (files exist, not empty).")
@click.option(
    "--targets",
    "check_targets",
    is_flag=True,
    help="Also check that every target root, portable folder and Wine prefix exists here.",
)
@root_option
@report_format_option
@base_dir_option
@handle_errors(json_errors=True, writes=False)
def validate(
    fleet: Path,
    strict: bool,
    secrets: bool,
    check_targets: bool,
    root: Path | None,
    output_format: str,
    base_dir: Path | None,
) -> None:
    """Load, merge and check a fleet (targets resolved on paper); report every problem in one pass."""
    from provisioner import api

    result = api.validate(fleet, strict=strict, secrets=secrets, check_targets=check_targets, root=root)
    seats = result.fleet.seats
    if output_format in CI_FORMATS:
        from provisioner.cli import findings

        base = findings.base_folder(base_dir)
        ci_out(output_format, findings.of_problems(result.warnings, base), base, [s.id for s in seats])
        return
    if output_format == "json":
        json_out(
            {
                **problems_json([], result.warnings),
                "fleet": result.fleet.name,
                "microsip": result.fleet.version,
                "seats": [s.id for s in seats],
            }
        )
        return
    print_warnings(result.warnings)
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
    print_warnings(result.fleet.warnings)
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
        json_out({**problems_json([], warnings), "seats": [row.__dict__ for row in rows]})
        return
    print_warnings(warnings)
    width = max([len(row.id) for row in rows] + [2])
    user_width = max([len(row.user) for row in rows] + [4])
    target_width = max([len(row.target) for row in rows] + [6])
    click.echo(f"{'id':<{width}}  {'user':<{user_width}}  {'target':<{target_width}}  profiles")
    for row in rows:
        profiles = ", ".join(row.profiles) or "-"
        computer = f"  (on {row.computer} only)" if row.computer else ""
        click.echo(f"{row.id:<{width}}  {row.user:<{user_width}}  {row.target:<{target_width}}  {profiles}{computer}")
    click.echo(plural(len(rows), "seat"))


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
        json_out(
            {
                **problems_json([], explained.warnings),
                "seats": [{"seat": seat.id, "values": [row_json(r) for r in rows]} for seat, rows in explained.seats],
            }
        )
        return
    labels = tuple(f"seats[{found.id}]" for found, _ in explained.seats)  # other seats' warnings are not asked for
    print_warnings([w for w in explained.warnings if w.path.startswith(labels) or not w.path.startswith("seats[")])
    for index, (found, rows) in enumerate(explained.seats):
        if index:
            click.echo("")
        click.echo(f"seat {found.id} -> {found.ini_name} ({found.install_mode})")
        for line in aligned([[r.path, r.value, f"{r.origin} ({r.layer})"] for r in rows]):
            click.echo(f"  {line}")


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
@click.option(
    "--share-path",
    metavar="UNC",
    help="The share as the PCs reach it (\\\\server\\share): also write task.xml, a task that runs the agent.",
)
@handle_errors()
def publish(fleet: Path, out: Path, no_passwords: bool, share_path: str | None) -> None:
    """Write a distribution point that Windows PCs apply at logon (agent, logon.cmd, seats)."""
    from provisioner import api

    result = api.publish(fleet, out, passwords=not no_passwords, share_path=share_path)
    print_warnings(result.warnings)
    for line in result.skipped:
        click.echo(line)
    for folder in result.removed:
        click.echo(f"removed {folder} (no longer in the fleet)")
    written = len(result.written)
    click.echo(
        f"published {len(result.seats)} seat{'s' if len(result.seats) != 1 else ''} to {out} "
        f"({written} file{'s' if written != 1 else ''} written, the rest unchanged)"
    )
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

    rollout = api.status(share)
    seats = rollout.seats
    pending = [s for s in seats if not s.current]
    if output_format == "json":
        json_out(
            {
                "ok": not pending,
                "errors": [],
                "warnings": rollout.flagged,
                "seats": [
                    {
                        "seat": s.seat,
                        "user": s.user,
                        "computer": s.computer,
                        "generation": s.generation,
                        "state": s.state,
                        "warnings": s.warnings,
                        "reports": [r.__dict__ for r in s.reports],
                    }
                    for s in seats
                ],
            }
        )
    else:
        for flag in rollout.flagged:
            click.echo(f"warning: {flag}", err=True)
        for s in seats:
            click.echo(f"{s.state:<11} {s.seat:<20} {s.user}{'@' + s.computer if s.computer else ''}")
            for r in s.reports:
                if r.result != "applied" or r.generation != s.generation:
                    click.echo(f"  {r.computer}: {r.result} {r.generation} at {r.time}: {r.message}")
                elif r.warning:
                    click.echo(f"  {r.computer}: applied (warning: {r.warning})")
        click.echo(_rollout_summary(seats))
    if pending:
        sys.exit(1)


@main.command("package-agent")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False), help="Where to write them.")
@click.option(
    "--sign-cert", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="Code-signing certificate (PEM)."
)
@click.option("--sign-key", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="Its private key (PEM).")
@click.option("--timestamp-url", metavar="URL", help="An RFC 3161 timestamp server for the signatures.")
@handle_errors()
def package_agent(out: Path, sign_cert: Path | None, sign_key: Path | None, timestamp_url: str | None) -> None:
    """Write the agent and provisioner-agent.msi (per-machine, x64), signed when a certificate is given."""
    from provisioner import api

    written = api.package_agent(out, sign_cert=sign_cert, sign_key=sign_key, timestamp_url=timestamp_url)
    how = "signed" if sign_cert is not None else "unsigned"
    click.echo(f"wrote {', '.join(str(path) for path in written)} ({how})")


def _rollout_summary(seats: list[Any]) -> str:
    """``status: 3 applied (1 with a warning), 1 never seen``."""
    if not seats:
        return "status: no seats"
    counts: dict[str, int] = {}
    for s in seats:
        counts[s.state] = counts.get(s.state, 0) + 1
    warned = sum(1 for s in seats if s.state == "applied" and s.warnings)
    words = [
        f"{n} {state}" + (f" ({warned} with a warning)" if state == "applied" and warned else "")
        for state, n in sorted(counts.items())
    ]
    return "status: " + ", ".join(words)


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
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save the fleet there (a new file; target paths relative to its folder) instead of stdout.",
)
@handle_errors(writes=False)
def import_(inis: tuple[Path, ...], name: str, code_page: int, out: Path | None) -> None:
    """Turn existing microsip.ini files into a fleet YAML on stdout (or --out FILE).

    Target paths are absolute on stdout, and relative to FILE's folder with --out, so
    the fleet plans as it is wherever it is saved.
    """
    from provisioner import admin_files, api
    from provisioner.errors import UsageError

    if out is not None and (out.exists() or out.is_symlink()):
        raise UsageError(f"--out {out}: exists already; name a new file (nothing is overwritten)")
    result = api.import_inis(list(inis), name=name, code_page=code_page, out=out)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if out is None:
        click.echo(result.yaml, nl=False)
        return
    admin_files.make_folders(out.parent)
    admin_files.write_atomic(out, result.yaml.encode("utf-8"), mode=0o644)
    click.echo(f"wrote {out} ({plural(len(result.seats), 'seat')}); next: provisioner validate {out}", err=True)


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
        for line in aligned([["key", "section", "type", "default", "versions"], *map(_key_row, found)]):
            click.echo(line)
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


def _key_row(k: Any) -> list[str]:
    """One key in the catalogue's list; a long default is cut there (``keys NAME`` shows it whole)."""
    flags = " (runtime)" if k.runtime_rewritten else " (legacy)" if k.legacy else ""
    default = "" if k.default is None else json.dumps(k.default, ensure_ascii=False)
    default = default if len(default) <= 24 else default[:23] + "\u2026"
    return [k.name, k.section, k.type, default, " ".join(k.versions) + flags]


@main.command()
@click.option("--microsip", "version", metavar="VERSION", help="Key set to describe (default: newest).")
@handle_errors(writes=False)
def schema(version: str | None) -> None:
    """Print the JSON Schema of the fleet format (for editor completion)."""
    from provisioner import api

    json_out(api.schema(version))


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

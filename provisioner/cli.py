"""The ``provisioner`` command line: a thin click layer over :mod:`provisioner.api`.

Each command parses its options, makes one call into the API, and prints the
result. Exit codes follow the contract: 0 ok, 1 drift/pending, 2 bad input,
3 deploy failed, 4 internal error (one line plus the path of a log file holding
the traceback). No traceback ever reaches the terminal.
"""

from __future__ import annotations

import contextlib
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


def _crash_log(exc: BaseException) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path(os.environ.get("PROVISIONER_LOG_DIR") or tempfile.gettempdir())
    path = folder / f"microsip-provisioner-crash-{stamp}-{os.getpid()}.log"
    with contextlib.suppress(OSError):
        path.write_text(
            f"microsip-provisioner {__version__}, Python {sys.version}\n"
            f"argv: {sys.argv!r}\n\n" + "".join(traceback.format_exception(exc)),
            encoding="utf-8",
        )
    return path


def handle_errors(json_errors: bool = False) -> Callable[[F], F]:
    """Map exceptions to the contract's exit codes and one-line messages."""

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
                    click.echo(f"{count} error{'s' if count != 1 else ''}; nothing was written", err=True)
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
            except (click.exceptions.Exit, click.ClickException, SystemExit):
                raise
            except Exception as exc:
                log = _crash_log(exc)
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
seat_option = click.option(
    "--seat", "seats", multiple=True, metavar="ID", help="Only this seat (repeatable)."
)
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
@click.option("--secrets", is_flag=True, help="Also check that every secret reference resolves.")
@format_option
@handle_errors(json_errors=True)
def validate(fleet: Path, strict: bool, secrets: bool, output_format: str) -> None:
    """Load, merge and check a fleet; report every problem in one pass."""
    from provisioner import api

    result = api.validate(fleet, strict=strict, secrets=secrets)
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
    checked = " (secrets resolved)" if secrets else ""
    click.echo(
        f"ok: fleet {result.fleet.name!r}, {len(seats)} seat{'s' if len(seats) != 1 else ''}, "
        f"MicroSIP {result.fleet.version}{checked}"
    )


@main.command()
@fleet_argument
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False), help="Output folder."
)
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
@click.option("--seat", "seat", required=True, metavar="ID", help="The seat to explain.")
@format_option
@handle_errors(json_errors=True)
def explain(fleet: Path, seat: str, output_format: str) -> None:
    """Show a seat's effective values and the file:line that set each (secrets masked)."""
    from provisioner import api

    found, rows, warnings = api.explain(fleet, seat)
    if output_format == "json":
        _json_out(
            {
                **_problems_json([], warnings),
                "seat": found.id,
                "values": [
                    {"path": r.path, "value": r.value, "origin": r.origin, "layer": r.layer} for r in rows
                ],
            }
        )
        return
    click.echo(f"seat {found.id} -> {found.ini_name} ({found.install_mode})")
    width = max(len(r.path) for r in rows)
    value_width = min(40, max(len(r.value) for r in rows))
    for row in rows:
        click.echo(f"  {row.path:<{width}}  {row.value:<{value_width}}  {row.origin} ({row.layer})")


@main.command()
@click.argument("name", required=False)
@format_option
@handle_errors()
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
            click.echo(
                f"{k.name:<22} {k.section:<9} {k.type:<7} {default[:24]:<24} {' '.join(k.versions)}{flags}"
            )
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
@handle_errors()
def schema(version: str | None) -> None:
    """Print the JSON Schema of the fleet format (for editor completion)."""
    from provisioner import api

    _json_out(api.schema(version))


@main.command()
@click.argument(
    "folder", required=False, default=".", type=click.Path(path_type=Path, dir_okay=True, file_okay=False)
)
@handle_errors()
def init(folder: Path) -> None:
    """Create a starter fleet project in FOLDER (default: the current folder)."""
    from provisioner import api

    for path in api.init(folder):
        click.echo(f"created {path}")
    click.echo(f"next: provisioner validate {folder / 'fleet.yaml'}")


if __name__ == "__main__":  # pragma: no cover
    main()

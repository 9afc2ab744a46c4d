"""The command that compares two fleets: diff, as text, JSON or a pull request's Markdown."""

from __future__ import annotations

import sys
from typing import Any

import click

from provisioner.cli.commands import main
from provisioner.cli.failures import handle_errors, json_out, problems_json
from provisioner.cli.report import aligned, plural, print_warnings


@main.command()
@click.argument("old")
@click.argument("new")
@click.option(
    "--fleet",
    "fleet_name",
    default="fleet.yaml",
    show_default=True,
    metavar="PATH",
    help="The fleet file in a folder or a git revision (for a revision: relative to the current folder).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="Output format: markdown for a pull request's comment.",
)
@click.option("--exit-code", is_flag=True, help="Exit 1 when any seat changes.")
@handle_errors(json_errors=True, writes=False)
def diff(old: str, new: str, fleet_name: str, output_format: str, exit_code: bool) -> None:
    """Show which seats a change of fleet would change, and how (from effective values: no secret is read).

    OLD and NEW each name a fleet file, a folder holding one, or a git revision
    (HEAD~1, main, a tag) of the work tree around the current folder.
    """
    from provisioner import api

    result = api.diff(old, new, fleet_name=fleet_name)
    if output_format == "json":
        json_out({**problems_json([], result.warnings), **_json(result)})
    elif output_format == "markdown":
        click.echo(_markdown(result))
    else:
        print_warnings(result.warnings)
        _text(result)
    sys.exit(1 if exit_code and result.changed else 0)


def _summary(result: Any) -> str:
    words = [f"{result.count(change)} {change}" for change in ("added", "removed", "changed")]
    return f"{', '.join(words)}, {result.unchanged} unchanged"


def _text(result: Any) -> None:
    for change in result.fleet:
        click.echo(f"fleet    {change.path}: {_shown(change.old)} -> {_shown(change.new)}")
    for seat in result.seats:
        click.echo(f"{seat.change:<8} {seat.seat_id}")
        if seat.change == "changed":
            rows = [[f"  {k.path}:", _shown(k.old), "->", _shown(k.new)] for k in seat.keys]
            for line in aligned(rows):
                click.echo(line)
    click.echo(f"diff: {plural(len(result.seats), 'seat')} to change ({_summary(result)})")


def _shown(value: str | None) -> str:
    return "(not set)" if value is None else value


def _json(result: Any) -> dict[str, Any]:
    return {
        "old": result.old,
        "new": result.new,
        "changed": result.changed,
        "summary": {
            "seats": {
                **{change: result.count(change) for change in ("added", "removed", "changed")},
                "unchanged": result.unchanged,
            }
        },
        "fleet": [_key_json(k) for k in result.fleet],
        "seats": [
            {"seat": s.seat_id, "change": s.change, "keys": [_key_json(k) for k in s.keys]} for s in result.seats
        ],
    }


def _key_json(change: Any) -> dict[str, Any]:
    return {"path": change.path, "old": change.old, "new": change.new}


def _markdown(result: Any) -> str:
    """A pull request's comment: a heading with the counts, a table of what changes, seats collapsed."""
    head = f"### MicroSIP fleet: {plural(len(result.seats), 'seat')} would change"
    out = [head, "", f"`{_cell(result.old)}` → `{_cell(result.new)}`: {_summary(result)}.", ""]
    if not result.changed:
        return "\n".join([*out, "Nothing changes on any seat."])
    out += ["| seat | change | value | old | new |", "|---|---|---|---|---|"]
    for change in result.fleet:
        out.append(f"| (all) | fleet | `{_cell(change.path)}` | {_md(change.old)} | {_md(change.new)} |")
    for seat in result.seats:
        if seat.change != "changed":
            out.append(f"| `{_cell(seat.seat_id)}` | {seat.change} | | | |")
            continue
        for key in seat.keys:
            row = f"| `{_cell(seat.seat_id)}` | changed | `{_cell(key.path)}` | {_md(key.old)} | {_md(key.new)} |"
            out.append(row)
    return "\n".join(out)


def _md(value: str | None) -> str:
    return "*(not set)*" if value is None else f"`{_cell(value)}`"


def _cell(text: str) -> str:
    """Text fit for one cell of a Markdown table (and inside backticks)."""
    return text.replace("|", "\\|").replace("`", "'").replace("\n", " ")

"""The options several commands share."""

from __future__ import annotations

from pathlib import Path

import click

fleet_argument = click.argument("fleet", type=click.Path(path_type=Path, dir_okay=False))
format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format; json prints one document on stdout.",
)
#: The formats CI systems read, beside text and json (``provisioner.cli.ci_formats`` lays them out).
CI_FORMATS = ("sarif", "junit", "github", "gitlab")
report_format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", *CI_FORMATS]),
    default="text",
    show_default=True,
    help="Output format: json prints one document on stdout; sarif, junit, github and gitlab print what "
    "those CI systems read (SARIF 2.1.0, JUnit XML, workflow commands, a Code Quality report).",
)
base_dir_option = click.option(
    "--base-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="The folder the CI formats' paths are relative to (default: the top of the git work tree, "
    "else the current folder).",
)
seat_option = click.option("--seat", "seats", multiple=True, metavar="ID", help="Only this seat (repeatable).")
strict_option = click.option("--strict", is_flag=True, help="Treat warnings as errors.")


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

"""The command that asks each account's registrar whether it registers: check-registration."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from provisioner.cli.commands import main
from provisioner.cli.failures import ci_out, handle_errors, json_out, problems_json
from provisioner.cli.options import CI_FORMATS, base_dir_option, fleet_argument, report_format_option, seat_option
from provisioner.cli.report import ProgressBar, plural, print_warnings

#: Each result word's code in the CI formats (``ok`` has none: a passing test case).
WORD_CODES = {
    "incorrect password": "incorrect-password",
    "unknown user": "unknown-user",
    "proxy authentication": "proxy-authentication",
    "unreachable": "unreachable",
    "certificate problem": "certificate-problem",
    "other": "registration-failed",
    "not checked": "not-checked",
}


class Rate(click.ParamType[float]):
    """``10/s`` or ``10``: requests a second, more than 0 and at most 1000."""

    name = "N/s"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*s)?\s*", str(value))
        rate = float(found.group(1)) if found else 0.0
        if not 0 < rate <= 1000:
            self.fail(f"{value!r} is not a rate such as 10/s (more than 0, at most 1000 requests a second)", param, ctx)
        return rate


@main.command("check-registration")
@fleet_argument
@seat_option
@click.option("--bind", is_flag=True, help="Register a throw-away contact and remove it again (default: query only).")
@click.option(
    "--rate", type=Rate(), default="10/s", show_default=True, metavar="N/s", help="Requests a second, over all servers."
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 120),
    default=10.0,
    show_default=True,
    metavar="S",
    help="Seconds an account's check may take.",
)
@click.option(
    "--cafile",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Trust these CA certificates for TLS (default: the system's).",
)
@report_format_option
@base_dir_option
@handle_errors(json_errors=True, writes=False)
def check_registration(
    fleet: Path,
    seats: tuple[str, ...],
    bind: bool,
    rate: float,
    timeout: float,
    cafile: Path | None,
    output_format: str,
    base_dir: Path | None,
) -> None:
    """Ask each account's registrar whether it registers, as MicroSIP would (secrets resolved, never printed).

    By default a REGISTER without a Contact (RFC 3261 10.2.3): it authenticates and lists the
    bindings without changing any, so a running MicroSIP is not disturbed. Requests are paced,
    one at a time per server, and a server that refuses five passwords in a row is left alone.
    """
    from provisioner import api
    from provisioner.api.registering import Options

    bar = ProgressBar("checking") if output_format == "text" and sys.stderr.isatty() else None
    try:
        result = api.check_registration(
            fleet, seat_ids=list(seats) or None, options=Options(bind, rate, timeout, cafile), progress=bar
        )
    finally:
        if bar is not None:
            bar.close()
    if output_format in CI_FORMATS:
        from provisioner.cli import findings

        base = findings.base_folder(base_dir)
        ci_out(output_format, _findings(result, base), base, list(result.seats))
    elif output_format == "json":
        json_out({**problems_json([], result.warnings), **_json(result)})
    else:
        print_warnings(result.warnings)
        _text(result)
    sys.exit(0 if result.ok else 1)


def _text(result: Any) -> None:
    for check in result.checks:
        line = (
            f"{check.word:<20} {check.seat_id}.accounts[{check.index + 1}] {check.aor} via {check.hop}: {check.detail}"
        )
        click.echo(line, err=not check.ok)
    counts = Counter(check.word for check in result.checks)
    words = ", ".join(f"{n} {word}" for word, n in counts.most_common())
    if not result.checks:
        click.echo("check-registration: no account has a server, so MicroSIP registers none: nothing to check")
        return
    click.echo(f"check-registration: {plural(len(result.checks), 'account')}: {words} ({result.seconds:.1f} s)")


def _json(result: Any) -> dict[str, Any]:
    counts = Counter(check.word for check in result.checks)
    return {
        "summary": {"accounts": {"total": len(result.checks), "ok": counts.get("ok", 0), **counts}},
        "seconds": round(result.seconds, 3),
        "accounts": [
            {
                "seat": c.seat_id,
                "account": c.index + 1,
                "aor": c.aor,
                "via": c.hop,
                "result": c.word,
                "detail": c.detail,
            }
            for c in result.checks
        ],
    }


def _findings(result: Any, base: Path) -> list[Any]:
    from provisioner.cli.findings import Finding, of_problems, relative

    out = of_problems(result.warnings, base)
    for check in result.checks:
        if check.ok:
            continue
        loc = result.seats[check.seat_id].account_loc(check.index)
        message = f"{check.word}: {check.aor} via {check.hop}: {check.detail}"
        path = f"seats[{check.seat_id}].accounts[{check.index + 1}]"
        file = relative(loc.file, base)
        out.append(Finding(WORD_CODES[check.word], "error", message, file, loc.line, loc.col, check.seat_id, path))
    return out

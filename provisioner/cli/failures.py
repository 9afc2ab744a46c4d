"""How the command line fails: the contract's exit codes, one line a problem, a crash log for a bug."""

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
from provisioner.cli.options import CI_FORMATS
from provisioner.errors import FleetError, Problem, ProvisionerError

F = TypeVar("F", bound=Callable[..., Any])


def json_out(document: dict[str, Any]) -> None:
    """Print one JSON document on stdout (``--format json``)."""
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def ci_out(kind: str, findings: list[Any], base: Path, cases: list[str]) -> None:
    """Print one CI format's document on stdout (``--format sarif|junit|github|gitlab``)."""
    from provisioner.cli.ci_formats import render

    command = click.get_current_context().info_name or "provisioner"
    click.echo(render(kind, findings, base=base, command=command, cases=cases))


def problems_json(errors: list[Problem], warnings: list[Problem]) -> dict[str, Any]:
    """The ``ok``, ``errors`` and ``warnings`` every JSON document starts with."""
    return {
        "ok": not errors,
        "errors": [p.as_json() for p in errors],
        "warnings": [p.as_json() for p in warnings],
    }


def crash_folder() -> Path:
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


def crash_log(exc: BaseException) -> Path:
    """Write the traceback to a new 0600 file with an unpredictable name; secrets are masked."""
    from provisioner.inputs.secrets import redact

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
    folder = crash_folder()
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
            shape = kwargs.get("output_format", "text") if json_errors else "text"
            try:
                return func(*args, **kwargs)
            except (click.exceptions.Exit, click.ClickException, SystemExit):
                raise
            except BaseException as exc:  # each kind gets its exit code and one line
                if shape in CI_FORMATS and isinstance(exc, ProvisionerError):
                    sys.exit(_ci_failed(exc, shape, kwargs.get("base_dir")))
                sys.exit(_failed(exc, as_json=shape == "json", writes=writes))

        return wrapper  # type: ignore[return-value]

    return decorate


def _failed(exc: BaseException, *, as_json: bool, writes: bool) -> int:
    """Say what went wrong, in one line (or the JSON document); the exit code."""
    if isinstance(exc, FleetError):
        _fleet_failed(exc, as_json=as_json, writes=writes)
        return exc.exit_code
    if isinstance(exc, ProvisionerError):
        if as_json:
            error = {"file": "", "line": 0, "column": 0, "path": "", "message": str(exc)}
            json_out({"ok": False, "errors": [error], "warnings": []})
        else:
            click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        return 130
    if isinstance(exc, BrokenPipeError):  # output piped into `head` and the like
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    if isinstance(exc, OSError):  # a path the system refused that no layer above worded: I/O, not a bug
        where = str(exc.filename or "")
        where = f"{where[:80]}...: " if len(where) > 80 else f"{where}: " if where else ""
        click.echo(f"error: {where}{exc.strerror or exc}", err=True)
        return 3
    if not isinstance(exc, Exception):
        raise exc  # GeneratorExit and the like are not failures of the command
    return _crashed(exc)


def _ci_failed(exc: ProvisionerError, kind: str, base_dir: Path | None) -> int:
    """Bad input or a failed command, in a CI format on stdout; the exit code."""
    from provisioner.cli import findings

    base = findings.base_folder(base_dir)
    if isinstance(exc, FleetError):
        found = findings.of_problems([*exc.errors, *exc.warnings], base)
    else:
        found = [findings.failure(str(exc))]
    ci_out(kind, found, base, [])
    return exc.exit_code


def _fleet_failed(exc: FleetError, *, as_json: bool, writes: bool) -> None:
    if as_json:
        json_out(problems_json(exc.errors, exc.warnings))
        return
    for problem in [*exc.errors, *exc.warnings]:
        click.echo(str(problem), err=True)
    count = len(exc.errors)
    tail = "; nothing was written" if writes else ""
    click.echo(f"{count} error{'s' if count != 1 else ''}{tail}", err=True)


def _crashed(exc: Exception) -> int:
    """A bug: the traceback goes to a crash log, one line to the terminal."""
    try:
        log: Path | str = crash_log(exc)
    except Exception:  # the log cannot be written: still one line, no traceback
        log = "nowhere (the crash log could not be written)"
    click.echo(f"internal error: {type(exc).__name__}; this is a bug -- details in {log}", err=True)
    return 4

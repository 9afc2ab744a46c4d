"""The command line: output, exit codes, JSON, secrets never shown, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from provisioner import api, runner
from provisioner._speed import Fast
from provisioner.errors import display_path
from tests.conftest import EXAMPLE, REPO, BuildTree, RunCli, listing

SECRET_FLEET = """\
version: 1
name: t
seats:
  - id: s1
    accounts:
      - {domain: example.com, username: "1", password: "hunter2-plain"}
      - {domain: example.com, username: "2", password: {env: PW_TWO}}
    settings:
      usersDirectory: {env: DIR_URL}
"""


def test_validate_ok(run_cli: RunCli) -> None:
    result = run_cli("validate", str(EXAMPLE))
    assert result.exit_code == 0
    assert result.stdout == "ok: fleet 'acme-office', 4 seats, MicroSIP 3.22\n"
    assert result.stderr == ""


def test_validate_json(run_cli: RunCli) -> None:
    result = run_cli("validate", str(EXAMPLE), "--format", "json")
    document = json.loads(result.stdout)
    assert document == {
        "ok": True,
        "errors": [],
        "warnings": [],
        "fleet": "acme-office",
        "microsip": "3.22",
        "seats": ["reception", "sales-laptop", "support-1", "linux-desk"],
    }


def test_validate_json_on_errors_prints_only_json(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": "version: 1\nname: t\nseats:\n  - id: s\n    accounts: [{domain: d, transport: tsl}]\n"})
    result = run_cli("validate", "fleet.yaml", "--format", "json")
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert document["errors"] == [
        {
            "file": "fleet.yaml",
            "line": 5,
            "column": 39,
            "path": "seats[s].accounts[1].transport",
            "message": "'tsl' is not one of udp, tcp, tls, \"\" (did you mean 'tls'?)",
            "code": "not-one-of",
        }
    ]


def test_literal_password_warns_and_strict_refuses(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": SECRET_FLEET})
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 0
    assert result.stderr == (
        "fleet.yaml:6:56: warning: seats[s1].accounts[1].password: plain-text password in the fleet "
        "file; use {env: NAME} or {file: path}\n"
    )
    strict = run_cli("validate", "fleet.yaml", "--strict")
    assert strict.exit_code == 2
    assert "(refused by --strict)" in strict.stderr


def test_runtime_key_warns(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": "version: 1\nname: t\ndefaults:\n  settings: {mainX: 10}\n"})
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 0
    assert result.stderr.splitlines()[0] == (
        "fleet.yaml:4:21: warning: defaults.settings.mainX: MicroSIP rewrites 'mainX' while it runs; "
        "the fleet's value is only a starting point"
    )


def test_secrets_never_appear_in_any_output(build_tree: BuildTree, run_cli: RunCli, tmp_path: Path) -> None:
    build_tree({"fleet.yaml": SECRET_FLEET})
    env = {"PW_TWO": "s3cret-from-env", "DIR_URL": "https://dir.example/?token=tok-123"}
    outputs = [
        run_cli("validate", "fleet.yaml", "--secrets", env=env),
        run_cli("validate", "fleet.yaml", "--secrets", "--format", "json", env=env),
        run_cli("explain", "fleet.yaml", "--seat", "s1", env=env),
        run_cli("explain", "fleet.yaml", "--seat", "s1", "--format", "json", env=env),
        run_cli("render", "fleet.yaml", "--out", "out", env=env),
    ]
    for result in outputs:
        assert result.exit_code == 0, result.output
        for secret in ("hunter2-plain", "s3cret-from-env", "tok-123"):
            assert secret not in result.output
    # the rendered file itself of course carries them (that is its job)
    text = (tmp_path / "out/s1/microsip.ini").read_bytes().decode("utf-16")
    assert "password=s3cret-from-env" in text and "usersDirectory=https://dir.example/?token=tok-123" in text


def test_missing_secret_with_json_never_shows_values(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": SECRET_FLEET})
    result = run_cli("validate", "fleet.yaml", "--secrets", "--format", "json", env={"PW_TWO": "xyz-secret"})
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert [e["message"] for e in document["errors"]] == [
        "environment variable DIR_URL is not set (secret env:DIR_URL)"
    ]
    assert "xyz-secret" not in result.output and "hunter2-plain" not in result.output


def test_explain_shows_origin_of_each_value(run_cli: RunCli) -> None:
    result = run_cli("explain", str(EXAMPLE), "--seat", "support-1")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "seat support-1 -> microsip.ini (installed)"
    example = display_path(str(EXAMPLE))
    callcenter = display_path(str(EXAMPLE.parent / "profiles" / "callcenter.yaml"))
    office = display_path(str(EXAMPLE.parent / "profiles" / "office.yaml"))
    by_path = {line.split()[0]: line for line in lines[1:]}
    assert by_path["settings.autoAnswer"].endswith(f"{office}:26:19 (profiles[agent])")
    assert by_path["settings.cmdCallStart"].split()[-2] == f"{callcenter}:8:21"
    assert by_path["accounts[2].password"].split()[1] == "file:secrets/1201.txt"
    assert by_path["accounts[1].domain"].endswith(f"{example}:13:13 (defaults)")
    assert by_path["install.exe"].split()[-1] == "mode)"
    assert "demo-pass" not in result.stdout


def test_keys_lists_catalogue_and_shows_one(run_cli: RunCli) -> None:
    listing_ = run_cli("keys")
    assert listing_.exit_code == 0
    assert listing_.stdout.splitlines()[-1] == "143 keys; `provisioner keys NAME` shows one in full"
    one = run_cli("keys", "TRANSPORT")
    assert one.exit_code == 0
    assert one.stdout.splitlines()[:5] == [
        "transport  [AccountN]",
        "  type:     string",
        '  default:  "udp"',
        "  allowed:  udp | tcp | tls | '' (UDP+TCP auto)",
        "  choices:  'udp', 'tcp', 'tls', ''",
    ]
    missing = run_cli("keys", "updateInterval")
    assert missing.exit_code == 2
    assert missing.stderr == "error: no key named 'updateInterval' in the catalogue (did you mean 'updatesInterval'?)\n"


def test_schema_describes_the_fleet_format(run_cli: RunCli) -> None:
    result = run_cli("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["required"] == ["version", "name"]
    settings = schema["$defs"]["Settings322"]["properties"]
    assert settings["autoAnswer"]["anyOf"][0]["anyOf"][0] == {"enum": ["", "button", "header", "all"]}
    assert settings["volumeRing"]["anyOf"][0]["maximum"] == 100
    assert schema["$defs"]["Settings322"]["additionalProperties"] is False
    assert (
        "autoAnswerCalls"
        not in json.loads(run_cli("schema", "--microsip", "3.19").stdout)["$defs"]["Settings319"]["properties"]
    )


def test_init_creates_a_fleet_that_validates_and_renders(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("init", "office")
    assert result.exit_code == 0
    assert listing(tmp_path / "office") == [".gitignore", "fleet.yaml", "secrets/alice.txt"]
    assert run_cli("validate", "office/fleet.yaml", "--secrets", "--strict").exit_code == 0
    assert run_cli("render", "office/fleet.yaml", "--out", "out").exit_code == 0
    again = run_cli("init", "office")
    assert again.exit_code == 2
    assert "already exists" in again.stderr


def test_internal_error_is_one_line_with_a_log(run_cli: RunCli, tmp_path: Path) -> None:
    with mock.patch.object(api, "validate", autospec=True, side_effect=RuntimeError("boom")):
        result = run_cli("validate", str(EXAMPLE))
    assert result.exit_code == 4
    (line,) = result.stderr.splitlines()
    assert line.startswith("internal error: RuntimeError; this is a bug -- details in ")
    log = Path(line.rsplit(" ", 1)[1])
    assert log.parent == tmp_path / "logs"
    assert "Traceback" in log.read_text() and "Traceback" not in result.output


def test_crash_report_is_private_unpredictable_and_holds_no_secret(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after secrets were resolved: the report masks them, sits in a 0700 folder, is 0600."""
    logs = tmp_path / "logs"
    logs.chmod(0o755)
    planted = logs / "crash.log"
    planted.symlink_to(tmp_path / "victim")  # a name someone guessed: never followed, never used
    real = api.validate
    secret = (EXAMPLE.parent / "secrets" / "1000.txt").read_text().strip()

    def crash(*args: object, **kwargs: object) -> None:
        real(*args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError(f"lost in {secret} while talking to pbx")

    monkeypatch.setattr(api, "validate", crash)
    result = run_cli("validate", str(EXAMPLE), "--secrets")
    assert result.exit_code == 4
    log = Path(result.stderr.splitlines()[-1].rsplit(" ", 1)[1])
    assert log.parent == logs and log.name.startswith("crash-") and log != planted
    assert (log.stat().st_mode & 0o777, logs.stat().st_mode & 0o777) == (0o600, 0o700)
    text = log.read_text()
    assert "lost in ******** while talking" in text and secret not in text
    assert not (tmp_path / "victim").exists()


def test_the_command_line_runs_each_command_with_its_own_runner(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI puts the fast runner in force for the command it runs, and only for it."""
    real = api.validate
    seen: list[runner.Runner] = []

    def validate(*args: object, **kwargs: object) -> api.ValidateResult:
        seen.append(runner.current())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(api, "validate", validate)
    assert run_cli("validate", str(EXAMPLE)).exit_code == 0
    assert [type(found) for found in seen] == [Fast]
    assert type(runner.current()) is runner.Serial  # the library's own default again


def test_cli_passes_options_to_the_api(run_cli: RunCli) -> None:
    with mock.patch.object(api, "render", autospec=True) as render:
        render.return_value = api.RenderResult(fleet=mock.Mock(warnings=[]), written=[])
        result = run_cli("render", "f.yaml", "--out", "o", "--seat", "a", "--seat", "b", "--strict")
    assert result.exit_code == 0
    render.assert_called_once_with(Path("f.yaml"), Path("o"), seat_ids=["a", "b"], strict=True)


def test_usage_error_exits_2(run_cli: RunCli) -> None:
    result = run_cli("render", str(EXAMPLE))
    assert result.exit_code == 2
    assert "Missing option '--out'" in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["validate", str(EXAMPLE)]])
def test_python_dash_m_in_a_real_subprocess(args: list[str], tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "provisioner", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "Usage: provisioner" in proc.stdout or proc.stdout.startswith("ok: fleet 'acme-office'")


def test_progress_bar_only_for_many_seats(capsys: pytest.CaptureFixture[str]) -> None:
    from provisioner.cli.report import ProgressBar

    few = ProgressBar()
    for i in range(1, 6):
        few(i, 5)
    few.close()
    assert few.bar is None
    many = ProgressBar()
    for i in range(1, 31):
        many(i, 30)
    many.close()
    assert many.bar is not None and many.bar.pos == 30


def test_data_files_and_their_secrets_stay_inside_the_fleet_folder(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "outside/seats.csv": "id,accounts.1.username\nx,1\n",
            "outside/book.csv": "name,number\nA,1\n",
            "fleet/fleet.yaml": """\
            version: 1
            name: t
            seat_files: [{path: ../outside/seats.csv}, {path: seats.csv}]
            defaults: {account: {domain: example.com}}
            seats:
              - id: y
                contacts_file: ../outside/book.csv
                accounts: [{username: "2"}]
            """,
            "fleet/seats.csv": "id,accounts.1.username,accounts.1.password.file\nz,3,../outside/pw.txt\n",
        }
    )
    result = run_cli("validate", "fleet/fleet.yaml")
    assert result.exit_code == 2
    outside = Path("outside").resolve().parent / "fleet"
    assert result.stderr.splitlines() == [
        f"fleet/fleet.yaml:3:14: seat_files[1]: '../outside/seats.csv' is outside the fleet's folder {outside}; data files must stay inside it",
        f"fleet/fleet.yaml:7:20: seats[y].contacts_file: '../outside/book.csv' is outside the fleet's folder {outside}; data files must stay inside it",
        "fleet/seats.csv:2:3: seats[z].accounts[1].password: {file: ../outside/pw.txt} leaves the fleet's folder; a CSV file may only name secret files inside it",
        "3 errors",
    ]


def test_translate_flags_never_echoes_a_split_password(run_cli: RunCli) -> None:
    result = run_cli("translate-flags", "--", "--user", "101", "--password=", "hunter2")
    assert result.exit_code == 0
    assert "hunter2" not in result.output
    assert result.stdout.splitlines()[0] == "# translated from: --user 101 --password='********' '********'"


def test_explain_takes_every_seat_named(run_cli: RunCli) -> None:
    result = run_cli("explain", str(EXAMPLE), "--seat", "reception", "--seat", "support-1")
    assert result.exit_code == 0, result.output
    heads = [line for line in result.stdout.splitlines() if line.startswith("seat ")]
    assert [h.split()[1] for h in heads] == ["reception", "support-1"]
    document = json.loads(
        run_cli("explain", str(EXAMPLE), "--seat", "reception", "--seat", "support-1", "--format", "json").stdout
    )
    assert [s["seat"] for s in document["seats"]] == ["reception", "support-1"]


def test_windows_paths_show_single_backslashes(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "fleet.yaml": "version: 1\nname: t\nseats:\n  - id: a\n    target: {type: appdata, root: 'C:\\Users'}\n"
            "    accounts: [{domain: d}]\n"
        }
    )
    result = run_cli("plan", "fleet.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "fleet.yaml:5:35: seats[a].target.root: 'C:\\Users' is a Windows path, which this system cannot open; "
        "write a path this machine can reach (for example a mounted share) or a relative path with --root"
    )


@pytest.mark.slow
def test_every_module_imports_on_its_own() -> None:
    """No import cycle hides behind the order the CLI happens to import modules in."""
    package = REPO / "provisioner"
    modules = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for p in package.rglob("*.py")
        if p.name != "__main__.py"
    )
    done = subprocess.run([sys.executable, "-c", IMPORT_EACH, *modules], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{module}: ok" for module in modules]


#: Imports each module named on the command line in a child of its own, forked before any module of the
#: tool is imported: only the third-party libraries are loaded ahead (they are not the tool's to order).
IMPORT_EACH = """\
import importlib, os, sys, traceback
import click, jinja2, pydantic, yaml
pydantic.BaseModel, pydantic.Field, pydantic.ConfigDict  # its lazy parts, loaded once
for module in sys.argv[1:]:
    child = os.fork()
    if child == 0:
        try:
            importlib.import_module(module)
        except BaseException:
            sys.stdout.write(module + ": " + traceback.format_exc().strip().splitlines()[-1] + "\\n")
            sys.stdout.flush()
            os._exit(1)
        sys.stdout.write(module + ": ok\\n")
        sys.stdout.flush()
        os._exit(0)
    os.waitpid(child, 0)
"""

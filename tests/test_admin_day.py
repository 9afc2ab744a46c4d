"""An admin's day through the CLI: from `init` to the hundredth run, the stumbles a new user meets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from provisioner import __version__, ini
from tests.conftest import BuildTree, RunCli

INI = Path("users/ana/AppData/Roaming/MicroSIP/microsip.ini")
FLEET = """\
version: 1
name: day
defaults:
  target: {type: appdata, root: users}
  settings: {autoAnswer: button}
seats:
  - id: ana
    accounts: [{username: '100', domain: example.com, displayName: Ana}]
"""


def deployed(build_tree: BuildTree, run_cli: RunCli, fleet: str = FLEET, env: dict[str, str] | None = None) -> None:
    build_tree({"fleet.yaml": fleet})
    INI.parent.mkdir(parents=True, exist_ok=True)
    assert run_cli("apply", "fleet.yaml", env=env).exit_code == 0


def user_sets(old: str, new: str) -> None:
    """The user changes a value in MicroSIP's settings (MicroSIP rewrites the ini)."""
    text, _ = ini.decode(INI.read_bytes())
    assert old in text
    INI.write_bytes(ini.encode(text.replace(old, new)))


def on_disk(section: str, key: str) -> str | None:
    text, _ = ini.decode(INI.read_bytes())
    return ini.raw_values(text).get((section.lower(), key.lower()))


# --- 1. validate says what it can know; the starter fleet plans as shipped ------------------------


def test_the_starter_fleet_passes_plan_as_shipped(run_cli: RunCli) -> None:
    result = run_cli("init", ".")
    assert result.exit_code == 0
    assert "created users/alice/ (a scratch profile folder)" in result.stdout
    assert run_cli("validate", "fleet.yaml", "--targets", "--secrets").exit_code == 0
    plan = run_cli("plan", "fleet.yaml")
    assert plan.exit_code == 0, plan.output
    assert (
        plan.stdout.splitlines()[0]
        == "create     alice                users/alice/AppData/Roaming/MicroSIP/microsip.ini"
    )


def test_validate_targets_reports_a_missing_root_with_the_way_out(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET})
    assert run_cli("validate", "fleet.yaml").exit_code == 0  # on paper the target is fine
    result = run_cli("validate", "fleet.yaml", "--targets")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "fleet.yaml:4:33: seats[ana].target.root: the target root users does not exist; create it, point the "
        "target at the folder that holds the user profiles (C:/Users on a Windows admin PC, a mounted "
        "//server/profiles share), or re-root a trial with --root DIR",
        "1 error",
    ]


def test_validate_refuses_a_windows_path_this_system_cannot_open(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET.replace("root: users", "root: 'C:/Users'")})
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 2
    assert "'C:/Users' is a Windows path, which this system cannot open" in result.stderr


def test_validate_secrets_finds_a_missing_file(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET.replace("displayName: Ana", "password: {file: ana.txt}")})
    assert run_cli("validate", "fleet.yaml").exit_code == 0
    result = run_cli("validate", "fleet.yaml", "--secrets")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].endswith("secret file ana.txt does not exist (secret file:ana.txt)")


# --- 3. quiet plans ------------------------------------------------------------------------------


def test_a_plan_with_nothing_to_do_is_one_line(build_tree: BuildTree, run_cli: RunCli) -> None:
    env = {"PW": "secret"}
    deployed(build_tree, run_cli, FLEET.replace("displayName: Ana", "password: {env: PW}"), env)
    assert (
        run_cli("plan", "fleet.yaml", env=env).stdout
        == "plan: 1 seat: 0 to create, 0 to update, 1 unchanged, 0 in conflict\n"
    )
    verbose = run_cli("plan", "fleet.yaml", "--verbose", env=env).stdout.splitlines()
    assert verbose[0].startswith("unchanged  ana")
    assert verbose[1] == (
        "  note: [Account1] password: kept the one on disk (MicroSIP encrypts it; --rotate-passwords replaces it)"
    )
    assert run_cli("apply", "fleet.yaml", env=env).stdout == (
        "apply: 0 seats written, 1 unchanged, 0 in conflict, 0 failed (of 1)\n"
    )
    assert run_cli("verify", "fleet.yaml", env=env).stdout == "verify: 0 of 1 seat drifted\n"


def test_quiet_prints_the_summary_and_json_names_the_tool(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET})
    INI.parent.mkdir(parents=True)
    assert (
        run_cli("plan", "fleet.yaml", "--quiet").stdout
        == "plan: 1 seat: 1 to create, 0 to update, 0 unchanged, 0 in conflict\n"
    )
    assert (
        run_cli("apply", "fleet.yaml", "-q").stdout
        == "apply: 1 seat written, 0 unchanged, 0 in conflict, 0 failed (of 1)\n"
    )
    everyday = ("unchanged", "conflict", "partial", "waiting", "failed")  # every word is there, zero or not
    words = {
        "plan": ("create", "update", *everyday),
        "apply": ("applied", *everyday),
        "verify": ("unchanged", "drift", "waiting", "failed"),
    }
    for command in ("plan", "apply", "verify"):
        document = json.loads(run_cli(command, "fleet.yaml", "--format", "json").stdout)
        assert document["tool"] == f"microsip-provisioner {__version__}"
        assert document["summary"] == {"seats": {"total": 1, **dict.fromkeys(words[command], 0), "unchanged": 1}}, (
            command
        )
    assert run_cli("plan", "fleet.yaml", "-q", "-v").exit_code == 2


# --- 4. one conflicting key: both values, both ways out ------------------------------------------


def test_a_conflict_names_both_values_and_both_ways_out(build_tree: BuildTree, run_cli: RunCli) -> None:
    deployed(build_tree, run_cli)
    user_sets("autoAnswer=button", "autoAnswer=all")
    result = run_cli("apply", "fleet.yaml")
    assert result.exit_code == 3
    assert result.stderr.splitlines()[0] == (
        "conflict   ana: users/ana/AppData/Roaming/MicroSIP/microsip.ini: [Settings] autoAnswer: changed since the "
        "last apply: 'all' on disk, the fleet says 'button'; --force writes the fleet's, --keep-user "
        "Settings.autoAnswer keeps the user's this time (`unmanage: [Settings.autoAnswer]` for good)"
    )
    assert on_disk("Settings", "autoAnswer") == "all"
    quiet = run_cli("apply", "fleet.yaml", "--quiet")  # the summary alone on stdout; the conflict still shown
    assert quiet.stdout == "apply: 0 seats written, 0 unchanged, 1 in conflict, 0 failed (of 1)\n"
    assert quiet.stderr.startswith("conflict   ana: ")


def test_keep_user_keeps_one_value_and_applies_the_rest(build_tree: BuildTree, run_cli: RunCli) -> None:
    deployed(build_tree, run_cli)
    user_sets("autoAnswer=button", "autoAnswer=all")
    Path("fleet.yaml").write_text(FLEET.replace("displayName: Ana", "displayName: Ana Lima"), encoding="utf-8")
    result = run_cli("apply", "fleet.yaml", "--keep-user", "settings.AUTOANSWER")
    assert result.exit_code == 0, result.output
    assert on_disk("Settings", "autoAnswer") == "all" and on_disk("Account1", "displayName") == "Ana Lima"
    again = run_cli("plan", "fleet.yaml")  # only this run: the conflict is still there next time
    assert "[Settings] autoAnswer: changed since the last apply: 'all' on disk" in again.stderr


def test_unmanage_leaves_a_key_to_the_user_for_good(build_tree: BuildTree, run_cli: RunCli) -> None:
    deployed(build_tree, run_cli)
    user_sets("autoAnswer=button", "autoAnswer=all")
    Path("fleet.yaml").write_text(FLEET + "    unmanage: [Settings.autoAnswer]\n", encoding="utf-8")
    for command in ("plan", "apply", "verify"):
        result = run_cli(command, "fleet.yaml")
        assert result.exit_code == 0, (command, result.output)
    assert on_disk("Settings", "autoAnswer") == "all"
    assert run_cli("plan", "fleet.yaml", "--keep-user", "autoAnswer").stderr == (
        "error: --keep-user autoAnswer: write SECTION.KEY as the ini names it, such as Settings.autoAnswer\n"
    )


# --- 8. small truths -----------------------------------------------------------------------------


def test_force_labels_what_it_wrote(build_tree: BuildTree, run_cli: RunCli) -> None:
    deployed(build_tree, run_cli)
    user_sets("autoAnswer=button", "autoAnswer=all")
    result = run_cli("apply", "fleet.yaml", "--force")
    assert result.exit_code == 0
    assert (
        result.stdout.splitlines()[0]
        == "overwrite  ana                  users/ana/AppData/Roaming/MicroSIP/microsip.ini"
    )


def test_read_only_commands_do_not_say_nothing_was_written(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET.replace("example.com", "[x")})
    for command, writes in (("validate", False), ("plan", False), ("verify", False), ("render", True)):
        args = ("--out", "out") if command == "render" else ()
        last = run_cli(command, "fleet.yaml", *args).stderr.splitlines()[-1]
        assert last == ("1 error; nothing was written" if writes else "1 error"), command


def test_explain_warns_that_a_portable_seat_has_no_shortcuts(build_tree: BuildTree, run_cli: RunCli) -> None:
    fleet = FLEET.replace("type: appdata, root: users", "type: portable, path: usb") + (
        "    launch: {shortcuts: [desktop]}\n"
    )
    build_tree({"fleet.yaml": fleet})
    result = run_cli("explain", "fleet.yaml", "--seat", "ana")
    assert result.exit_code == 0
    assert result.stderr.splitlines()[0] == (
        "fleet.yaml:9:25: warning: seats[ana].launch.shortcuts: ignored for a portable seat: it gets a .cmd launcher "
        "beside its exe, which works from any drive letter (shortcuts apply to installed and Wine seats)"
    )


# --- 6. translate-flags takes what people paste --------------------------------------------------


def test_translate_flags_takes_the_pasted_command_line(run_cli: RunCli) -> None:
    result = run_cli("translate-flags", "--", r"C:\Program Files\MicroSIP\microsip.exe", "/minimized", "--dn", "Ana")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == ["account:", "  displayName: Ana", "launch:", "  args: /minimized"]
    assert "is the program, not a flag: left out (set `install.exe` if the seat needs it)" in result.stderr
    empty = run_cli("translate-flags", "--")
    assert empty.exit_code == 0
    assert yaml.safe_load(empty.stdout) == {}
    assert empty.stdout == "# translated from: (nothing)\n{}  # nothing MicroSIP reads\n"


# --- 7. import output deploys --------------------------------------------------------------------


def test_imported_seats_carry_a_target_and_a_real_id(build_tree: BuildTree, run_cli: RunCli) -> None:
    body = ini.encode("[Settings]\r\naccountId=1\r\n[Account1]\r\nusername=100\r\ndomain=example.com\r\n")
    build_tree({"Users/jdoe/AppData/Roaming/MicroSIP/microsip.ini": body, "usb/MicroSIP/microsip.ini": body})
    result = run_cli("import", "Users/jdoe/AppData/Roaming/MicroSIP/microsip.ini", "usb/MicroSIP/microsip.ini")
    assert result.exit_code == 0, result.output
    imported = yaml.safe_load(result.stdout)
    assert [(s["id"], s["target"]) for s in imported["seats"]] == [
        ("jdoe", {"type": "appdata", "root": str(Path("Users").resolve())}),
        ("usb", {"type": "portable", "path": str(Path("usb/MicroSIP").resolve())}),
    ]
    Path("imported.yaml").write_text(result.stdout, encoding="utf-8")
    plan = run_cli("plan", "imported.yaml")  # it deploys back where it was found: nothing to change
    assert plan.exit_code == 0, plan.output
    assert (
        plan.stdout.splitlines()[-1] == "plan: 2 seats: 1 to create, 0 to update, 1 unchanged, 0 in conflict"
    )  # usb's .cmd


# --- 9. find your way ----------------------------------------------------------------------------


def test_seats_lists_who_goes_where(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree({"fleet.yaml": FLEET.replace("  - id: ana\n", "  - id: ana\n    user: ana.lima\n    profiles: []\n")})
    result = run_cli("seats", "fleet.yaml")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "id   user      target         profiles",
        "ana  ana.lima  appdata users  -",
        "1 seat",
    ]
    document = json.loads(run_cli("seats", "fleet.yaml", "--format", "json").stdout)
    assert document["seats"] == [
        {"id": "ana", "user": "ana.lima", "target": "appdata users", "profiles": [], "computer": None}
    ]
    unknown = run_cli("explain", "fleet.yaml", "--seat", "anna")
    assert unknown.exit_code == 2
    assert unknown.stderr.splitlines()[0] == "fleet.yaml: no seat with id 'anna' (did you mean 'ana'?)"


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    from provisioner.cli import report

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert report.paint("create     ana") == "\x1b[32mcreate\x1b[0m     ana"
    monkeypatch.setenv("NO_COLOR", "1")
    assert report.paint("create     ana") == "create     ana"


# --- 5. hints for the YAML mistakes admins make ----------------------------------------------------

SEAT = "version: 1\nname: t\nseats:\n  - id: anna\n    accounts: [{username: '1', domain: d}]\n"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            '    install: {exe: "C:\\Program Files\\MicroSIP\\microsip.exe"}\n',
            "fleet.yaml:6:37: YAML syntax error: found unknown escape character; in double quotes a backslash starts "
            "an escape (\\n, \\t, ...): write a Windows path in single quotes ('C:\\Program Files\\...') or with "
            "forward slashes (C:/Program Files/...)",
        ),
        (
            '    settings: {ringingSound: "C:\\new\\tab.wav"}\n',
            'fleet.yaml:6:30: in double quotes \\n became a line feed and \\t a tab, so "C:\\new\\tab.wav" is not the '
            "path it looks like: write a Windows path in single quotes or with forward slashes",
        ),
        (
            "\tsettings: {}\n",
            "fleet.yaml:6:1: YAML syntax error: found character that cannot start any token; a tab: YAML indents "
            "with spaces only -- replace the tab with spaces",
        ),
        (
            "   settings: {autoAnswer: all}\n",
            "fleet.yaml:6:4: YAML syntax error: did not find expected '-' indicator; check the indentation of line 6 "
            "against the lines above it: 'settings: {autoAnswer: all}'",
        ),
        (
            "    autoAnswer: all\n",
            "fleet.yaml:6:5: seats[anna].autoAnswer: 'autoAnswer' is a MicroSIP [Settings] key; put it under `settings:`",
        ),
        (
            "    displayName: Anna\n",
            "fleet.yaml:6:5: seats[anna].displayName: 'displayName' is a MicroSIP account key; put it under "
            "`account:` or an entry of `accounts`",
        ),
        (
            "    settings: {recordingFormat: off}\n",
            "fleet.yaml:6:33: seats[anna].settings.recordingFormat: 'off' (YAML reads it as false) is ambiguous for "
            'recordingFormat; write one of "", wav, mp3',
        ),
    ],
    ids=["double-quoted path", "escapes in a path", "tab", "indentation", "settings key", "account key", "yes/no"],
)
def test_yaml_mistakes_get_a_way_out(build_tree: BuildTree, run_cli: RunCli, extra: str, expected: str) -> None:
    build_tree({"fleet.yaml": SEAT + extra})
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == expected


def test_the_json_schema_and_the_loader_agree_on_case(build_tree: BuildTree, run_cli: RunCli) -> None:
    """`transport: TLS` and `AutoAnswer:` load (and are written as MicroSIP spells them): the schema accepts both."""
    jsonschema = pytest.importorskip("jsonschema")  # a test dependency: installed by `make test`
    schema = json.loads(run_cli("schema").stdout)
    good = SEAT.replace("domain: d}", "domain: d, transport: TLS}") + "    settings: {AutoAnswer: All}\n"
    bad = SEAT + "    settings: {AutoAnswr: all}\n"
    build_tree({"fleet.yaml": good})
    assert run_cli("validate", "fleet.yaml").exit_code == 0
    jsonschema.validate(yaml.safe_load(good), schema)
    build_tree({"fleet.yaml": bad})
    assert run_cli("validate", "fleet.yaml").exit_code == 2
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(bad), schema)


# --- 10. Windows paths, as far as this system can tell ---------------------------------------------


def test_a_unc_root_resolves_and_stays_contained(build_tree: BuildTree, run_cli: RunCli) -> None:
    """//server/share roots (a mounted profiles share, say) are plain absolute paths here; users stay below them."""
    from provisioner.fleet import load_fleet
    from provisioner.targetfs import targets

    Path("fleet.yaml").write_text(FLEET.replace("root: users", "root: '//fileserver/profiles$'"), encoding="utf-8")
    ana = targets.resolve(load_fleet(Path("fleet.yaml")).seat("ana"))
    assert str(ana.ini_path) == "//fileserver/profiles$/ana/AppData/Roaming/MicroSIP/microsip.ini"
    assert ana.ini.where.home == 1  # the user's folder below the share is never created
    escape = FLEET.replace("root: users", "root: '//fileserver/profiles$'").replace(
        "- id: ana", "- id: ana\n    user: '..'"
    )
    build_tree({"fleet.yaml": escape})
    result = run_cli("validate", "fleet.yaml")
    assert result.exit_code == 2
    assert "seats[ana].user: '..' is not a Windows user name" in result.stderr
    build_tree({"fleet.yaml": FLEET.replace("root: users", "root: '\\\\fileserver\\profiles$'")})
    result = run_cli("validate", "fleet.yaml")  # backslashes: a Windows path this system cannot open
    assert result.exit_code == 2
    assert "is a Windows path, which this system cannot open" in result.stderr


# --- issue 13: the library a CI script uses ----------------------------------------------------------


def test_a_ci_script_loads_once_and_gets_what_the_cli_prints(build_tree: BuildTree, run_cli: RunCli) -> None:
    from provisioner import DeployResult, FleetError, api

    build_tree({"fleet.yaml": FLEET})
    INI.parent.mkdir(parents=True)
    fleet = api.load(Path("fleet.yaml"))
    planned = api.plan(fleet)
    assert isinstance(planned, DeployResult) and planned.exit_code(pending_is_failure=True) == 1
    assert planned.as_json(planned.exit_code()) == json.loads(run_cli("plan", "fleet.yaml", "--format", "json").stdout)
    applied = api.apply(fleet)
    assert applied.exit_code() == 0 and INI.is_file()
    verified = api.verify(fleet)
    assert verified.exit_code() == 0
    assert verified.as_json(0) == json.loads(run_cli("verify", "fleet.yaml", "--format", "json").stdout)
    Path("broken.yaml").write_text("version: 1\n", encoding="utf-8")
    with pytest.raises(FleetError) as bad:
        api.load(Path("broken.yaml"))
    assert bad.value.exit_code == 2 and "name" in str(bad.value.errors[0])


def test_a_failure_names_its_path_for_scripts(build_tree: BuildTree, run_cli: RunCli) -> None:
    from provisioner import DeployError

    build_tree({"fleet.yaml": FLEET})  # no users/ folder: the target root is missing
    document = json.loads(run_cli("plan", "fleet.yaml", "--format", "json").stdout)
    (target,) = document["targets"]
    assert target["action"] == "failed" and target["error_path"] == "users"
    error = DeployError("users/ana: cannot write here: Permission denied", path="users/ana")
    assert error.as_json() == {
        "message": "users/ana: cannot write here: Permission denied",
        "path": "users/ana",
        "exit_code": 3,
    }

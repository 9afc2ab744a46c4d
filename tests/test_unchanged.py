"""A run that changes nothing: seats whose manifest shows them unchanged are not rendered again.

The manifest records a digest of what a seat's files were made from (``inputs``) and
each file's bytes as the run left them (``seen``). A later run with the same inputs
that finds the same bytes knows the answer; anything else is rendered and judged
afresh. These tests check that the shortcut is taken when it may be, never when it may
not, and that it always gives the answer judging afresh gives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner import api, ini, runner
from provisioner._resources import data_dir
from provisioner._speed import Fast
from provisioner.api import placing
from provisioner.errors import FleetError
from provisioner.render import renderer
from tests.conftest import BuildTree, RunCli, read_manifest, write_manifest

FLEET = """\
version: 1
name: office
defaults:
  target: {type: appdata, root: users}
  account: {server: pbx.example.com, domain: example.com, transport: tls}
  settings: {autoAnswer: header}
  launch: {shortcuts: [desktop]}
seats:
  - id: jdoe
    accounts:
      - {username: "2001", password: {env: PW_2001}}
    contacts:
      - {name: Reception, number: "100"}
"""
ENV = {"PW_2001": "s3cret-2001"}
INI = Path("users/jdoe/AppData/Roaming/MicroSIP/microsip.ini")


@pytest.fixture
def office(build_tree: BuildTree) -> Path:
    root = build_tree({"fleet.yaml": FLEET})
    (root / "users" / "jdoe").mkdir(parents=True)
    return root


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The ids of the seats rendered during the test."""
    seen: list[str] = []
    real = renderer.Renderer.render

    def counting(self: renderer.Renderer, seat: Any, problems: Any) -> Any:
        seen.append(seat.id)
        return real(self, seat, problems)

    monkeypatch.setattr(renderer.Renderer, "render", counting)
    yield seen


def manifest() -> dict[str, Any]:
    (path,) = Path(".provisioner-state/targets").glob("jdoe-*/manifest.json")
    return read_manifest(path)


def set_key(path: Path, section: str, key: str, value: str) -> None:
    """Change one key as MicroSIP (or the user) would: the file rewritten in UTF-16LE."""
    text = ini.decode(path.read_bytes())[0]
    merged = ini.merge(text, [(section, [(key, value)])])
    path.write_bytes(ini.encode(merged.text))


def apply(**options: Any) -> api.DeployResult:
    return api.apply(Path("fleet.yaml"), environ=ENV, **options)


def statuses(result: api.DeployResult) -> list[str]:
    return [report.status for report in result.seats]


def test_a_second_run_renders_nothing(office: Path, renders: list[str]) -> None:
    assert statuses(apply()) == ["applied"]
    assert renders == ["jdoe"]
    recorded = manifest()
    assert recorded["inputs"] and len(recorded["inputs"]) == 64
    assert {name: record["seen"] for name, record in recorded["files"].items()} == {
        name: record["sha256"] for name, record in recorded["files"].items()
    }
    assert statuses(apply()) == ["unchanged"]
    assert statuses(api.plan(Path("fleet.yaml"), environ=ENV)) == ["unchanged"]
    verified = api.verify(Path("fleet.yaml"), environ=ENV)
    assert [r.drift for r in verified.seats] == [[]]
    assert renders == ["jdoe"]  # plan, apply and verify took the manifest's word


def test_the_manifest_holds_no_secret(office: Path) -> None:
    apply()
    text = json.dumps(manifest())
    assert "s3cret" not in text
    other = api.apply(Path("fleet.yaml"), environ={"PW_2001": "another-one"}, judge_afresh=True)
    assert statuses(other) == ["unchanged"]  # a password on disk is kept: only its presence counts
    assert manifest()["inputs"] == json.loads(json.dumps(manifest()))["inputs"]


def test_microsip_rewriting_its_ini_costs_one_judging_then_none(office: Path, renders: list[str]) -> None:
    apply()
    set_key(INI, "Settings", "windowWidth", "640")  # MicroSIP's own state, not managed
    before = manifest()
    assert statuses(apply()) == ["unchanged"]
    assert renders == ["jdoe", "jdoe"]  # the bytes differ from what the last run left: judged afresh
    after = manifest()
    assert after["files"]["microsip.ini"]["seen"] != before["files"]["microsip.ini"]["seen"]
    assert after["files"]["microsip.ini"]["sha256"] == before["files"]["microsip.ini"]["sha256"]  # rollback's
    assert after["stamp"] == before["stamp"] and after["previous"] == before["previous"]
    assert statuses(apply()) == ["unchanged"]
    assert renders == ["jdoe", "jdoe"]  # and now the manifest knows these bytes


def test_a_managed_key_changed_on_disk_is_still_a_conflict(office: Path, renders: list[str]) -> None:
    apply()
    set_key(INI, "Settings", "autoAnswer", "all")
    result = apply()
    assert statuses(result) == ["conflict"]
    assert "[Settings] autoAnswer: changed since the last apply" in result.seats[0].outcome.message  # type: ignore[union-attr]
    verified = api.verify(Path("fleet.yaml"), environ=ENV)
    assert [d.key for d in verified.seats[0].drift] == ["[Settings] autoAnswer"]


def test_a_changed_fleet_is_judged_afresh(office: Path, renders: list[str]) -> None:
    apply()
    Path("fleet.yaml").write_text(FLEET.replace("autoAnswer: header", "autoAnswer: all"), "utf-8")
    assert statuses(apply()) == ["applied"]
    assert ini.parse(ini.decode(INI.read_bytes())[0]).as_dict()["settings"]["autoanswer"] == "all"
    assert renders == ["jdoe", "jdoe"]


def test_a_deleted_launcher_is_noticed(office: Path, renders: list[str]) -> None:
    apply()
    lnk = Path("users/jdoe/Desktop/MicroSIP.lnk")
    lnk.unlink()
    plan = api.plan(Path("fleet.yaml"), environ=ENV)
    assert [(c.name.rsplit("/", 1)[-1], c.action) for c in plan.seats[0].plan.files] == [  # type: ignore[union-attr]
        ("microsip.ini", "unchanged"),
        ("MicroSIP.lnk", "create"),
        ("Contacts.xml", "unchanged"),
    ]
    assert statuses(apply()) == ["applied"] and lnk.exists()


def test_options_that_judge_differently_take_no_shortcut(office: Path, renders: list[str]) -> None:
    apply()
    apply(rotate_passwords=True)
    assert renders == ["jdoe", "jdoe"]
    apply(keep_user=["Settings.autoAnswer"])
    assert renders == ["jdoe", "jdoe", "jdoe"]
    apply(judge_afresh=True)
    assert len(renders) == 4


def test_keep_user_leaves_no_promise_behind(office: Path) -> None:
    apply()
    set_key(INI, "Settings", "autoAnswer", "all")
    assert statuses(apply(keep_user=["Settings.autoAnswer"])) == ["unchanged"]
    # the user's value is kept this once; the next plain run must see the conflict again
    assert statuses(apply()) == ["conflict"]


def test_a_seat_with_another_secret_is_always_judged_afresh(build_tree: BuildTree, renders: list[str]) -> None:
    build_tree({"fleet.yaml": FLEET.replace("autoAnswer: header", "autoAnswer: header, cmdCallEnd: {env: HOOK}")})
    Path("users/jdoe").mkdir(parents=True)
    env = {**ENV, "HOOK": "notify.exe --token abc"}
    assert statuses(api.apply(Path("fleet.yaml"), environ=env)) == ["applied"]
    assert manifest()["inputs"] is None
    assert statuses(api.apply(Path("fleet.yaml"), environ=env)) == ["unchanged"]
    assert renders == ["jdoe", "jdoe"]
    changed = api.apply(Path("fleet.yaml"), environ={**env, "HOOK": "notify.exe --token xyz"})
    assert statuses(changed) == ["applied"]  # the secret's new value is written


def test_a_new_version_of_the_tool_judges_afresh(
    office: Path, renders: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    apply()
    monkeypatch.setattr(renderer, "tool_digest", lambda: "another build")
    assert statuses(apply()) == ["unchanged"]
    assert renders == ["jdoe", "jdoe"]


def test_an_older_manifest_is_brought_up_to_date(office: Path, renders: list[str]) -> None:
    apply()
    (path,) = Path(".provisioner-state/targets").glob("jdoe-*/manifest.json")
    older = manifest()
    del older["inputs"]
    for record in older["files"].values():
        del record["seen"]
    write_manifest(path, older)
    assert statuses(apply()) == ["unchanged"]
    assert manifest()["inputs"] and renders == ["jdoe", "jdoe"]
    apply()
    assert renders == ["jdoe", "jdoe"]


def test_verbose_and_afresh_judge_every_seat(office: Path, run_cli: RunCli, renders: list[str]) -> None:
    assert run_cli("apply", "fleet.yaml", env=ENV).exit_code == 0
    assert run_cli("verify", "fleet.yaml", env=ENV).exit_code == 0
    assert len(renders) == 1
    verbose = run_cli("plan", "fleet.yaml", "-v", env=ENV)
    assert "password: kept the one on disk" in verbose.stdout  # only judging afresh can say so
    assert run_cli("verify", "fleet.yaml", "--afresh", env=ENV).exit_code == 0
    assert len(renders) == 3


# Any change on disk, checked both ways: the shortcut and judging afresh agree.
_CHANGES = st.lists(
    st.tuples(
        st.sampled_from(["Settings", "Account1", "Calls"]),
        st.sampled_from(["autoAnswer", "windowWidth", "server", "password", "accountId", "transport"]),
        st.sampled_from(["", "1", "all", "header", "pbx.example.com", "other.example.net", "tls"]),
    ),
    max_size=3,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=_CHANGES)
def test_the_shortcut_agrees_with_judging_afresh(office: Path, changes: list[tuple[str, str, str]]) -> None:
    state = Path(".provisioner-state")
    if INI.exists():
        INI.unlink()
    for path in state.rglob("*") if state.exists() else []:
        if path.is_file():
            path.unlink()
    apply()
    apply()  # the manifest now knows the file's bytes
    for section, key, value in changes:
        set_key(INI, section, key, value)
    quick = api.plan(Path("fleet.yaml"), environ=ENV)
    full = api.plan(Path("fleet.yaml"), environ=ENV, judge_afresh=True)
    assert quick.seats[0].plan is not None and full.seats[0].plan is not None
    assert [(c.name, c.action) for c in quick.seats[0].plan.files] == [
        (c.name, c.action) for c in full.seats[0].plan.files
    ]
    quick_drift = api.verify(Path("fleet.yaml"), environ=ENV).seats[0].drift
    full_drift = api.verify(Path("fleet.yaml"), environ=ENV, judge_afresh=True).seats[0].drift
    assert [(d.key, d.message) for d in quick_drift] == [(d.key, d.message) for d in full_drift]


# A first deploy renders each seat once, to check it, and writes what it rendered then.
MANY = """\
version: 1
name: office
templates: tpl
defaults:
  target: {type: appdata, root: users}
  account: {server: pbx.example.com, domain: example.com}
seats:
  - {id: a, accounts: [{username: "1"}]}
  - {id: b, accounts: [{username: "2"}]}
  - {id: c, accounts: [{username: "3"}]}
"""
# the built-in layout, except that seat c asks for a value nobody gave
TEMPLATE = (data_dir("templates") / "microsip.ini.j2").read_text("utf-8")
BROKEN = '{% if seat.id == "c" %}{{ nothing_here }}{% endif %}' + TEMPLATE


@pytest.fixture
def many(build_tree: BuildTree, monkeypatch: pytest.MonkeyPatch) -> None:
    build_tree({"fleet.yaml": MANY, "tpl/microsip.ini.j2": TEMPLATE})
    for user in "abc":
        Path("users", user).mkdir(parents=True)


@pytest.fixture
def two_cores() -> Iterator[None]:
    """The command line's runner, sharing from two seats on: a forked helper takes half of them."""
    with runner.using(Fast(shared_from=2, cores=2)):
        yield


@pytest.mark.parametrize("shared", [False, True], ids=["one core", "two cores"])
def test_a_first_deploy_writes_the_files_it_checked(
    many: None, renders: list[str], request: pytest.FixtureRequest, shared: bool
) -> None:
    if shared:  # seat c is checked by a forked helper, which sends its packed files back
        request.getfixturevalue("two_cores")
    assert statuses(api.apply(Path("fleet.yaml"))) == ["applied"] * 3
    assert renders == (["a", "b"] if shared else ["a", "b", "c"])  # once each; the helper's is not seen here
    judged_afresh = api.plan(Path("fleet.yaml"), judge_afresh=True)
    assert [[c.action for c in seat.plan.files] for seat in judged_afresh.seats if seat.plan] == [["unchanged"]] * 3
    written = Path("users/c/AppData/Roaming/MicroSIP/microsip.ini").read_bytes()
    assert written.decode("utf-16-le") == (
        "\ufeff[Settings]\r\naccountId=1\r\n[Account1]\r\nserver=pbx.example.com\r\ndomain=example.com\r\nusername=3\r\n"
    )


@pytest.mark.parametrize("options", [{"rotate_passwords": True}, {"keep_user": ["Settings.autoAnswer"]}])
def test_a_run_that_records_no_digest_works_none_out(
    many: None, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> None:
    worked_out: list[str] = []
    real = placing.Digests.of

    def counting(self: placing.Digests, seat: Any, files: Any) -> str | None:
        worked_out.append(seat.id)
        return real(self, seat, files)

    monkeypatch.setattr(placing.Digests, "of", counting)
    assert statuses(api.apply(Path("fleet.yaml"), **options)) == ["applied"] * 3
    assert worked_out == []  # such a run judges every seat afresh and records no digest
    assert statuses(api.apply(Path("fleet.yaml"))) == ["unchanged"] * 3  # the default way: recorded now
    assert sorted(worked_out) == ["a", "b", "c"]


@pytest.mark.parametrize("shared", [False, True], ids=["one core", "two cores"])
def test_bad_input_in_the_last_seat_still_writes_nothing(
    many: None, renders: list[str], request: pytest.FixtureRequest, shared: bool
) -> None:
    if shared:  # seats b and c are checked by a forked helper, which sends back what it found
        request.getfixturevalue("two_cores")
    Path("tpl/microsip.ini.j2").write_text(BROKEN, "utf-8")
    with pytest.raises(FleetError) as info:
        api.apply(Path("fleet.yaml"))
    assert [str(p) for p in info.value.errors] == [
        "tpl/microsip.ini.j2:1:1: seats[c] (template): undefined variable: 'nothing_here' is undefined"
    ]
    assert renders == (["a", "b"] if shared else ["a", "b", "c"])  # the helper's render is not seen here
    assert not list(Path("users").rglob("*.ini")) and not Path(".provisioner-state").exists()


def test_plan_and_verify_render_as_they_judge_and_report_every_bad_seat(many: None, renders: list[str]) -> None:
    Path("tpl/microsip.ini.j2").write_text(BROKEN, "utf-8")
    for command in (api.plan, api.verify):
        renders.clear()
        with pytest.raises(FleetError) as info:
            command(Path("fleet.yaml"))
        assert [p.path for p in info.value.errors] == ["seats[c] (template)"]
        assert renders == ["a", "b", "c"]  # once each


def test_secrets_are_read_only_for_the_seats_that_are_rendered(office: Path) -> None:
    apply()
    # the environment no longer holds the password: the seat is in sync, nothing needs it
    assert statuses(api.apply(Path("fleet.yaml"), environ={})) == ["unchanged"]
    assert [r.drift for r in api.verify(Path("fleet.yaml"), environ={}).seats] == [[]]
    set_key(INI, "Settings", "windowWidth", "640")  # now the seat is rendered again, and needs it
    with pytest.raises(FleetError) as info:
        api.apply(Path("fleet.yaml"), environ={})
    assert "environment variable PW_2001 is not set" in str(info.value)


def test_two_cores_give_the_answer_of_one(many: None, renders: list[str], two_cores: None) -> None:
    # seats b and c are checked by a forked helper
    api.apply(Path("fleet.yaml"))
    renders.clear()
    set_key(Path("users/c/AppData/Roaming/MicroSIP/microsip.ini"), "Account1", "username", "999")
    assert statuses(api.apply(Path("fleet.yaml"))) == ["unchanged", "unchanged", "conflict"]
    assert renders == ["c"]  # the helper found b in sync as the parent found a; c is judged afresh
    shared = [[str(d) for d in r.drift or []] for r in api.verify(Path("fleet.yaml")).seats]
    assert shared[:2] == [[], []] and shared[2]
    with runner.using(runner.Serial()):  # all in this process
        assert [[str(d) for d in r.drift or []] for r in api.verify(Path("fleet.yaml")).seats] == shared

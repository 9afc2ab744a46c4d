"""Carrying out seats' plans on a real folder, without the CLI: a batch shares the disk's waits, nothing else."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from provisioner import deploy, ini
from provisioner.files import microsip_ini
from provisioner.files.change import Judging, SeatPlan
from provisioner.render.files import RenderedFile
from provisioner.state import parse_manifest
from provisioner.targetfs.targets import Location, Spot

FILE = RenderedFile(
    "microsip.ini",
    ini.encode("[Settings]\naccountId=1\nautoAnswer=header\n[Account1]\nserver=pbx.example.com\nusername=2001\n"),
    managed=(
        ("Settings", (("accountId", "1"), ("autoAnswer", "header"))),
        ("Account1", (("server", "pbx.example.com"), ("username", "2001"))),
    ),
)
STAMP = "20261202T120000Z"


def spot(root: Path, user: str) -> Spot:
    (root / user).mkdir(parents=True, exist_ok=True)  # the user's profile folder: never made by the tool
    return Spot(Location(root, (user, "AppData", "Roaming", "MicroSIP"), home=1), "microsip.ini")


def seat_plan(store: deploy.Store, where: Spot, old: bytes | None = None, earlier: bytes | None = None) -> SeatPlan:
    """One seat's plan, judged against ``old`` on disk and a last apply that wrote ``earlier``."""
    previous = microsip_ini.plan(FILE, "microsip.ini", where, None, None, Judging()).record if earlier else None
    change = microsip_ini.plan(FILE, "microsip.ini", where, old, previous, Judging())
    seat_id = where.where.parts[0]
    return SeatPlan(seat_id, "office", (change,), store.seat(seat_id, where.path), None)


@pytest.fixture
def store(tmp_path: Path) -> deploy.Store:
    made = deploy.Store(tmp_path / "state")
    made.ensure()
    return made


def test_a_batch_applies_each_seat_and_records_its_manifest_last(tmp_path: Path, store: deploy.Store) -> None:
    places = [spot(tmp_path / "users", user) for user in ("jdoe", "alice")]
    plans = [seat_plan(store, where) for where in places]
    results = deploy.apply_plans(plans, deploy.RealFS(), store.key(), stamp=STAMP)
    assert [(r.seat_id, r.status, r.written) for r in results if isinstance(r, deploy.SeatOutcome)] == [
        ("jdoe", "applied", [places[0].path]),
        ("alice", "applied", [places[1].path]),
    ]
    for plan, where in zip(plans, places, strict=True):
        assert where.path.read_bytes() == FILE.data
        manifest = parse_manifest((plan.state.path / "manifest.json").read_bytes(), store.key())
        assert manifest is not None and (manifest.seat, manifest.stamp, list(manifest.files)) == (
            plan.seat_id,
            STAMP,
            ["microsip.ini"],
        )


def test_a_seat_in_conflict_is_left_alone_and_the_others_are_applied(tmp_path: Path, store: deploy.Store) -> None:
    mine, theirs = spot(tmp_path / "users", "jdoe"), spot(tmp_path / "users", "alice")
    edited = ini.encode(ini.decode(FILE.data)[0].replace("autoAnswer=header", "autoAnswer=all"))
    mine.path.parent.mkdir(parents=True)
    mine.path.write_bytes(edited)  # the user changed a managed key since the last apply
    plans = [seat_plan(store, mine, old=edited, earlier=FILE.data), seat_plan(store, theirs)]
    conflict, applied = deploy.apply_plans(plans, deploy.RealFS(), store.key(), stamp=STAMP)
    assert isinstance(conflict, deploy.SeatOutcome) and conflict.status == "conflict"
    assert conflict.message.startswith("[Settings] autoAnswer: changed since the last apply: 'all' on disk")
    assert isinstance(applied, deploy.SeatOutcome) and applied.status == "applied"
    assert mine.path.read_bytes() == edited and not (plans[0].state.path / "manifest.json").exists()
    assert theirs.path.read_bytes() == FILE.data


class BrokenDisk(deploy.RealFS):
    """A disk that cannot make anything durable."""

    def make_durable(self) -> None:
        raise OSError(errno.EIO, "Input/output error")


def test_when_the_batch_cannot_be_made_durable_no_seat_replaces_anything(tmp_path: Path, store: deploy.Store) -> None:
    places = [spot(tmp_path / "users", user) for user in ("jdoe", "alice")]
    places[0].path.parent.mkdir(parents=True)
    places[0].path.write_bytes(b"[Settings]\r\nautoAnswer=all\r\n")
    plans = [seat_plan(store, places[0], old=places[0].path.read_bytes()), seat_plan(store, places[1])]
    results = deploy.apply_plans(plans, BrokenDisk(), store.key(), stamp=STAMP)
    assert [(type(r), getattr(r, "errno", None)) for r in results] == [(OSError, errno.EIO)] * 2
    assert places[0].path.read_bytes() == b"[Settings]\r\nautoAnswer=all\r\n" and not places[1].path.exists()
    assert not [p for p in tmp_path.rglob(f"{deploy.TEMP_PREFIX}*")]  # what was staged is removed
    assert not [p for p in tmp_path.rglob("manifest.json")]


def test_a_dry_run_batch_says_what_it_would_write_and_writes_nothing(tmp_path: Path, store: deploy.Store) -> None:
    where = spot(tmp_path / "users", "jdoe")
    fs = deploy.DryRunFS()
    (result,) = deploy.apply_plans([seat_plan(store, where)], fs, store.key(), stamp=STAMP)
    assert isinstance(result, deploy.SeatOutcome) and (result.status, result.written) == ("applied", [where.path])
    assert f"would write {where.path} ({len(FILE.data)} bytes)" in fs.log
    assert not where.path.parent.exists() and not [p for p in (tmp_path / "state").rglob("manifest.json")]

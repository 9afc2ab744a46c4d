"""The key catalogue: generated from the reference, complete, typed, per version."""

from __future__ import annotations

import json
import sys

from provisioner import catalogue
from tests.conftest import REPO

REFERENCE = REPO / "reference" / "microsip-keys.yaml"


def test_packaged_catalogue_is_what_the_generator_produces() -> None:
    """The reference lives in this repository, so the check runs everywhere (CI included)."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import build_catalogue
    finally:
        sys.path.pop(0)
    packaged = json.loads((REPO / "provisioner" / "data" / "catalogue.json").read_text("utf-8"))
    assert packaged == json.loads(json.dumps(build_catalogue.build(REFERENCE)))


def test_every_key_is_there_with_its_section_and_type() -> None:
    keys = catalogue.all_keys()
    assert len(keys) == 143  # 140 keys, hideCID again as 3.22.16's string, and [Global]'s two
    assert {k.section for k in keys} == {"settings", "account", "global"}
    assert sum(1 for k in keys if k.section == "account") == 24
    by_name = {(k.section, k.name): k for k in keys}
    assert by_name[("account", "transport")].choices == ("udp", "tcp", "tls", "")
    assert by_name[("settings", "volumeRing")].min == 0 and by_name[("settings", "volumeRing")].max == 100
    assert by_name[("settings", "sourcePort")].max == 65535
    assert by_name[("settings", "audioCodecs")].max_length == 511
    assert by_name[("settings", "DTMFMethod")].choices == (0, 1, 2, 3)
    assert by_name[("settings", "mainX")].runtime_rewritten
    assert not by_name[("account", "password")].runtime_rewritten
    assert by_name[("account", "passwordSize")].legacy


def test_version_key_sets_differ() -> None:
    assert "autoanswercalls" in catalogue.section_keys("settings", "3.22")
    assert "autoanswercalls" not in catalogue.section_keys("settings", "3.21")
    assert "silent" in catalogue.section_keys("settings", "3.21")
    assert "silent" not in catalogue.section_keys("settings", "3.22")
    assert "fwd" in catalogue.section_keys("settings", "3.21")  # seen in 3.21.6
    assert "accountid" not in catalogue.section_keys("settings", "3.22")  # set via active_account


def test_srtp_dtls_modes_only_in_322() -> None:
    (srtp,) = catalogue.find("SRTP")
    assert "dtls" in (srtp.choices_for("3.22") or ())
    assert "dtls" not in (srtp.choices_for("3.21") or ())


def test_suggestions() -> None:
    assert catalogue.suggest("updateInterval", ["updatesInterval", "autoAnswer"]) == "updatesInterval"
    assert catalogue.suggest("zzz", ["updatesInterval"]) is None


def test_catalogue_does_not_read_shared_at_runtime() -> None:
    source = "\n".join(p.read_text("utf-8") for p in (REPO / "provisioner").rglob("*.py"))
    assert "shared/" not in source and "microsip-keys.yaml" not in source


def test_shortcut_types_are_known() -> None:
    assert catalogue.shortcut_types("3.22")[:3] == ("call", "video", "message")
    assert "runBatch" in catalogue.shortcut_types("3.22") and "runBatch" not in catalogue.shortcut_types("3.22.16")
    assert "callOrConference" in catalogue.shortcut_types("3.22.16")


def test_3_22_16_is_a_key_set_of_its_own() -> None:
    """3.22.16 (settings.cpp): version and checkUpdatesTime live in [Global]; hideCID is a word; more buttons."""
    settings = catalogue.section_keys("settings", "3.22.16")
    assert "checkupdatestime" not in settings and "version" not in settings
    assert {"checkupdatestime", "version"} <= set(catalogue.section_keys("global", "3.22.16"))
    assert "checkupdatestime" in catalogue.section_keys("settings", "3.22")
    assert catalogue.section_keys("account", "3.22.16")["hidecid"].choices == ("", "soft", "hard")
    assert catalogue.section_keys("account", "3.22")["hidecid"].type == "bool"
    assert set(catalogue.section_keys("settings", "3.22")) - {"checkupdatestime", "version"} == set(settings)
    assert catalogue.speed_dial_fields("3.22") == 5 and catalogue.speed_dial_fields("3.22.16") == 6


def test_versions_compare_by_number() -> None:
    assert catalogue.older("3.22", "3.22.16") and catalogue.older("3.9", "3.22")
    assert not catalogue.older("3.100", "3.22") and not catalogue.older("3.22.16", "3.22")


def test_account_strings_take_what_microsip_reads() -> None:
    """AccountLoad reads server, proxy, domain, username, password, authID and displayName into 1,041 wide chars."""
    keys = catalogue.section_keys("account", "3.22")
    for name in ("server", "proxy", "domain", "username", "password", "authid", "displayname"):
        assert keys[name].max_length == 1040, name
    assert keys["label"].max_length == 255


def test_data_files_are_declared_for_the_wheel() -> None:
    """What the package reads at run time is inside it or force-included; `make wheel-check` builds the wheel
    and checks it holds them (and not the example fleet)."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["provisioner"]  # provisioner/data/ (catalogue, agent) ships with the package
    assert wheel["force-include"] == {
        "templates": "provisioner/templates",
        "profiles/starter": "provisioner/profiles/starter",
    }
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import check_wheel
    finally:
        sys.path.pop(0)
    assert "provisioner/data/catalogue.json" in check_wheel.MUST_HOLD
    assert "provisioner/profiles/example/" in check_wheel.MUST_NOT_HOLD

"""Rendering: golden bytes, encoding, template override, and the output check."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner import ini
from provisioner._speed.packing import Packer
from provisioner.errors import FleetError
from provisioner.fleet import load_fleet
from provisioner.render.renderer import render_fleet
from provisioner.render.templates import check_output
from tests.conftest import EXAMPLE, REPO, BuildTree, RunCli, listing

GOLDEN = REPO / "tests" / "golden" / "example"


def golden_bytes(name: str) -> bytes:
    """A golden file; the .desktop launcher holds the prefix's absolute path, kept as {example}."""
    data = (GOLDEN / name).read_bytes()
    return data.replace(b"{example}", str(EXAMPLE.parent).encode()) if name.endswith(".desktop") else data


def test_example_fleet_matches_golden_bytes(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("render", str(EXAMPLE), "--out", "out")
    assert result.exit_code == 0, result.output
    assert listing(tmp_path / "out") == listing(GOLDEN)
    for name in listing(GOLDEN):
        assert (tmp_path / "out" / name).read_bytes() == golden_bytes(name), name


def test_golden_files_are_utf16le_bom_crlf_settings_first() -> None:
    for path in GOLDEN.rglob("*.ini"):
        data = path.read_bytes()
        assert data.startswith(codecs.BOM_UTF16_LE + "[Settings]\r\n".encode("utf-16-le"))
        text = data[2:].decode("utf-16-le")
        assert "\n" not in text.replace("\r\n", "")
        assert "\r" not in text.replace("\r\n", "")
        parsed = ini.parse(text)
        assert parsed.sections[0].name == "Settings"
        assert parsed.section("Settings") is not None
        assert parsed.as_dict()["settings"]["accountid"].isdigit()


def test_non_ascii_display_name_round_trips() -> None:
    data = (GOLDEN / "reception" / "microsip.ini").read_bytes()
    parsed = ini.parse(ini.decode(data)[0]).as_dict()
    assert parsed["account1"]["displayname"] == "Zoë Müller – Empfang"


def test_exe_name_decides_ini_name(build_tree: BuildTree, run_cli: RunCli) -> None:
    """MicroSIP reads <exe stem>.ini: a copy renamed MicroSIP-sales.exe gets MicroSIP-sales.ini, and nothing else."""
    build_tree(
        {
            "fleet.yaml": "version: 1\nname: t\nseats:\n  - id: s\n"
            "    install: {mode: portable, exe: MicroSIP-sales.exe}\n    accounts: [{domain: d}]\n"
        }
    )
    assert run_cli("render", "fleet.yaml", "--out", "out").exit_code == 0
    assert sorted(p.name for p in Path("out/s").iterdir()) == ["MicroSIP-sales.ini", "MicroSIP.cmd"]
    assert ini.decode(Path("out/s/MicroSIP-sales.ini").read_bytes())[0].startswith("[Settings]\r\n")


def test_hook_written_with_extra_quotes() -> None:
    text = ini.decode((GOLDEN / "support-1" / "microsip.ini").read_bytes())[0]
    assert 'cmdCallStart=""C:\\Program Files\\Acme\\crm-popup.exe" --incoming"\r\n' in text
    value = ini.parse(text).as_dict()["settings"]["cmdcallstart"]
    assert value == '"C:\\Program Files\\Acme\\crm-popup.exe" --incoming'


def test_render_one_seat_only(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("render", str(EXAMPLE), "--out", "out", "--seat", "support-1")
    assert result.exit_code == 0
    assert listing(tmp_path / "out") == [
        "support-1/Contacts.xml",
        "support-1/Start Menu/Programs/MicroSIP.lnk",
        "support-1/microsip.ini",
    ]
    assert result.stdout.splitlines()[-1] == "3 files written"


def test_unknown_seat_is_bad_input(run_cli: RunCli) -> None:
    result = run_cli("render", str(EXAMPLE), "--out", "out", "--seat", "suport-1")
    assert result.exit_code == 2
    assert "no seat with id 'suport-1' (did you mean 'support-1'?)" in result.stderr
    assert not Path("out").exists()


BASE = """\
version: 1
name: t
{extra}seats:
  - id: s1
    accounts:
      - {{username: "1", domain: example.com, password: {{env: PW}}}}
"""


def test_fleet_template_overrides_builtin_layout(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "fleet.yaml": BASE.format(extra="templates: tpl\n"),
            "tpl/microsip.ini.j2": (
                "[Settings]\n; seat {{ seat.id }} of {{ fleet.name }}\n"
                "{% for k, v in settings %}{{ k }} = {{ v }}\n{% endfor %}"
                "{% for a in accounts %}[Account{{ loop.index }}]\n{% for k, v in a|reverse %}{{ k }}={{ v }}\n"
                "{% endfor %}{% endfor %}"
            ),
        }
    )
    result = run_cli("render", "fleet.yaml", "--out", "out", env={"PW": "pw"})
    assert result.exit_code == 0, result.stderr
    text = ini.decode(Path("out/s1/microsip.ini").read_bytes())[0]
    assert text == (
        "[Settings]\r\n; seat s1 of t\r\naccountId = 1\r\n"
        "[Account1]\r\npassword=pw\r\nusername=1\r\ndomain=example.com\r\n"
    )


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "[Settings]\naccountId=1\nautoAnswer=all\n[Account1]\n{% for k, v in accounts[0] %}{{k}}={{v}}\n{% endfor %}",
            "output line 3: key 'autoAnswer' in [Settings] is not part of the seat",
        ),
        (
            "[Settings]\naccountId=1\n[Evil]\nx=1\n[Account1]\n{% for k, v in accounts[0] %}{{k}}={{v}}\n{% endfor %}",
            "output line 3: section [Evil] is not part of the seat",
        ),
        (
            "[Settings]\naccountId=2\n[Account1]\n{% for k, v in accounts[0] %}{{k}}={{v}}\n{% endfor %}",
            "output line 2: [Settings] accountId does not carry the seat's value",
        ),
        ("[Settings]\naccountId=1\n", "section [Account1] is missing from the output"),
    ],
)
def test_template_cannot_inject_or_drop_content(
    build_tree: BuildTree, run_cli: RunCli, template: str, message: str
) -> None:
    build_tree({"fleet.yaml": BASE.format(extra="templates: tpl\n"), "tpl/microsip.ini.j2": template})
    result = run_cli("render", "fleet.yaml", "--out", "out", env={"PW": "pw"})
    assert result.exit_code == 2
    assert f"tpl/microsip.ini.j2: seats[s1] (template): {message}" in result.stderr.splitlines()
    assert not Path("out").exists()


def test_sandbox_blocks_unsafe_template(build_tree: BuildTree, run_cli: RunCli) -> None:
    build_tree(
        {
            "fleet.yaml": BASE.format(extra="templates: tpl\n"),
            "tpl/microsip.ini.j2": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        }
    )
    result = run_cli("render", "fleet.yaml", "--out", "out", env={"PW": "pw"})
    assert result.exit_code == 2
    assert "tpl/microsip.ini.j2:1:1: seats[s1] (template):" in result.stderr
    assert not Path("out").exists()


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    """Two processes with different hash seeds render the same bytes (no set or dict order leaks out)."""
    outputs = []
    for seed in ("1", "4242"):
        out = tmp_path / f"seed{seed}"
        subprocess.run(
            [sys.executable, "-m", "provisioner", "render", str(EXAMPLE), "--out", str(out)],
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)},
            check=True,
            capture_output=True,
        )
        outputs.append({name: (out / name).read_bytes() for name in listing(out)})
    assert outputs[0] == outputs[1] and len(outputs[0]) == 14


# --- property tests ------------------------------------------------------------------------

# Text a fleet may carry in a value: no CR/LF/NUL, no surrounding blanks, at most 255 chars.
value_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\x00"),
    min_size=0,
    max_size=80,
).filter(lambda s: s == s.strip())


def _yaml_str(value: str) -> str:
    """A YAML double-quoted scalar for any text (non-printables escaped).

    A backslash is written ``\\x5c`` and a colon ``\\x3a``: a double-quoted value that starts
    like a Windows path (``"\\\\server`` or ``"C:\\``) and holds a control character is refused by
    the loader as a path whose escapes went wrong (``"C:\\new"``), which this test is not about.
    """
    out = []
    for ch in value:
        code = ord(ch)
        if ch in "\\:":
            out.append(f"\\x{code:02x}")
        elif ch == '"':
            out.append('\\"')
        elif 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD:
            out.append(ch)
        elif code > 0xFFFF:
            out.append(f"\\U{code:08x}")
        else:
            out.append(f"\\u{code:04x}")
    return '"' + "".join(out) + '"'


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(display=value_text, label=value_text, hook=value_text.filter(bool), ua=value_text)
def test_any_valid_seat_round_trips_and_adds_nothing(
    tmp_path: Path, display: str, label: str, hook: str, ua: str
) -> None:
    fleet_file = tmp_path / "prop.yaml"
    fleet_file.write_text(
        "version: 1\nname: p\nseats:\n  - id: s\n"
        f"    settings: {{cmdCallEnd: {_yaml_str(hook)}, userAgent: {_yaml_str(ua)}}}\n"
        "    accounts:\n"
        f"      - {{domain: d.example, displayName: {_yaml_str(display)}, label: {_yaml_str(label)}}}\n",
        encoding="utf-8",
    )
    (rendered,) = render_fleet(load_fleet(fleet_file))
    text, encoding = ini.decode(rendered.ini.data)
    assert encoding == "utf-16-le"
    parsed = ini.parse(text)
    assert [s.name for s in parsed.sections] == ["Settings", "Account1"]
    assert parsed.stray == []
    assert parsed.as_dict() == {
        "settings": {"accountid": "1", "useragent": ua, "cmdcallend": hook},
        "account1": {"label": label, "domain": "d.example", "displayname": display},
    }


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=40))
def test_crafted_values_never_add_lines(value: str) -> None:
    """Whatever text reaches the writer, a valid value is one line and reads back unchanged."""
    from provisioner.models import text_problem

    if text_problem(value, 255) is not None:
        return  # refused at validation: never written
    line = f"displayName={ini.written_value(value)}"
    parsed = ini.parse(f"[Account1]\r\n{line}\r\n")
    assert len(parsed.sections) == 1
    assert parsed.as_dict() == {"account1": {"displayname": value}}


def test_check_output_accepts_builtin_layout() -> None:
    context = {"settings": [("accountId", "1")], "accounts": [[("domain", "d")]], "sections": []}
    assert check_output("[Settings]\naccountId=1\n[Account1]\ndomain=d\n", context, "t") == []


def test_render_refuses_everything_when_one_seat_fails(build_tree: BuildTree) -> None:
    build_tree({"fleet.yaml": BASE.format(extra="")})
    with pytest.raises(FleetError):
        render_fleet(load_fleet(Path("fleet.yaml")), environ={})


def test_packed_files_come_back_as_rendered() -> None:
    """What a first deploy keeps between checking and writing a seat: every kind of file, every field."""
    seats = render_fleet(load_fleet(EXAMPLE))
    kinds = {file.kind for seat in seats for file in seat.files}
    assert kinds == {"ini", "owned", "contacts"}
    packer = Packer(seats[0].files)
    for seat in seats:
        packed = packer.keep(seat.files)
        assert isinstance(packed, bytes)
        assert packer.files(packed) == seat.files
        assert len(packed) < len(b"".join(file.data for file in seat.files))  # it does keep less
    assert Packer(()).files(Packer(()).keep(seats[1].files)) == seats[1].files  # no seat to compare with

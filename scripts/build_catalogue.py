"""Build ``provisioner/data/catalogue.json`` from the MicroSIP key reference.

The reference (``shared/reference/microsip-keys.yaml``) is a hand-checked table
of every key MicroSIP reads, with its allowed values as prose. This script turns
that prose into data the package can validate with (choices, ranges, length
limits, version sets) and writes it into the package, so the installed tool never
needs the reference itself. Run it again whenever the reference changes; a test
checks that the committed file is what this script produces.

Usage: python scripts/build_catalogue.py [REFERENCE_YAML] [OUTPUT_JSON]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "reference" / "microsip-keys.yaml"
DEFAULT_OUTPUT = ROOT / "provisioner" / "data" / "catalogue.json"

#: MicroSIP version families the fleet's ``microsip:`` field can name.
VERSIONS = ("3.19", "3.20", "3.21", "3.22")
#: Characters MicroSIP reads per value (a 256-wide buffer, NUL included).
VALUE_LIMIT = 255
#: ``audioCodecs`` is read into a 512-wide buffer.
LONG_VALUE_LIMIT = 511
INT32 = (-(2**31), 2**31 - 1)
#: Keys that hold UDP/TCP port numbers (16-bit by definition).
PORT_KEYS = {"sourcePort", "rtpPortMin", "rtpPortMax"}
#: Keys whose value the fleet may give as a YAML list, and the separator used to join it.
LIST_KEYS = {"STUN": ";", "dnsSrvNs": ";", "proxy": " ", "audioCodecs": " "}
#: Keys the spec calls legacy: refused with an explanation.
LEGACY_KEYS = {"passwordSize", "id"}
#: Values that only some versions accept (microsip.md section 8: DTLS modes are 3.22 only).
CHOICES_NOT_BEFORE = {"SRTP": {"dtls-sdes": "3.22", "dtls": "3.22"}}


def _choices(key: dict[str, Any]) -> list[str | int] | None:
    """Turn the prose in ``allowed`` into a list of accepted values, if it is an enumeration."""
    allowed = str(key.get("allowed") or "")
    if key["type"] == "int":
        found = re.findall(r"(?:^|, )(\d+) = ", allowed)
        return [int(n) for n in found] if len(found) >= 2 else None
    if key["type"] != "string" or " | " not in allowed:
        return None
    values: list[str | int] = []
    for part in allowed.split(" | "):
        token = part.strip().split(" ")[0]
        values.append("" if token in ("''", '""') else token)
    values += re.findall(r"also recognises (\w+)", allowed)
    if key.get("default") == "" and "" not in values:
        values.insert(0, "")
    return values


def _false_means_empty(key: dict[str, Any]) -> bool:
    """Whether YAML ``false``/``off`` may stand for ``""``: only where ``""`` really means off."""
    allowed = str(key.get("allowed") or "")
    if key["type"] != "string" or " | " not in allowed:
        return False
    for part in allowed.split(" | "):
        part = part.strip()
        if part.startswith("''"):
            note = part[2:].strip()
            return note in ("", "(off)", "(disabled)")
    return False


def _range(key: dict[str, Any]) -> tuple[int, int] | None:
    if key["type"] != "int":
        return None
    allowed = str(key.get("allowed") or "")
    if key["name"] in PORT_KEYS:
        return (0, 65535)
    match = re.match(r"(-?\d+)\.\.(\d+)", allowed)
    if match:
        return (int(match.group(1)), int(match.group(2)))
    if allowed.strip() == "0/1":
        return (0, 1)
    if "pixels" in allowed:  # window positions are negative on a left-hand monitor
        return INT32
    return (0, INT32[1])


def _codecs(key: dict[str, Any]) -> list[str] | None:
    if key["name"] != "audioCodecs":
        return None
    tail = str(key["allowed"]).split("ids the app knows:", 1)[1]
    return tail.split()


def _versions(seen: list[str]) -> list[str]:
    return [v for v in VERSIONS if any(str(s).startswith(v + ".") for s in seen)]


def build(source: Path) -> dict[str, Any]:
    """Read the reference YAML and return the catalogue as JSON-ready data."""
    ref = yaml.safe_load(source.read_text(encoding="utf-8"))
    keys = []
    for key in ref["keys"]:
        name = key["name"]
        kind = "plain"
        if name.startswith("cmd"):
            kind = "hook"
        elif name == "audioCodecs":
            kind = "codecs"
        elif name == "password":
            kind = "secret"
        elif name in ("server", "proxy"):
            kind = "host"
        rng = _range(key)
        keys.append(
            {
                "section": key["section"],
                "name": name,
                "type": key["type"],
                "default": key.get("default"),
                "allowed": key.get("allowed"),
                "choices": _choices(key),
                "choices_since": CHOICES_NOT_BEFORE.get(name, {}),
                "false_means_empty": _false_means_empty(key),
                "min": rng[0] if rng else None,
                "max": rng[1] if rng else None,
                "max_length": LONG_VALUE_LIMIT if name == "audioCodecs" else VALUE_LIMIT,
                "list_separator": LIST_KEYS.get(name),
                "codecs": _codecs(key),
                "kind": kind,
                "runtime_rewritten": bool(key.get("runtime_rewritten")) and name != "password",
                "legacy": name in LEGACY_KEYS,
                "versions": _versions(key.get("seen_in_versions") or []),
                "notes": key.get("notes", ""),
                "source": key.get("source", ""),
            }
        )
    shortcuts = next(s for s in ref["other_sections"] if s["section"] == "Shortcuts")
    return {
        "about": "Generated by scripts/build_catalogue.py from the MicroSIP key reference "
        "(facts read from public MicroSIP source mirrors). Do not edit by hand.",
        "versions": list(VERSIONS),
        "default_version": VERSIONS[-1],
        "version_sources": ref["version_sources"],
        "file_format": ref["file_format"],
        "command_line": ref["command_line"],
        "other_sections": ref["other_sections"],
        "shortcut_types": str(shortcuts["types"]).split(" (")[0].split(),
        "keys": keys,
    }


def main(argv: list[str]) -> int:
    """Entry point: ``build_catalogue.py [SOURCE] [OUTPUT]``."""
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    output = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUTPUT
    data = build(source)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {output} ({len(data['keys'])} keys)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

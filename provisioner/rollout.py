"""The rollout view: the agents' reports under ``status/`` read against ``publish.json``.

Each agent writes ``status/<user>@<computer>.ini`` (UTF-16LE) after it applied,
deferred or failed. A seat is ``applied`` when a report carries its current
generation; ``stale`` when the newest report is of an older one; ``deferred`` or
``failed`` (with the agent's message) when the report says so; ``never seen``
when no PC reported it yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner import ini
from provisioner.errors import UsageError

#: A status report is a few hundred bytes; anything larger is not one.
MAX_REPORT = 64 * 1024


@dataclass
class Report:
    """One agent's report."""

    computer: str
    generation: str
    result: str
    time: str
    message: str


@dataclass
class SeatStatus:
    """Where one seat stands."""

    seat: str
    user: str
    computer: str | None
    generation: str
    state: str  # applied | stale | deferred | failed | never seen
    reports: list[Report] = field(default_factory=list)

    @property
    def current(self) -> bool:
        """Whether every PC that reported runs this seat's current generation."""
        return self.state == "applied"


def _report(path: Path) -> Report | None:
    try:
        if path.stat().st_size > MAX_REPORT:
            return None
        values = ini.parse(ini.decode(path.read_bytes())[0]).as_dict().get("status", {})
    except (OSError, ini.DecodeError):
        return None
    computer = path.stem.rpartition("@")[2]
    return Report(
        computer,
        values.get("generation", ""),
        values.get("result", ""),
        values.get("time", ""),
        values.get("message", ""),
    )


def read(share: Path) -> list[SeatStatus]:
    """Every published seat and what its agents reported."""
    try:
        document: dict[str, Any] = json.loads((share / "publish.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{share}: no publish.json here; point at the folder `provisioner publish` wrote") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{share / 'publish.json'}: cannot be read ({exc})") from None
    reports: dict[str, list[tuple[str, Report]]] = {}
    status_dir = share / "status"
    for path in sorted(status_dir.glob("*@*.ini")) if status_dir.is_dir() else []:
        report = _report(path)
        if report is not None:
            reports.setdefault(path.stem.rpartition("@")[0].lower(), []).append((path.stem, report))
    out = []
    for entry in document.get("seats", []):
        mine = [
            r
            for _, r in reports.get(str(entry["user"]).lower(), [])
            if not entry.get("computer") or r.computer.lower() == str(entry["computer"]).lower()
        ]
        out.append(
            SeatStatus(
                str(entry["seat"]),
                str(entry["user"]),
                entry.get("computer"),
                str(entry["generation"]),
                _state(mine, str(entry["generation"])),
                mine,
            )
        )
    return out


def _state(reports: list[Report], generation: str) -> str:
    if not reports:
        return "never seen"
    words = []
    for report in reports:
        if report.result == "applied" and report.generation == generation:
            words.append("applied")
        elif report.result in ("deferred", "failed", "damaged"):
            words.append("failed" if report.result == "damaged" else report.result)
        else:
            words.append("stale")
    for word in ("failed", "deferred", "stale"):
        if word in words:
            return word
    return "applied"

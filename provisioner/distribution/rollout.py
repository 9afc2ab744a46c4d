"""The rollout view: the agents' reports under ``status/`` read against ``publish.json``.

Each agent writes ``status/<user>/<user>@<computer>.ini`` (UTF-16LE) after it
applied, deferred or failed. ``publish`` makes ``status/<user>/`` and ``acl.cmd`` lets
that user alone write it, so a report's place vouches for its writer: a report
anywhere else, or named for another user, is flagged and never counted. A seat is
``applied`` when a report carries its current generation; ``stale`` when the newest
report is of an older one; ``deferred`` or ``failed`` (with the agent's message) when
the report says so; ``never seen`` when no PC reported it yet.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner import ini
from provisioner.errors import DeployError, UsageError, printable
from provisioner.targetfs.reaching import open_root
from provisioner.targetfs.safefs import Folder

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
    seat: str = ""  # the seat id the agent applied (agents before reports named it: empty)
    folder: str = ""  # the seat folder it read (``jdoe`` or ``jdoe@PC1``), even from a damaged payload
    warning: str = ""  # what the agent warned about (MicroSIP reads another ini than the seat says, ...)


@dataclass
class SeatRollout:
    """Where one seat stands."""

    seat: str
    user: str
    computer: str | None
    generation: str
    state: str  # applied | stale | deferred | failed | never seen
    reports: list[Report] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """What the agents warned about, each once (a report of the current generation's)."""
        seen = [r.warning for r in self.reports if r.warning and r.generation == self.generation]
        return list(dict.fromkeys(seen))

    @property
    def current(self) -> bool:
        """Whether every PC that reported runs this seat's current generation."""
        return self.state == "applied"


def _report(folder: Folder, name: str) -> Report | None:
    """A report as its agent wrote it, or None for anything else dropped into ``status/``.

    Users may write ``status/``: a link (to ``/dev/zero``, to a file only root may read), a
    FIFO or an oversized file is refused without being followed, waited on or read whole
    (:meth:`provisioner.targetfs.safefs.Folder.read`); what is shown of a report is made printable.
    """
    try:
        found = folder.read(name, MAX_REPORT)
        if found is None:
            return None
        values = ini.parse(ini.decode(found[0])[0]).as_dict().get("status", {})
    except (DeployError, ini.DecodeError):
        return None
    computer = name[: -len(".ini")].rpartition("@")[2]
    return Report(
        printable(computer),
        printable(values.get("generation", "")),
        printable(values.get("result", "")),
        printable(values.get("time", "")),
        printable(values.get("message", "")),
        printable(values.get("seat", "")),
        printable(values.get("folder", "")),
        printable(values.get("warning", "")),
    )


def _reports(status_dir: Path, users: list[str]) -> tuple[dict[str, list[Report]], list[str]]:
    """The agents' reports by user (lower case), and what was found that does not check out."""
    out: dict[str, list[Report]] = {}
    flagged: list[str] = []
    try:
        folder = open_root(status_dir)
    except DeployError:
        return out, flagged  # no status folder (yet), or one that is not a folder: no reports
    with folder:
        flagged.extend(
            f"status/{printable(name)}: not in its user's folder status/<user>/ (anyone may have written it); ignored"
            for name in folder.names()
            if fnmatch.fnmatchcase(name, "*@*.ini")
        )
        for user in users:
            out[user.lower()] = _user_reports(folder, user, flagged)
    return out, flagged


def _user_reports(status: Folder, user: str, flagged: list[str]) -> list[Report]:
    """The reports in ``status/<user>/`` that are named for that user."""
    try:
        mine = status.child(user)
    except DeployError:
        flagged.append(f"status/{printable(user)}: is not a folder; its user's reports are not read")
        return []
    if mine is None:
        return []
    found = []
    with mine:
        for name in mine.names():
            if not fnmatch.fnmatchcase(name, "*@*.ini"):
                continue
            if name[: -len(".ini")].rpartition("@")[0].lower() != user.lower():
                flagged.append(f"status/{printable(user)}/{printable(name)}: a report for another user; ignored")
                continue
            report = _report(mine, name)
            if report is not None:
                found.append(report)
    return found


@dataclass
class Rollout:
    """Every published seat and what its agents reported, and the reports that did not check out."""

    seats: list[SeatRollout]
    flagged: list[str]


def read(share: Path) -> Rollout:
    """Every published seat and what its agents reported."""
    try:
        document: dict[str, Any] = json.loads((share / "publish.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{share}: no publish.json here; point at the folder `provisioner publish` wrote") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{share / 'publish.json'}: cannot be read ({exc})") from None
    users = sorted({str(entry["user"]) for entry in document.get("seats", [])}, key=str.lower)
    reports, flagged = _reports(share / "status", users)
    out = []
    for report in (r for found in reports.values() for r in found if not (r.seat or r.folder)):
        flagged.append(f"a report from {report.computer} names no seat (an agent older than its share); ignored")
    for entry in document.get("seats", []):
        mine = [r for r in reports.get(str(entry["user"]).lower(), []) if _for(r, entry)]
        out.append(
            SeatRollout(
                str(entry["seat"]),
                str(entry["user"]),
                entry.get("computer"),
                str(entry["generation"]),
                _state(mine, str(entry["generation"])),
                mine,
            )
        )
    return Rollout(out, flagged)


def _for(report: Report, entry: dict[str, Any]) -> bool:
    """Whether ``report`` is of the seat ``entry`` of publish.json: by its seat id, or (a payload
    too damaged to name it) by the seat folder the agent read."""
    if report.seat:
        return report.seat == str(entry["seat"])
    return bool(report.folder) and "seats/" + report.folder.lower() == str(entry["folder"]).lower()


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

"""What plan, apply and verify return: one report per seat, and the JSON document the CLI prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from provisioner.api.common import (
    TOOL,
)
from provisioner.api.leaving import Leaver
from provisioner.deploy import SeatOutcome
from provisioner.errors import (
    Problem,
    display_path,
)
from provisioner.files.change import Drift, SeatPlan
from provisioner.fleet import Fleet

#: A seat's word in a result: a plan's action, an apply's outcome, or why neither came.
DeployStatus = Literal["create", "update", "unchanged", "conflict", "applied", "partial", "failed", "waiting"]

#: The words each command's JSON summary counts seats by, every one present even when zero.
PLAN_WORDS = ("create", "update", "unchanged", "conflict", "partial", "waiting", "failed")
APPLY_WORDS = ("applied", "unchanged", "conflict", "partial", "waiting", "failed")
VERIFY_WORDS = ("unchanged", "drift", "waiting", "failed")


@dataclass
class SeatReport:
    """One seat in a plan, apply or verify result."""

    plan: SeatPlan | None
    seat_id: str
    outcome: SeatOutcome | None = None
    drift: list[Drift] = field(default_factory=list)
    error: str | None = None
    waiting: str | None = None  # the user's profile folder does not exist yet
    #: The file or folder a failure is about (DeployError.path), for scripts.
    error_path: str | None = None

    @property
    def status(self) -> DeployStatus:
        """failed, waiting, or the plan's/outcome's word."""
        if self.error is not None:
            return "failed"
        if self.waiting is not None:
            return "waiting"
        word: DeployStatus = self.outcome.status if self.outcome is not None else self._planned()
        return "partial" if self.refused and word != "conflict" else word  # a file was left out

    def _planned(self) -> DeployStatus:
        return self.plan.action if self.plan is not None else "unchanged"

    @property
    def refused(self) -> bool:
        """Whether a file of the seat was left out because it cannot be reached safely."""
        return self.plan is not None and bool(self.plan.refused)


@dataclass
class DeployResult:
    """Outcome of plan, apply or verify over the chosen seats."""

    fleet: Fleet
    seats: list[SeatReport]
    warnings: list[Problem]
    dry_run: bool = False
    applied: bool = False  # from apply (its JSON says whether it was a dry run)
    verified: bool = False  # from verify: drift, not changes
    left: list[Leaver] = field(default_factory=list)  # seats the state folder knows that the fleet no longer has
    pruned: bool = False  # from apply --prune: the leavers were retired (one that could not be is a failure)

    @property
    def pending(self) -> bool:
        """Whether applying would still change something."""
        return any(r.plan is not None and r.plan.action != "unchanged" for r in self.seats)

    @property
    def failed(self) -> bool:
        """Whether a seat failed or was refused (exit 3)."""
        unretired = self.pruned and any(leaver.problem for leaver in self.left)
        return unretired or any(
            r.error is not None or r.refused or (r.outcome is not None and r.outcome.status == "conflict")
            for r in self.seats
        )

    def exit_code(self, *, pending_is_failure: bool = False) -> int:
        """The command's exit code (the contract's): 3 when a seat failed or was refused, 1 for drift from
        ``verify`` or, with ``pending_is_failure`` (``plan --exit-code``, ``apply --dry-run``), for pending
        changes, else 0."""
        if self.failed or any(r.error for r in self.seats):
            return 3
        if self.verified:
            return 1 if any(r.drift for r in self.seats) else 0
        return 1 if pending_is_failure and self.pending else 0

    def as_json(self, exit_code: int) -> dict[str, Any]:
        """The JSON document the CLI prints: ``ok`` is true exactly when ``exit_code`` is 0."""
        targets_json = [t for r in self.seats for t in (_verify_json(r) if self.verified else _target_json(r))]
        words = [t["action"] for t in targets_json] if self.verified else [r.status for r in self.seats]
        counts = dict.fromkeys(VERIFY_WORDS if self.verified else APPLY_WORDS if self.applied else PLAN_WORDS, 0)
        for word in words:
            counts[word] = counts.get(word, 0) + 1
        return {
            "ok": exit_code == 0,
            "errors": [],
            "warnings": [p.as_json() for p in self.warnings],
            "exit_code": exit_code,
            **({} if self.verified else {"dry_run": self.dry_run} if self.applied else {}),
            "tool": TOOL,
            "summary": {"seats": {"total": len(self.seats), **counts}},
            "targets": targets_json,
            "left": [leaver.as_json() for leaver in self.left],
        }


def _target_json(report: SeatReport) -> list[dict[str, Any]]:
    if report.plan is None:
        word = "waiting" if report.waiting else "failed"
        return [
            {
                "seat": report.seat_id,
                "path": None,
                "action": word,
                "diff": "",
                ("message" if report.waiting else "error"): report.waiting or report.error,
                **({"error_path": report.error_path} if report.error_path else {}),
            }
        ]
    out = []
    for change in report.plan.files:
        entry: dict[str, Any] = {
            "seat": report.seat_id,
            "path": display_path(str(change.path)),
            "action": change.action,
            "diff": change.diff,
            "notes": change.notes + change.details,
            "conflicts": change.conflicts,
        }
        if report.outcome is not None:
            entry["result"] = report.outcome.status
            if change.action == "conflict" and report.outcome.status == "applied":
                entry["action"] = "overwrite"  # --force wrote over the conflict
        if report.error:
            entry["error"] = report.error
        out.append(entry)
    for refused in report.plan.refused:
        entry = {"seat": report.seat_id, "path": display_path(str(refused.path)), "action": "refused", "diff": ""}
        out.append({**entry, "error": refused.why})
    return out


def _verify_json(report: SeatReport) -> list[dict[str, Any]]:
    action = "failed" if report.error else "waiting" if report.waiting else "drift" if report.drift else "unchanged"
    return [
        {
            "seat": report.seat_id,
            "path": display_path(str(report.drift[0].file)) if report.drift else None,
            "action": action,
            "diff": "",
            "drift": [{"key": d.key, "message": d.message} for d in report.drift],
            **({"error": report.error} if report.error else {}),
            **({"error_path": report.error_path} if report.error_path else {}),
            **({"message": report.waiting} if report.waiting else {}),
        }
    ]

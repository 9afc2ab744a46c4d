"""What the CLI calls: one function per command, returning plain results.

Nothing here prints; the CLI decides how results look. Errors are raised as
:class:`provisioner.errors.ProvisionerError` subclasses carrying their exit code.
A fleet can be loaded once (:func:`load`) and given to every command instead of
its path.

The commands live by what they are for:

* :mod:`~provisioner.api.authoring` -- validate, render, seats, explain, keys,
  schema, init, translate-flags, import: writing and checking a fleet;
* :mod:`~provisioner.api.deploying` -- plan, apply, verify, rollback, on the
  seats :mod:`~provisioner.api.placing` placed, reported as
  :mod:`~provisioner.api.results`;
* :mod:`~provisioner.api.distributing` -- publish, status, bundle: getting seats
  to the PCs;
* :mod:`~provisioner.api.comparing` -- diff: what a change of fleet changes;
* :mod:`~provisioner.api.registering` -- check-registration: each account asked of
  its registrar;
* :mod:`~provisioner.api.merging` -- merge_seat, merge_file, seat_files: apply's
  judging of a seat's files, in memory, for engines that deliver them themselves.
"""

from __future__ import annotations

from provisioner.api.authoring import (
    ExplainResult,
    ExplainRow,
    FlagsResult,
    RenderResult,
    SeatRow,
    ValidateResult,
    explain,
    import_inis,
    init,
    keys,
    render,
    schema,
    seats,
    translate_flags,
    validate,
)
from provisioner.api.common import STATE_FOLDER, TOOL, FleetSource, load, state_store
from provisioner.api.comparing import FleetDiff, KeyChange, SeatDiff, diff
from provisioner.api.deploying import PlanOptions, RollbackResult, apply, plan, rollback, verify
from provisioner.api.distributing import BundleResult, PublishResult, bundle, package_agent, publish, status
from provisioner.api.merging import MergeResult, SeatFile, ini_destination, merge_file, merge_seat, seat_files
from provisioner.api.registering import AccountCheck, RegistrationResult, check_registration
from provisioner.api.results import DeployResult, DeployStatus, SeatReport

__all__ = [
    "STATE_FOLDER",
    "TOOL",
    "AccountCheck",
    "BundleResult",
    "DeployResult",
    "DeployStatus",
    "ExplainResult",
    "ExplainRow",
    "FlagsResult",
    "FleetDiff",
    "FleetSource",
    "KeyChange",
    "MergeResult",
    "PlanOptions",
    "PublishResult",
    "RegistrationResult",
    "RenderResult",
    "RollbackResult",
    "SeatDiff",
    "SeatFile",
    "SeatReport",
    "SeatRow",
    "ValidateResult",
    "apply",
    "bundle",
    "check_registration",
    "diff",
    "explain",
    "import_inis",
    "ini_destination",
    "init",
    "keys",
    "load",
    "merge_file",
    "merge_seat",
    "package_agent",
    "plan",
    "publish",
    "render",
    "rollback",
    "schema",
    "seat_files",
    "seats",
    "state_store",
    "status",
    "translate_flags",
    "validate",
    "verify",
]

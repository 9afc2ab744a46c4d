"""microsip-provisioner: provision fleets of the MicroSIP softphone from one YAML file.

The library a CI script uses is :mod:`provisioner.api` -- the same calls the
``provisioner`` command makes -- and the result and error types named here::

    from provisioner import api
    fleet = api.load(Path("fleet.yaml"))             # FleetError on bad input (exit 2)
    result = api.plan(fleet, root=Path("build"))     # load once, then plan, apply, verify, publish...
    print(result.as_json(result.exit_code()))

Everything else is internal and may change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # loaded on first use, so that the command starts fast
    from provisioner import api
    from provisioner.api import DeployResult, SeatReport
    from provisioner.errors import DeployError, FleetError, ProvisionerError, UsageError
    from provisioner.fleet import Fleet, Seat

_HOME = {
    "DeployResult": "provisioner.api",
    "SeatReport": "provisioner.api",
    "DeployError": "provisioner.errors",
    "FleetError": "provisioner.errors",
    "ProvisionerError": "provisioner.errors",
    "UsageError": "provisioner.errors",
    "Fleet": "provisioner.fleet",
    "Seat": "provisioner.fleet",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "api":
        return importlib.import_module("provisioner.api")
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'provisioner' has no attribute {name!r}")


__all__ = [
    "DeployError",
    "DeployResult",
    "Fleet",
    "FleetError",
    "ProvisionerError",
    "Seat",
    "SeatReport",
    "UsageError",
    "__version__",
    "api",
]

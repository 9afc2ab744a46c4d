"""microsip-provisioner: provision fleets of the MicroSIP softphone from one YAML file."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

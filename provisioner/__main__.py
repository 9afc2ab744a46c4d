"""``python -m provisioner``."""

from __future__ import annotations

from provisioner.cli import main

main(prog_name="provisioner")

"""Pydantic models of the fleet format, built from the key catalogue.

``settings`` and ``account`` models are generated per MicroSIP version from
:mod:`provisioner.catalogue`: one optional field per key, typed, range- and
choice-checked, matched case-insensitively and stored under the catalogue's
canonical spelling. Every model forbids unknown fields. The layer models validate
what one file says; rules that need the merged seat live in :mod:`provisioner.fleet.effective`.

The package has three parts: :mod:`~provisioner.models.sections` (the generated
models and the value rules every model shares), :mod:`~provisioner.models.phonebook`
(speed dials and contacts) and :mod:`~provisioner.models.layers` (the rest of a layer,
and the fleet file).
"""

from __future__ import annotations

from provisioner.models.layers import Launch, Target, TargetType, fleet_models
from provisioner.models.phonebook import CONTACT_ATTRIBUTES, CONTACT_FLAGS, MAX_SPEED_DIALS, Contact, SpeedDial
from provisioner.models.sections import ID_PATTERN, NAME_PATTERN, choices_text, section_model, show, text_problem

__all__ = [
    "CONTACT_ATTRIBUTES",
    "CONTACT_FLAGS",
    "ID_PATTERN",
    "MAX_SPEED_DIALS",
    "NAME_PATTERN",
    "Contact",
    "Launch",
    "SpeedDial",
    "Target",
    "TargetType",
    "choices_text",
    "fleet_models",
    "section_model",
    "show",
    "text_problem",
]

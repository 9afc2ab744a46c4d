"""MicroSIP's phonebook, Contacts.xml: the file's bytes as MicroSIP writes them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from provisioner.models import CONTACT_ATTRIBUTES


def contact_element(contact: dict[str, Any]) -> ET.Element:
    """A ``<contact>`` element with MicroSIP's attribute names, in MicroSIP's order."""
    element = ET.Element("contact")
    for name in CONTACT_ATTRIBUTES:
        value = contact.get(name)
        if value is None:
            continue
        element.set(name, ("1" if value else "0") if isinstance(value, bool) else str(value))
    return element


def contacts_document(elements: list[ET.Element]) -> bytes:
    """Contacts.xml as MicroSIP keeps it: UTF-8 without BOM, an XML declaration, one contact a line.

    Each contact is written from its attributes alone: a contact read from a file carries the
    line break after it (its tail), which would otherwise be written again. The Windows agent
    writes the same bytes (agent/contacts.c).
    """
    lines = ['<?xml version="1.0"?>', "<contacts>"]
    lines += [ET.tostring(ET.Element("contact", element.attrib), encoding="unicode") for element in elements]
    lines.append("</contacts>")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def contacts_xml(contacts: list[dict[str, Any]]) -> bytes:
    """The fleet's contacts as a Contacts.xml document."""
    return contacts_document([contact_element(c) for c in contacts])

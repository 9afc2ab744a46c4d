"""MicroSIP's phonebook as a deployed file: merged contact by contact, the user's own kept (no CLI, no disk)."""

from __future__ import annotations

from pathlib import Path

from provisioner.files import KINDS, contacts
from provisioner.files.change import Judging
from provisioner.render.files import RenderedFile
from provisioner.targetfs.targets import Location, Spot

# the file's folder below the target root users/, jdoe's profile folder first
SPOT = Spot(Location(Path("users"), ("jdoe", "AppData", "Roaming", "MicroSIP"), home=1), "Contacts.xml")
PATH = SPOT.path
FLEET = (
    b'<?xml version="1.0"?>\r\n<contacts>\r\n'
    b'<contact name="Helpdesk" number="200" starred="1"/>\r\n'
    b'<contact name="Reception" number="100"/>\r\n</contacts>\r\n'
)
FILE = RenderedFile("Contacts.xml", FLEET, kind="contacts")
USERS = b'<?xml version="1.0"?>\r\n<contacts>\r\n<contact name="Mum" number="555"/>\r\n<contact name="Help" number="200"/>\r\n</contacts>\r\n'


def test_the_fleets_contacts_join_the_users_own() -> None:
    assert KINDS["contacts"] is contacts and contacts.private is False
    change = contacts.plan(FILE, "Contacts.xml", SPOT, USERS, None, Judging())
    assert change.action == "update"
    assert change.notes == ["contact 'Helpdesk' (200): updated", "contact 'Reception' (100): added"]
    names = [line for line in change.new.decode("utf-8").splitlines() if "<contact " in line]
    assert [n.split('name="')[1].split('"')[0] for n in names] == ["Mum", "Helpdesk", "Reception"]
    again = contacts.plan(FILE, "Contacts.xml", SPOT, change.new, None, Judging())
    assert (again.action, again.new) == ("unchanged", change.new)


def test_replace_mode_makes_the_file_the_fleets_list() -> None:
    replacing = RenderedFile("Contacts.xml", FLEET, kind="contacts", replace=True)
    change = contacts.plan(replacing, "Contacts.xml", SPOT, USERS, None, Judging())
    assert (change.action, change.new) == ("update", FLEET)
    drift = contacts.verify(replacing, "Contacts.xml", PATH, USERS, Judging())
    assert [(d.key, d.message) for d in drift] == [
        ("contact 200", "differs from the fleet"),
        ("contact 100", "missing"),
        ("contact 555", "not in the fleet (contacts_mode: replace)"),
    ]


def test_a_phonebook_that_is_not_microsips_is_a_conflict() -> None:
    odd = b"<contacts><group name='x'/></contacts>"
    change = contacts.plan(FILE, "Contacts.xml", SPOT, odd, None, Judging())
    assert change.action == "conflict"
    assert change.conflicts == [
        "the existing Contacts.xml cannot be read (it holds a <group> element besides the contacts); "
        "--force replaces it (the old bytes are kept in the backup)"
    ]

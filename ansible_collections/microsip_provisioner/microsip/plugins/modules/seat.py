#!/usr/bin/python
# Copyright: microsip-provisioner developers
# MIT License (see the repository's LICENSE)
"""Documentation of the seat action plugin (the work is done on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: seat
short_description: Merge a MicroSIP seat's files into a host's and push them
description:
  - Renders the seat of a microsip-provisioner fleet and judges each of its files against the host's
    exactly as C(provisioner apply) does, on the controller; the C(microsip.ini) is merged key by key
    (the host's call history, window state and the password MicroSIP encrypted are kept), the phonebook
    C(Contacts.xml) by number, and each launcher on its bytes.
  - Reads each file with M(ansible.windows.slurp) (a Windows host) or M(ansible.builtin.slurp), and writes
    it with M(ansible.windows.win_copy) or M(ansible.builtin.copy) only when it changes.
  - A managed key, or a launcher, someone changed on the host since the last push is a conflict; the task
    fails with the tool's own message, having written nothing, unless O(force) is set.
  - Each file's record is kept in O(state_dir) on the controller, per host and seat, and saved only after
    that file's push succeeded.
version_added: 0.1.0
author:
  - microsip-provisioner developers (@microsip-provisioner)
options:
  fleet:
    description: The fleet file, on the controller.
    type: path
    required: true
  seat:
    description: The id of the seat to push to this host.
    type: str
    required: true
  state_dir:
    description: A folder on the controller that keeps each host's record of each seat.
    type: path
    required: true
  dest:
    description:
      - The ini's path on the host (the phonebook and launchers go where the seat places them).
      - Default on Windows, C(C:\Users\<user>\AppData\Roaming\MicroSIP\microsip.ini) for an installed MicroSIP and
        the exe's folder for a portable one; elsewhere the seat's target as the controller resolves it.
    type: str
  force:
    description: Write over a conflict (a managed key changed on the host since the last push).
    type: bool
    default: false
  keep_user:
    description: Keys (V(SECTION.KEY)) whose value on the host is kept this time.
    type: list
    elements: str
    default: []
  rotate_passwords:
    description: Replace a password already on the host (MicroSIP encrypts it; it is kept by default).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Nothing is pushed; C(changed) says whether a push would change the file.
  diff_mode:
    support: full
    description: The tool's unified diff of the ini, secrets masked.
  platform:
    support: full
    platforms: [windows, posix]
    description: Windows hosts through ansible.windows, Linux and Wine hosts through ansible.builtin.
requirements:
  - the microsip-provisioner package on the controller
"""

EXAMPLES = r"""
- name: Push each desk's MicroSIP settings
  microsip_provisioner.microsip.seat:
    fleet: "{{ playbook_dir }}/fleet.yaml"
    seat: "{{ microsip_seat }}"
    state_dir: "{{ playbook_dir }}/.microsip-state"

- name: Keep a user's own ring volume this time
  microsip_provisioner.microsip.seat:
    fleet: fleet.yaml
    seat: reception
    state_dir: .microsip-state
    keep_user: [Settings.volumeRing]
"""

RETURN = r"""
files:
  description: Each of the seat's files, where it goes on the host and what the push does to it.
  returned: always
  type: list
  elements: dict
  sample:
    - name: ini/microsip.ini
      dest: C:\Users\jdoe\AppData\Roaming\MicroSIP\microsip.ini
      action: update
action:
  description: What the merge did to the ini.
  returned: always
  type: str
  sample: update
dest:
  description: The ini's path on the host.
  returned: always
  type: str
  sample: C:\Users\jdoe\AppData\Roaming\MicroSIP\microsip.ini
notes:
  description: What the merge did besides setting keys (a password written, an encoding converted).
  returned: always
  type: list
  elements: str
  sample: ["[Account1] password: written (none on disk)"]
"""

#!/usr/bin/python
# Copyright: microsip-provisioner developers
# MIT License (see the repository's LICENSE)
"""Documentation of the collect action plugin (the work is done on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: collect
short_description: Bring hosts' MicroSIP inis back to the controller
description:
  - Reads the host's C(microsip.ini) with M(ansible.windows.slurp) or M(ansible.builtin.slurp) and writes it to
    O(dest)/<inventory_hostname>/ on the controller, readable by its owner only (it holds passwords).
  - C(provisioner import) turns the collected files into a fleet; C(provisioner verify) compares a tree of them
    with the fleet.
version_added: 0.1.0
author:
  - microsip-provisioner developers (@microsip-provisioner)
options:
  dest:
    description: The folder on the controller to collect into.
    type: path
    required: true
  src:
    description: The ini's path on the host.
    type: str
  fleet:
    description: A fleet file on the controller; with O(seat), the ini's path is the seat's.
    type: path
  seat:
    description: The seat whose ini to collect (with O(fleet)).
    type: str
attributes:
  check_mode:
    support: full
    description: Nothing is written; C(changed) says whether the collected copy would change.
  diff_mode:
    support: none
    description: No diff; the file is copied as it is.
  platform:
    support: full
    platforms: [windows, posix]
    description: Windows hosts through ansible.windows, Linux and Wine hosts through ansible.builtin.
requirements:
  - the microsip-provisioner package on the controller when O(fleet) and O(seat) are given
"""

EXAMPLES = r"""
- name: Collect every desk's ini
  microsip_provisioner.microsip.collect:
    src: C:\Users\{{ ansible_user }}\AppData\Roaming\MicroSIP\microsip.ini
    dest: "{{ playbook_dir }}/collected"
"""

RETURN = r"""
src:
  description: The ini's path on the host.
  returned: always
  type: str
  sample: C:\Users\jdoe\AppData\Roaming\MicroSIP\microsip.ini
dest:
  description: Where it was collected on the controller.
  returned: always
  type: str
  sample: collected/desk-1/microsip.ini
"""

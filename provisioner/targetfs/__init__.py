"""Reaching and writing files below a target root, which belongs to someone else, and the admin's state folder.

:mod:`.targets` says where each seat's files go; :mod:`.reaching` trusts a root and
opens the folders below it without following a link; :mod:`.safefs` reads and writes
in those folders relative to their descriptors; :mod:`.system` is the file system
plan, apply, verify and rollback work through (real or dry-run), and the state folder.
"""

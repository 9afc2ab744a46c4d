"""The admin's input files, read safely and with the place of every value: fleet YAML with
``file:line:col``, CSV tables, secret references, regular files only."""

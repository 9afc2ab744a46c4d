"""Launchers: their bytes (:mod:`.shortcuts`), the one command line MicroSIP understands
(:mod:`.command_line`), and the seed document's flags translated into it (:mod:`.seed_flags`)."""

"""The pure pipeline: arrays and frozen dataclasses in, arrays and frozen dataclasses out.

Nothing here opens a database, starts a process pool, parses a command line,
writes a file or changes process-wide settings; the layers above
(:mod:`packcheck.store`, :mod:`packcheck.apps`, :mod:`packcheck.cli`) do that and
call these functions. ``tests/test_architecture.py`` keeps it so.
"""

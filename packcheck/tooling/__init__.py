"""Development tooling: scene synthesis, benchmarks, the shared evaluation API, calibration.

What users run stays a command (``packcheck bench``, ``packcheck calibrate``),
but none of it is part of checking an order: the core, the store and the
applications never import this package, and the CLI imports it only inside
those two commands (``tests/test_architecture.py`` keeps it so).
"""

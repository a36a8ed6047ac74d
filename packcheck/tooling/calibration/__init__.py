"""Threshold calibration: labelled photo/listing pairs in, a thresholds TOML out.

Development tooling: uses the library and :mod:`packcheck.tooling.evaluate`; the
library never imports it. The command is ``packcheck calibrate``
(``packcheck/cli/calibrate.py``); the method is described in
``calibration/README.md`` at the top of the repository.
"""

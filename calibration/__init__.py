"""Threshold calibration: labelled photo/listing pairs in, a thresholds TOML out.

Uses the packcheck library; the library never imports this package. The command
is ``packcheck calibrate`` (``packcheck/cli/calibrate.py``); the method is
described in ``calibration/README.md``.
"""

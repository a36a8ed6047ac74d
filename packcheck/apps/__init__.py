"""The applications: one order end to end, the nightly audit and its report, the packing station.

:mod:`~packcheck.apps.checker` judges one order; :mod:`~packcheck.apps.audit`
every order of a data folder (with :mod:`~packcheck.apps.report`, its HTML
page); :mod:`~packcheck.apps.station`, :mod:`~packcheck.apps.kiosk` and
:mod:`~packcheck.apps.evidence` are the packing bench. They use the core and the
store, never the CLI or the development tooling.
"""

"""The nightly batch audit: every order of a data folder checked, one result row each, nothing lost.

:mod:`~packcheck.apps.audit.run` (:func:`~packcheck.apps.audit.run.run_audit`)
streams the orders to an engine (:mod:`~packcheck.apps.audit.engines`), keeps
each row (:mod:`~packcheck.apps.audit.rows`) in a journal
(:mod:`~packcheck.apps.audit.journal`) and writes the CSV and the report.
"""

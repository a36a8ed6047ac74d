"""The catalogue and store layer: a shop's data folder, the fingerprint store, the listing index.

:mod:`~packcheck.store.dataset` validates the CSVs into :mod:`packcheck.core.records`;
:mod:`~packcheck.store.fingerprints` keeps every listing image's fingerprint in
SQLite, keyed by content; :mod:`~packcheck.store.index` stacks them into the
in-memory :class:`~packcheck.store.index.ListingIndex` the pipeline scores against.
It imports :mod:`packcheck.core` and :mod:`packcheck.util`, never the layers above.
"""

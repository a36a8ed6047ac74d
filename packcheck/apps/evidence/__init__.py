"""Evidence for "not as described" claims: the store, the sheet, the appeal bundle.

:mod:`~packcheck.apps.evidence.store` keeps every station check (SQLite) and its
photos (by content); :mod:`~packcheck.apps.evidence.sheet` draws one check as a
PNG; :mod:`~packcheck.apps.evidence.bundle` writes and verifies the appeal zip.
"""

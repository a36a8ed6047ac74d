"""Small impure helpers the store, the applications and the tooling share, each idea once.

:mod:`~packcheck.util.fsio` writes files atomically, :mod:`~packcheck.util.sqlite`
runs one SQLite transaction, :mod:`~packcheck.util.pool` starts worker pools. They
import nothing from packcheck but :mod:`packcheck.errors`.
"""

"""The tests' PostgreSQL server: :mod:`packcheck.tooling.pgcluster` (a real throwaway cluster, no mocks)."""
from packcheck.tooling.pgcluster import Cluster, find_bin  # noqa: F401

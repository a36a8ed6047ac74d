import sys
from pathlib import Path

import pytest

# Tests import their shared builders as `helpers`.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pg  # noqa: E402

#: The evidence store's two backends: station, evidence and history tests run on both.
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL server for the whole session (skipped only when its binaries are absent)."""
    bindir = pg.find_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql "
                    "(.ci/run does)")
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")
    cluster = pg.Cluster(bindir).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster):
    """The URL of a new, empty PostgreSQL database of the session's server, dropped after the test."""
    url = pg_cluster.new_database()
    yield url
    pg_cluster.drop_database(url)


@pytest.fixture(params=BACKENDS)
def evidence_db(request, tmp_path):
    """Where a test's evidence store lives, on each backend: ``(db, photos_dir)`` for
    ``EvidenceStore.open(db, photos_dir=photos_dir)`` and the CLI's ``--db`` / ``--photos-dir``.

    SQLite: a file (photos beside it, photos_dir None). PostgreSQL: a new database, schema made
    (as ``packcheck db upgrade`` does), photos in a folder of the test's own.
    """
    if request.param == "sqlite":
        return tmp_path / "ev" / "evidence.sqlite", None
    url = request.getfixturevalue("pg_url")
    from packcheck.apps.evidence.store import EvidenceStore

    EvidenceStore.open(url, upgrade=True).close()
    return url, tmp_path / "ev" / "photos"


@pytest.fixture(scope="session", autouse=True)
def sample_data_is_left_as_it_was():
    """No test may write into the repository's sample_data/ (a station enrols references into its data folder)."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    yield
    written = [name for name in ("references.csv", "references") if (sample / name).exists()]
    assert not written, f"a test enrolled references into sample_data/: {written} (use a copy or enrol=False)"

import sys
from pathlib import Path

# Tests import their shared builders as `helpers`.
sys.path.insert(0, str(Path(__file__).resolve().parent))


import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def sample_data_is_left_as_it_was():
    """No test may write into the repository's sample_data/ (a station enrols references into its data folder)."""
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    yield
    written = [name for name in ("references.csv", "references") if (sample / name).exists()]
    assert not written, f"a test enrolled references into sample_data/: {written} (use a copy or enrol=False)"

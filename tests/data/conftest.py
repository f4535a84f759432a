"""Fixtures for the data tests: one private data dir for the whole session."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def seqkit_data_dir(tmp_path_factory):
    """Point ``$SEQKIT_DATA_DIR`` at a fresh folder so tests build every corpus themselves."""
    root = tmp_path_factory.mktemp("seqkit_data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA_DIR", str(root))
        yield root

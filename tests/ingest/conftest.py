import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # lets the tests import the local `hostile` helpers

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def ocr():
    """The panel-letter recogniser, loaded once per test session (it is a per-process singleton)."""
    from pipeline.ingest.panel_labels import recogniser

    return recogniser()

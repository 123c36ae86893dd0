import sys
from pathlib import Path

# `support` (this folder) and the hostile-input generators of tests/ingest are plain modules.
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "ingest"))

import shutil  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def small_input(tmp_path_factory, demo_data: Path) -> Path:
    """Two demo articles: a compound figure with panels and a figure without an image (small and fast)."""
    root = tmp_path_factory.mktemp("small-input")
    for name in ("demo-001", "demo-004"):
        shutil.copytree(demo_data / "demo" / name, root / name)
    return root

from __future__ import annotations

import pytest
from build_helpers import make_input
from fakes.openai_server import FakeOpenAIServer


@pytest.fixture(scope="session")
def prefect_harness():
    """One throwaway Prefect server for the whole session (~10 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def build_input(tmp_path_factory, shared_jats, demo_data):
    return make_input(tmp_path_factory.mktemp("flow-build"), shared_jats, demo_data)


@pytest.fixture
def fake_server():
    with FakeOpenAIServer(models=("fake-model", "fake-vlm")) as server:
        yield server

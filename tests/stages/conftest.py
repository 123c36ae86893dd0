from __future__ import annotations

import pytest
from build_helpers import make_input
from fakes.openai_server import FakeOpenAIServer


@pytest.fixture(scope="session")
def build_input(tmp_path_factory, shared_jats, demo_data):
    return make_input(tmp_path_factory.mktemp("build"), shared_jats, demo_data)


@pytest.fixture
def fake_server():
    with FakeOpenAIServer(models=("fake-model", "fake-vlm")) as server:
        yield server

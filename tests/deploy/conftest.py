"""A real Prefect server for the deployment tests, started once per session in its own process group
with a temporary PREFECT_HOME and SQLite database. Its API URL goes only into the environment of
the subprocesses these tests start (serve, workers, CLI builds) and into `api()` blocks in the test
process (prefect.settings.temporary_settings); os.environ is never changed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import httpx
import pytest
from fakes.openai_server import FakeOpenAIServer
from prefect_procs import PREFECT, REPO, PrefectServer, free_port, spawn, stop_group, wait_until

# This process imports prefect too (API client in `api()` blocks): keep it out of ~/.prefect.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="pmc-prefect-home-"))


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> Iterator[PrefectServer]:
    root = tmp_path_factory.mktemp("prefect-server")
    home = root / "home"
    home.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{root / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",  # schedules materialise runs at once
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": str(REPO),
    }
    env.pop("PREFECT_API_URL", None)
    for name in [k for k in env if k.startswith("PMC_INSTRUCT_")]:
        env.pop(name)  # a developer's model settings must not reach the builds under test
    log = root / "server.log"
    proc = spawn([*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, log)

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, 120, "prefect server", proc, log)
        yield PrefectServer(url=url, home=home, env={**env, "PREFECT_API_URL": url})
    finally:
        stop_group(proc)


@pytest.fixture(scope="session")
def model_server() -> Iterator[FakeOpenAIServer]:
    """The fake OpenAI-compatible model, in this process: subprocess builds reach it over HTTP and
    the tests read what it was asked."""
    with FakeOpenAIServer(models=("fake-model", "fake-vlm")) as server:
        yield server

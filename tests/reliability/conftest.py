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


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    """One Prefect server (own PREFECT_HOME, SQLite) shared by every CLI subprocess of these tests:
    an ephemeral server per CLI process costs 10-30 s of start-up (and migrations) on 2 cores."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from support import cli_env

    home = tmp_path_factory.mktemp("prefect-home")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(home / "server.log", "wb")
    prefect = Path(sys.executable).with_name("prefect")
    proc = subprocess.Popen([str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=cli_env(home), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 300
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not start: {(home / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield {"home": home, "url": url}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()

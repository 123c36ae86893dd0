"""A build that is not on a terminal (a log file, CI) still says how it is doing: one plain progress
line per running stage, never more than 10 s apart, with figures, calls and an ETA; the flow run
reports to a Prefect server the user runs (PREFECT_API_URL) and SIGTERM still stops it."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from support import REPO, build_args, cli_env, responder_for

from fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.slow
LINE = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) \| INFO .* - progress (summary: running, \d+/\d+ figures.*)$", re.M)


def test_progress_lines_at_most_10_s_apart(tmp_path: Path, small_input: Path, prefect_api):
    out, log = tmp_path / "out", tmp_path / "build.log"
    with FakeOpenAIServer(models=("fake", "fake-vl"), latency_s=60.0) as server:
        server.responder = responder_for(server)
        proc = subprocess.Popen(build_args(small_input, out, server.base_url), env=cli_env(prefect_api), cwd=REPO,
                                stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 420
        while len(LINE.findall(log.read_text())) < 4:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("SIGTERM did not stop the build")
    found = LINE.findall(log.read_text())
    stamps = [datetime.strptime(t, "%H:%M:%S.%f") for t, _ in found]
    gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
    assert gaps and max(gaps) <= 10.0, gaps
    assert re.search(r"calls 0/[1-9]\d*, 0 rejects, \d+s elapsed, ETA \?", found[-1][1]), found[-1]
    assert proc.returncode == 143 and "error: build stopped (SIGTERM)" in log.read_text()
    print(f"{len(found)} progress lines, gaps {min(gaps):.1f}-{max(gaps):.1f} s")

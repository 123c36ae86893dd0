"""SIGTERM (a Prefect cancel, a worker shutdown, `kill`) stops `pmc-instruct build` promptly even while
a shard's model calls are in flight, writes nothing for the interrupted shard, and a rerun completes."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from support import REPO, build_args, cli_env, responder_for, run_cli

from fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.slow
LATENCY_S = 60.0  # every answer takes a minute: waiting for the calls in flight would show


def test_sigterm_during_model_calls_stops_the_build_promptly(tmp_path: Path, small_input: Path, prefect_api):
    out = tmp_path / "out"
    env = cli_env(prefect_api)
    with FakeOpenAIServer(models=("fake", "fake-vl"), latency_s=LATENCY_S) as server:
        server.responder = responder_for(server)
        proc = subprocess.Popen(build_args(small_input, out, server.base_url), env=env, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 180
        while not server.chat_calls():  # the summary stage has sent its first wave
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the build never called the model"
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        try:
            log, _ = proc.communicate(timeout=LATENCY_S - 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the build was still running after SIGTERM: it waited for the calls in flight")
        stopped_in = time.monotonic() - sent
        assert proc.returncode != 0
        assert not (out / "summaries").exists(), "a shard was written from an interrupted stage"
        assert not list((out / "_state").glob("summary/*.json"))
        print(f"stopped {stopped_in:.1f} s after SIGTERM")

        server.latency_s = 0.0
        done = run_cli(build_args(small_input, out, server.base_url), env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert (out / "final").is_dir()

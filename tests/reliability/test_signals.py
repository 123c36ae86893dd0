"""Stopping `pmc-instruct build` the ways people and Prefect do, with the CLI's own Prefect server
(no PREFECT_API_URL): a terminal's Ctrl-C (in a real pseudo-terminal), SIGINT to the whole process
group, SIGTERM to the build alone, a cancellation in Prefect, and the Prefect server dying under the
build. Each ends the build promptly with one clear line and leaves no process behind (the CLI, its
Prefect server, anything they started); the next run resumes."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import subprocess
import termios
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
from support import CLI, REPO, build_args, cli_env, responder_for, run_cli

from fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.slow
LATENCY_S = 120.0  # every answer takes two minutes: a stop that waited for one would show
STOP_WITHIN_S = 5.0
START_TIMEOUT_S = 420.0  # a cold Prefect server plus a build's start on a loaded 2-core machine


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """One PREFECT_HOME for these tests: the server database is migrated once, later starts are quick."""
    return tmp_path_factory.mktemp("own-server-home")


@pytest.fixture
def slow_server():
    with FakeOpenAIServer(models=("fake", "fake-vl"), latency_s=LATENCY_S) as server:
        server.responder = responder_for(server)
        yield server


def family(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (our Prefect server runs in a session of its own)."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def wait_until(what: str, ready, proc: subprocess.Popen, log: Path | None = None, timeout: float = START_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the build ended before {what}: {log.read_text()[-3000:] if log else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def assert_all_gone(proc: subprocess.Popen, procs: list[psutil.Process], since: float,
                    within: float = STOP_WITHIN_S) -> float:
    """The CLI and every process it started have exited; returns the seconds from `since` until the
    last one did. (The CLI is waited for through Popen, which keeps its exit code.)"""
    others = [p for p in procs if p.pid != proc.pid]
    try:
        proc.wait(timeout=within + 60)
    except subprocess.TimeoutExpired:
        pass
    gone, alive = psutil.wait_procs(others, timeout=max(0.1, within + 60 - (time.monotonic() - since)))
    took = time.monotonic() - since
    names = [(p.pid, " ".join(p.cmdline()[:4])) for p in alive if p.is_running()]
    if proc.poll() is None:
        names.append((proc.pid, "the CLI"))
        proc.kill()
    for p in alive:
        p.kill()
    assert not names, f"left behind: {names}"
    assert took <= within, f"the build took {took:.1f} s to stop (allowed {within} s)"
    return took


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, cwd=REPO, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def exit_code(proc: subprocess.Popen) -> int:
    return proc.wait(timeout=30)


def test_ctrl_c_in_a_terminal(tmp_path: Path, small_input: Path, home: Path, slow_server):
    master, slave = pty.openpty()

    def controlling_tty() -> None:  # in the child: the pty becomes its terminal, it the foreground group
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(build_args(small_input, tmp_path / "out", slow_server.base_url), env=cli_env(home),
                            cwd=REPO, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                            preexec_fn=controlling_tty)
    os.close(slave)
    screen = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            screen.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_until("the first model call", slow_server.chat_calls, proc)
    time.sleep(1.0)
    procs = family(proc.pid)
    os.write(master, b"\x03")  # the terminal turns it into SIGINT for the foreground process group
    sent = time.monotonic()
    took = assert_all_gone(proc, procs, sent)
    assert exit_code(proc) == 130
    reader.join(timeout=5)
    os.close(master)
    text = screen.decode(errors="replace")
    assert "pmc-instruct build" in text and "summary" in text  # the live table was on screen
    assert "error: build interrupted (Ctrl-C); finished shards are kept" in text
    assert not (tmp_path / "out" / "summaries").exists()
    print(f"Ctrl-C: everything gone {took:.1f} s after the keypress")


def test_sigterm_to_the_build_alone_then_the_rerun_resumes(tmp_path: Path, small_input: Path, home: Path,
                                                          slow_server):
    out, log = tmp_path / "out", tmp_path / "build.log"
    env = cli_env(home)
    proc = start(build_args(small_input, out, slow_server.base_url), env, log)
    wait_until("the first model call", slow_server.chat_calls, proc, log)
    time.sleep(0.5)
    procs = family(proc.pid)
    assert len(procs) >= 2, "the CLI's own Prefect server was expected among its children"
    proc.send_signal(signal.SIGTERM)
    took = assert_all_gone(proc, procs, time.monotonic())
    assert exit_code(proc) == 143
    assert "error: build stopped (SIGTERM); finished shards are kept" in log.read_text()
    assert not list((out / "_state").glob("summary/*.json"))
    print(f"SIGTERM: everything gone {took:.1f} s after the signal")

    slow_server.latency_s = 0.0
    done = run_cli(build_args(small_input, out, slow_server.base_url), env, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (out / "final").is_dir() and list((out / "reports").glob("*.md"))


def test_ctrl_c_to_the_process_group_during_embedded_generation(tmp_path: Path, small_input: Path, home: Path):
    out, log = tmp_path / "out", tmp_path / "build.log"
    args = [*CLI, "build", "--input", str(small_input), "--out", str(out)]  # no --base-url: the embedded model
    proc = start(args, cli_env(home), log)
    # the text model's GGUF conversion bar ("Loading weights" would also match the de-leak model's)
    wait_until("the embedded model to load", lambda: re.search(r"GGUF tensors[^\n]*100%", log.read_text()), proc, log)
    time.sleep(0.3)  # generating now: the summary batch starts as the load ends and takes seconds even unloaded
    procs = family(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    took = assert_all_gone(proc, procs, time.monotonic())
    assert exit_code(proc) == 130
    assert "error: build interrupted (Ctrl-C)" in log.read_text()
    assert not (out / "summaries").exists()
    print(f"embedded model, SIGINT to the group: everything gone {took:.1f} s after the signal")


def test_a_cancellation_in_prefect_stops_the_build(tmp_path: Path, small_input: Path, home: Path, slow_server):
    out, log = tmp_path / "out", tmp_path / "build.log"
    proc = start(build_args(small_input, out, slow_server.base_url), cli_env(home), log)
    wait_until("the first model call", slow_server.chat_calls, proc, log)
    found = re.search(r"View at (http://127\.0\.0\.1:\d+)/runs/flow-run/([0-9a-f-]+)", log.read_text())
    assert found, log.read_text()
    api, run_id = f"{found.group(1)}/api", found.group(2)
    procs = family(proc.pid)
    resp = httpx.post(f"{api}/flow_runs/{run_id}/set_state", timeout=30,
                      json={"state": {"type": "CANCELLING", "name": "Cancelling"}, "force": True})
    assert resp.status_code in (200, 201), resp.text
    # The CLI notices within its 2 s poll, then stops as on SIGTERM.
    took = assert_all_gone(proc, procs, time.monotonic(), within=STOP_WITHIN_S + 2.5)
    assert exit_code(proc) == 130
    assert "error: build cancelled in Prefect; finished shards are kept" in log.read_text()
    print(f"Prefect cancellation: everything gone {took:.1f} s after the request")


def test_the_build_ends_when_its_prefect_server_dies(tmp_path: Path, small_input: Path, home: Path, slow_server):
    out, log = tmp_path / "out", tmp_path / "build.log"
    proc = start(build_args(small_input, out, slow_server.base_url), cli_env(home), log)
    wait_until("the first model call", slow_server.chat_calls, proc, log)
    procs = family(proc.pid)
    [server] = [p for p in procs if "uvicorn" in p.cmdline()]
    server.kill()
    took = assert_all_gone(proc, procs, time.monotonic(), within=20.0)
    assert exit_code(proc) != 0
    text = log.read_text()
    assert "error: the Prefect server stopped" in text and "rerun the same command to resume" in text
    print(f"Prefect server killed: the build ended {took:.1f} s later")

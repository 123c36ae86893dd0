"""A Prefect API server owned by one CLI run, started and stopped by us instead of Prefect's ephemeral mode.

Why not the ephemeral server: it is a child in the CLI's process group, so a terminal's Ctrl-C
(SIGINT to the whole group) killed it while the build was still reporting to it, and the client then
retried for minutes; a SIGTERM to the build alone left it orphaned. Ours runs in a session of its
own (a terminal's signals do not reach it), dies with the CLI even on SIGKILL (Linux parent-death
signal), keeps its SQLite database beside the build's output (a rerun finds it migrated: ~3 s start
instead of ~8 s; a new output folder starts from a migrated copy, flows/server_template.py), and
is stopped only after the build has finished talking to it.

A watchdog checks the API while the build runs: if it stops answering (or our server process
exits), the build is told so in one line, is stopped, and the process is ended if stopping takes
longer than a grace period, so it never hangs on a client retrying a dead server.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from flows.server_template import save_template, seed_database
from pipeline.lifetime import die_with_parent

HEALTH_TIMEOUT_S = 2.0
WATCH_EVERY_S = 2.0
IDLE_SERVICES = ("SCHEDULER", "LATE_RUNS", "FOREMAN", "PAUSE_EXPIRATIONS", "REPOSSESSOR", "TRIGGERS",
                 "CLEANUP_RECONCILER")
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
FAILURES_BEFORE_GIVING_UP = 3  # consecutive failed health checks (~6 s) before the build is stopped
STARTUP_TIMEOUT_S = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180"))


class ServerStartFailed(RuntimeError):
    """The Prefect server did not become healthy; the message names its log file."""


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(api_url: str, timeout: float = HEALTH_TIMEOUT_S) -> bool:
    # urllib, not httpx: an httpx call builds a TLS context (~40 ms of CPU) even for plain http, and
    # the watchdog asks every WATCH_EVERY_S for the whole build
    try:
        with _DIRECT.open(f"{api_url}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):  # URLError, HTTPError, timeouts and refused connections are OSErrors
        return False


@dataclass
class PrefectServer:
    """`prefect`'s API app under uvicorn on a free loopback port, in its own session."""

    state_dir: Path
    port: int = 0
    process: subprocess.Popen | None = None
    needs_template: bool = False  # a new database was migrated from scratch: keep a copy for next time
    seeded: bool = False  # a new database copied from the template

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "server.log"

    @property
    def db_path(self) -> Path:
        return (self.state_dir / "server.db").resolve()

    def start(self, seed: bool = True) -> None:
        """Launch without waiting (wait_healthy() waits): the caller imports its modules meanwhile.
        A new database starts as a copy of the migrated template when there is one and `seed`."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        db = self.db_path
        fresh = not db.exists()
        if fresh:  # a log or index left without its database must not be applied to a new one
            for suffix in ("-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        self.seeded = fresh and seed and seed_database(db)
        self.needs_template = fresh and not self.seeded
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
               "PREFECT__SERVER_FINAL": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
               "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{db}"}
        # Services a per-build server has no use for (no deployments, schedules, workers,
        # automations or concurrency leases): each polls its database on a timer, using CPU the build
        # needs. Runs, task runs, states, logs, events and cancellation still work.
        env.update({f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false" for name in IDLE_SERVICES})
        env.pop("PREFECT_API_URL", None)
        # The package folder, found without importing prefect (its settings are read at import).
        app_dir = str(Path(importlib.util.find_spec("prefect").origin).parent.parent)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--app-dir", app_dir, "--factory",
                 "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
                 "--log-level", "error", "--lifespan", "on"],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=die_with_parent)

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not healthy(self.api_url, timeout=1.0):
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise ServerStartFailed(f"the Prefect server exited during start-up (code {code}); "
                                        f"see {self.log_path}")
            if time.monotonic() > deadline:
                raise ServerStartFailed(f"the Prefect server did not answer within {timeout:.0f} s; "
                                        f"see {self.log_path}")
            time.sleep(0.1)

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = 3.0) -> None:
        """SIGTERM its process group, then SIGKILL whatever is left after `timeout`."""
        proc, self.process = self.process, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # children it may have left in its group
            os.killpg(proc.pid, signal.SIGKILL)


class ApiWatchdog(threading.Thread):
    """Checks the API every WATCH_EVERY_S while the build runs; `on_lost(message)` once it is gone."""

    def __init__(self, api_url: str, server: PrefectServer | None, on_lost: Callable[[str], None]) -> None:
        super().__init__(name="prefect-api-watchdog", daemon=True)
        self.api_url, self.server, self.on_lost = api_url, server, on_lost
        self._done = threading.Event()

    def run(self) -> None:
        failures = 0
        while not self._done.wait(WATCH_EVERY_S):
            code = self.server.exited() if self.server is not None else None
            if code is not None:
                self.on_lost(f"the Prefect server stopped (exit code {code}; log: {self.server.log_path})")
                return
            failures = 0 if healthy(self.api_url) else failures + 1
            if failures >= FAILURES_BEFORE_GIVING_UP:
                self.on_lost(f"the Prefect API at {self.api_url} stopped answering")
                return

    def stop(self) -> None:
        self._done.set()


def stop_this_process(message: str) -> None:
    """The API is gone: stop the build as SIGTERM does (flows/stopping.py ends it if that hangs)."""
    from flows import stopping

    stopping.stop(message, 3)
    os.kill(os.getpid(), signal.SIGTERM)


def configured_api_url() -> str | None:
    """The API Prefect would use as configured: PREFECT_API_URL in the environment or in the active
    profile of $PREFECT_HOME/profiles.toml, or, when Prefect is already imported (a notebook, a test
    harness), its current settings. A server someone runs is used instead of our own. Prefect is not
    imported here: it reads its settings once, at import, so PREFECT_API_URL must be set first."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    if "prefect.settings" in sys.modules:
        from prefect.settings import get_current_settings

        return get_current_settings().api.url or None
    home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect"))
    try:
        import tomllib

        data = tomllib.loads((home / "profiles.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
    return (data.get("profiles", {}).get(active, {}) or {}).get("PREFECT_API_URL") or None


@contextlib.contextmanager
def prefect_api(state_dir: Path, on_ready: Callable[[], None] | None = None) -> Iterator[str]:
    """Yield the API URL the run reports to: the configured one when there is one, else a server of
    our own for the length of the block. `on_ready` runs while our server starts (e.g. imports)."""
    external = configured_api_url()
    server = None if external else PrefectServer(Path(state_dir))
    stack = contextlib.ExitStack()
    if server is not None:
        from flows import stopping

        server.start()
        os.environ["PREFECT_API_URL"] = server.api_url  # before Prefect is imported: it reads it then
        if "prefect.settings" in sys.modules:  # already imported (a notebook): override in this context
            from prefect.settings import PREFECT_API_URL, temporary_settings

            stack.enter_context(temporary_settings(updates={PREFECT_API_URL: server.api_url}))
        stopping.on_forced_exit(lambda: server.stop(timeout=0.3))
    api_url = external or server.api_url
    watchdog = None
    try:
        with stack:
            if on_ready is not None:
                on_ready()
            if server is not None:
                _wait_healthy_or_unseed(server)
                if server.needs_template:
                    save_template(server.db_path)
            watchdog = ApiWatchdog(api_url, server, stop_this_process)
            watchdog.start()
            try:
                yield api_url
            finally:
                watchdog.stop()
                if server is not None:
                    _let_workers_finish(1.0)
                    _detach_from_api(1.0)
    finally:
        if server is not None:
            server.stop(timeout=0.5)  # ours and disposable: SQLite survives a kill, the run has reported
            os.environ.pop("PREFECT_API_URL", None)


def _wait_healthy_or_unseed(server: PrefectServer) -> None:
    """Wait for the server; if it started from the template and failed, start it once more on a
    new database migrated from scratch, on the same port (the API URL is already published to
    Prefect and the watchdog). A bad template so costs one slow start, never the build, and is
    replaced by that database (save_template); if the second start fails too, the template was not
    the cause and is kept."""
    try:
        server.wait_healthy()
    except ServerStartFailed as exc:
        if not server.seeded:
            raise
        server.stop(timeout=0.5)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{server.db_path}{suffix}").unlink(missing_ok=True)
        print(f"the Prefect server did not start from its database template ({exc}); migrating a new "
              "database instead", file=sys.stderr)
        server.start(seed=False)
        server.wait_healthy()


def _let_workers_finish(timeout: float = 3.0) -> None:
    """Task threads of an interrupted run may still be reporting their final states: give them a
    moment before the server goes (they abandon model work at once; see pipeline.engine.shutdown)."""
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))


def _detach_from_api(timeout: float = 3.0) -> None:
    """Send the logs and events Prefect still holds while the server is up, then stop logging to it:
    otherwise its exit-time flush retries a stopped server for over a minute."""
    if "prefect" not in sys.modules:
        return
    import logging

    from prefect.logging.handlers import APILogHandler

    try:
        from prefect._internal.concurrency.services import QueueService

        QueueService.drain_all(timeout=timeout)
    except Exception:  # noqa: BLE001 - best effort: a private API that may move
        pass
    for logger in [logging.getLogger(), *logging.root.manager.loggerDict.values()]:
        for handler in list(getattr(logger, "handlers", ())):
            if isinstance(handler, APILogHandler):
                logger.removeHandler(handler)

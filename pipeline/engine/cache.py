"""Content-addressed response cache in SQLite (WAL). Several processes may read and write at once:
WAL lets readers run beside one writer, busy_timeout waits for the lock and a short retry loop covers
the rest. Only validated results are stored, so a hit never needs a model call.

Writes are buffered: `put` keeps an entry in memory (where `get` already finds it) and writes the
buffer in one transaction once it holds `flush_every` entries or its oldest entry is `flush_after_s`
old, and on `flush()` / `close()` (the engine flushes at the end of every stream). One commit per
answer cost about a tenth of the client CPU per call at 64 calls in flight. A process killed
outright loses at most that buffer: those calls are paid again on the rerun, nothing else."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from pathlib import Path

from pydantic import BaseModel

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    request_hash TEXT PRIMARY KEY,
    model_id     TEXT NOT NULL,
    text         TEXT NOT NULL,
    tokens_in    INTEGER NOT NULL,
    tokens_out   INTEGER NOT NULL,
    latency_s    REAL NOT NULL,
    created_at   REAL NOT NULL
)
"""


class CachedResponse(BaseModel):
    request_hash: str
    model_id: str
    text: str
    tokens_in: int
    tokens_out: int
    latency_s: float
    finish_reason: str | None = None


class ResponseCache:
    """One connection per process, shared across threads behind a lock (calls are short)."""

    def __init__(self, path: Path, busy_timeout_ms: int = 30_000, attempts: int = 8,
                 flush_every: int = 64, flush_after_s: float = 1.0) -> None:
        self.path = Path(path)
        self._flush_every = flush_every
        self._flush_after_s = flush_after_s
        self._pending: dict[str, CachedResponse] = {}
        self._oldest = 0.0  # time.monotonic() of the oldest pending entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._attempts = attempts
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            str(self.path), timeout=busy_timeout_ms / 1000, check_same_thread=False, isolation_level=None
        )
        self._retry(lambda: self._conn.execute("PRAGMA journal_mode=WAL"))
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._retry(lambda: self._conn.execute(_SCHEMA))
        columns = {r[1] for r in self._retry(lambda: self._conn.execute("PRAGMA table_info(responses)").fetchall())}
        if "finish_reason" not in columns:  # caches written before finish_reason was kept
            self._retry(lambda: self._conn.execute("ALTER TABLE responses ADD COLUMN finish_reason TEXT"))

    @classmethod
    def for_output(cls, out_dir: Path) -> ResponseCache:
        return cls(Path(out_dir) / "cache" / "responses.sqlite")

    def _retry(self, fn):
        for attempt in range(self._attempts):
            try:
                with self._lock:
                    return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or attempt == self._attempts - 1:
                    raise
                time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        return None

    _COLUMNS = ("request_hash", "model_id", "text", "tokens_in", "tokens_out", "latency_s", "finish_reason")

    def get(self, request_hash: str) -> CachedResponse | None:
        return self.get_many([request_hash]).get(request_hash)

    def get_many(self, request_hashes: list[str], chunk: int = 500) -> dict[str, CachedResponse]:
        """The cached answers among these hashes, by hash: one query per `chunk` hashes."""
        with self._lock:
            found = {h: self._pending[h] for h in request_hashes if h in self._pending}
        wanted = [h for h in dict.fromkeys(request_hashes) if h not in found]
        for start in range(0, len(wanted), chunk):
            part = wanted[start : start + chunk]
            rows = self._retry(lambda part=part: self._conn.execute(
                f"SELECT {', '.join(self._COLUMNS)} FROM responses WHERE request_hash IN "
                f"({', '.join('?' * len(part))})", part).fetchall())
            for row in rows:
                found[row[0]] = CachedResponse(**dict(zip(self._COLUMNS, row)))
        return found

    def put(self, entry: CachedResponse) -> None:
        with self._lock:
            if not self._pending:
                self._oldest = time.monotonic()
            self._pending[entry.request_hash] = entry
            due = (len(self._pending) >= self._flush_every
                   or time.monotonic() - self._oldest >= self._flush_after_s)
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the buffered entries in one transaction. On failure they stay buffered (a later
        flush or close tries again) and the error is raised."""
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return
        now = time.time()
        rows = [(e.request_hash, e.model_id, e.text, e.tokens_in, e.tokens_out, e.latency_s, now, e.finish_reason)
                for e in batch.values()]

        def write() -> None:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany(
                    "INSERT OR REPLACE INTO responses (request_hash, model_id, text, tokens_in, tokens_out, "
                    "latency_s, created_at, finish_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

        try:
            self._retry(write)
        except BaseException:
            with self._lock:
                self._pending = {**batch, **self._pending}
                self._oldest = time.monotonic()
            raise

    def __len__(self) -> int:
        self.flush()
        return self._retry(lambda: self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        try:
            self.flush()
        finally:
            with self._lock:
                self._conn.close()

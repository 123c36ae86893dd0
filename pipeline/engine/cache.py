"""Content-addressed response cache in SQLite (WAL). Several processes may read and write at once:
WAL lets readers run beside one writer, busy_timeout waits for the lock and a short retry loop covers
the rest. Only validated results are stored, so a hit never needs a model call."""

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

    def __init__(self, path: Path, busy_timeout_ms: int = 30_000, attempts: int = 8) -> None:
        self.path = Path(path)
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

    def get(self, request_hash: str) -> CachedResponse | None:
        row = self._retry(
            lambda: self._conn.execute(
                "SELECT request_hash, model_id, text, tokens_in, tokens_out, latency_s, finish_reason "
                "FROM responses WHERE request_hash = ?",
                (request_hash,),
            ).fetchone()
        )
        if row is None:
            return None
        keys = ("request_hash", "model_id", "text", "tokens_in", "tokens_out", "latency_s", "finish_reason")
        return CachedResponse(**dict(zip(keys, row)))

    def put(self, entry: CachedResponse) -> None:
        self._retry(
            lambda: self._conn.execute(
                "INSERT OR REPLACE INTO responses (request_hash, model_id, text, tokens_in, tokens_out, latency_s, "
                "created_at, finish_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.request_hash,
                    entry.model_id,
                    entry.text,
                    entry.tokens_in,
                    entry.tokens_out,
                    entry.latency_s,
                    time.time(),
                    entry.finish_reason,
                ),
            )
        )

    def __len__(self) -> int:
        return self._retry(lambda: self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

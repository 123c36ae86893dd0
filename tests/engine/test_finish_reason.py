"""The embedded backend's finish reason: "length" when generation ran out of tokens or a string hit
the grammar's length bound (the grammar then closes the JSON mid-word), else "stop"."""

from __future__ import annotations

import json
import sqlite3

from pipeline.engine.cache import CachedResponse, ResponseCache
from pipeline.engine.embedded_backend import finish_reason
from pipeline.engine.schema_tools import bounded_schema
from schemas.generation import QAPairOutput

SCHEMA = json.dumps(bounded_schema(QAPairOutput, max_string=12, max_items=3))


def test_string_at_its_bound_reads_as_cut() -> None:
    cut = json.dumps({"question": "What is it?", "answer": "The edge-den"})  # 12 characters: the bound
    assert finish_reason(cut, n_out=20, max_new=64, schema_text=SCHEMA) == "length"
    whole = json.dumps({"question": "What is it?", "answer": "A dye."})
    assert finish_reason(whole, n_out=20, max_new=64, schema_text=SCHEMA) == "stop"
    assert finish_reason(whole, n_out=64, max_new=64, schema_text=SCHEMA) == "length"  # no stop token
    assert finish_reason("free text", n_out=5, max_new=64, schema_text="") == "stop"


def test_cache_written_before_finish_reason_existed_still_opens(tmp_path) -> None:
    path = tmp_path / "responses.sqlite"
    with sqlite3.connect(path) as conn:  # the table as older versions created it
        conn.execute("CREATE TABLE responses (request_hash TEXT PRIMARY KEY, model_id TEXT NOT NULL, "
                     "text TEXT NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL, "
                     "latency_s REAL NOT NULL, created_at REAL NOT NULL)")
        conn.execute("INSERT INTO responses VALUES ('old', 'm', '{}', 1, 1, 0.1, 0)")
    cache = ResponseCache(path)
    assert cache.get("old").finish_reason is None
    cache.put(CachedResponse(request_hash="new", model_id="m", text="{}", tokens_in=1, tokens_out=9,
                             latency_s=0.1, finish_reason="length"))
    assert cache.get("new").finish_reason == "length"
    cache.close()

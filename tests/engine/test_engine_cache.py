"""The response cache under concurrent writers in several processes, and the request hash."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from PIL import Image

from pipeline.engine.cache import CachedResponse, ResponseCache
from pipeline.engine.hashing import request_hash
from pipeline.engine.types import ChatMessage, ChatRequest, Sampling, TemplateRef


def _writer(path: str, worker: int, n: int) -> None:
    cache = ResponseCache(Path(path))
    for i in range(n):
        cache.put(CachedResponse(request_hash=f"{worker}-{i}", model_id="m", text=f"answer {worker} {i}",
                                 tokens_in=1, tokens_out=2, latency_s=0.1))
        cache.get(f"{(worker + 1) % 4}-{i}")
    cache.close()


def test_several_processes_write_one_cache(tmp_path):
    path = tmp_path / "cache" / "responses.sqlite"
    ResponseCache(path).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 150)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    cache = ResponseCache(path)
    assert len(cache) == 600
    assert cache.get("3-149").text == "answer 3 149"
    assert cache._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _req(text: str, images: list[str] | None = None, version: str = "1", temperature: float = 0.0) -> ChatRequest:
    return ChatRequest(key="k", messages=[ChatMessage(role="user", text=text, images=images or [])],
                       template=TemplateRef(name="t", version=version), sampling=Sampling(temperature=temperature))


def test_request_hash_uses_image_content_not_paths(tmp_path):
    a, b, c = tmp_path / "a.png", tmp_path / "sub_b.png", tmp_path / "c.png"
    Image.new("RGB", (4, 4), "red").save(a)
    b.write_bytes(a.read_bytes())
    Image.new("RGB", (4, 4), "blue").save(c)
    h = request_hash(_req("x", [str(a)]), "m", "png-max1024")
    assert h == request_hash(_req("x", [str(b)]), "m", "png-max1024")  # same bytes, other path
    assert h != request_hash(_req("x", [str(c)]), "m", "png-max1024")
    assert h != request_hash(_req("x", [str(a)]), "m", "png-max512")
    base = request_hash(_req("x"), "m")
    assert base != request_hash(_req("x", version="2"), "m")
    assert base != request_hash(_req("x", temperature=0.5), "m")
    assert base != request_hash(_req("x"), "other-model")
    assert base != request_hash(_req("y"), "m")


def _entry(h: str) -> CachedResponse:
    return CachedResponse(request_hash=h, model_id="m", text=f"answer {h}", tokens_in=1, tokens_out=2, latency_s=0.1)


def _on_disk(path: Path) -> set[str]:
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # another reader, as a second process is
    try:
        return {row[0] for row in conn.execute("SELECT request_hash FROM responses")}
    finally:
        conn.close()


def test_writes_are_buffered_then_written_together(tmp_path):
    path = tmp_path / "responses.sqlite"
    cache = ResponseCache(path, flush_every=3, flush_after_s=3600)
    cache.put(_entry("a"))
    cache.put(_entry("b"))
    assert cache.get("a").text == "answer a"  # this process sees its buffered answers at once
    assert _on_disk(path) == set()
    cache.put(_entry("c"))  # the third fills the buffer: one transaction writes all three
    assert _on_disk(path) == {"a", "b", "c"}
    cache.put(_entry("d"))
    cache.close()  # close writes what is left
    assert _on_disk(path) == {"a", "b", "c", "d"}


def test_old_buffer_is_written_by_the_next_put(tmp_path):
    path = tmp_path / "responses.sqlite"
    cache = ResponseCache(path, flush_every=1000, flush_after_s=0.0)
    cache.put(_entry("a"))  # the buffer is already as old as allowed: written now
    assert _on_disk(path) == {"a"}
    cache.close()


def test_get_many_reads_buffer_and_file_in_chunks(tmp_path):
    cache = ResponseCache(tmp_path / "responses.sqlite", flush_every=10)
    for i in range(25):
        cache.put(_entry(f"h{i}"))  # 20 written in two transactions, 5 still buffered
    found = cache.get_many([f"h{i}" for i in range(30)] + ["h3"], chunk=7)
    assert sorted(found) == sorted(f"h{i}" for i in range(25))
    assert found["h24"].text == "answer h24" and found["h0"].tokens_out == 2
    assert len(cache) == 25
    cache.close()

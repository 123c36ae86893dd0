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

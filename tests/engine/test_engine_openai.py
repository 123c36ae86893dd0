"""The OpenAI-compatible backend against the fake server: retries, faults, structured output, failover,
cache, concurrency bound and key redaction."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from fakes.openai_server import FakeOpenAIServer, dead_base_url
from PIL import Image
from pydantic import BaseModel

from pipeline.engine import ChatMessage, ChatRequest, ErrorKind, ModelRole, Sampling, TemplateRef, build_engine
from pipeline.engine.settings import load_settings
from schemas import CaptionSummaryOutput, KnowledgeOutput
from schemas.provenance import Method

pytestmark = pytest.mark.slow


class Verdict(BaseModel):
    label: str
    score: int


def _role(urls, **kw) -> ModelRole:
    base = dict(backend="openai", base_urls=list(urls), model="fake-model", backoff_initial_s=0.01,
                backoff_max_s=0.05, timeout_s=3.0, endpoint_cooldown_s=5.0)
    base.update(kw)
    return ModelRole(**base)


def _engine(urls, cache_dir=None, no_cache=False, vision_urls=None, **kw):
    settings = load_settings(text=_role(urls, **kw),
                             vision=_role(vision_urls, **kw) if vision_urls else ModelRole())
    return build_engine(settings, cache_dir, no_cache=no_cache)


def _req(i: int, model=CaptionSummaryOutput, images=(), role="text") -> ChatRequest:
    return ChatRequest(key=f"item-{i}", role=role, output_model=model,
                       messages=[ChatMessage(role="system", text="You read figure captions."),
                                 ChatMessage(role="user", text=f"Caption number {i}", images=[str(p) for p in images])],
                       template=TemplateRef(name="summary", version="3"), sampling=Sampling(max_tokens=64))


@pytest.fixture()
def server():
    with FakeOpenAIServer() as srv:
        yield srv


def test_structured_results_validate_and_carry_provenance(server):
    engine = _engine([server.base_url])
    results = engine.run([_req(i) for i in range(20)])
    assert [r.key for r in results] == [f"item-{i}" for i in range(20)]
    assert all(r.ok and isinstance(r.parsed, CaptionSummaryOutput) for r in results)
    prov = results[0].provenance
    assert (prov.backend, prov.model_id, prov.method) == ("openai", "fake-model", Method.TEXT_MODEL)
    assert (prov.template_name, prov.template_version, prov.attempts) == ("summary", "3", 1)
    assert prov.tokens_in > 0 and prov.tokens_out > 0 and len(prov.request_hash) == 64
    call = server.chat_calls()[0]
    assert call.headers["content-type"] == "application/json"
    assert not [h for h in call.headers if h.startswith("x-stainless")]  # SDK telemetry left out
    body = call.body
    assert body["model"] == "fake-model" and body["max_tokens"] == 64
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False
    assert engine.stats.model_calls == 20 and engine.stats.errors == 0


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_retry_after_is_honoured_and_backoff_retries(server, transport):
    server.retry_after = "1"
    server.script(["429", "500", None])
    engine = _engine([server.base_url], concurrency=1, http_transport=transport)
    [result] = engine.run([_req(0)])
    assert result.ok and result.provenance.attempts == 3
    calls = server.chat_calls()
    assert [c.fault for c in calls] == ["429", "500", None]
    assert calls[1].at - calls[0].at >= 1.0  # waited as told by Retry-After
    assert calls[2].at - calls[1].at < 1.0  # plain exponential backoff is short here
    assert engine.stats.retries == 2


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_no_result_lost_or_duplicated_under_fault_mix(transport):
    rates = {"429": 0.08, "503": 0.05, "500": 0.08, "malformed": 0.05, "truncated": 0.05,
             "bad_json": 0.05, "schema_invalid": 0.05, "timeout": 0.02}
    with FakeOpenAIServer(fault_rates=rates, seed=7, retry_after="0", timeout_sleep_s=5) as srv:
        engine = _engine([srv.base_url], timeout_s=1.0, max_attempts=8, http_transport=transport)

        async def collect():
            return [r async for r in engine.stream([_req(i) for i in range(150)])]

        results = asyncio.run(collect())
    keys = [r.key for r in results]
    assert sorted(keys) == sorted(f"item-{i}" for i in range(150)) and len(set(keys)) == 150
    # Transport faults are all retried away; only two content faults in a row (answer + its one
    # repair) may leave an item unparseable, and it is then an error result, not a lost item.
    failed = [r for r in results if not r.ok]
    assert all(r.error_kind == ErrorKind.UNPARSEABLE for r in failed), [r.error for r in failed][:3]
    assert len(failed) <= 8  # expected about 1.5 at these rates
    assert engine.stats.retries > 0 and engine.stats.repairs > 0
    faults = {c.fault for c in srv.chat_calls()}
    assert {"429", "500", "malformed", "truncated", "schema_invalid"} <= faults


def test_exhausted_retries_become_error_results(server):
    server.fault_rates = {"500": 1.0}
    engine = _engine([server.base_url], max_attempts=3)
    results = engine.run([_req(i) for i in range(3)])
    assert all(not r.ok and r.error_kind == ErrorKind.MODEL_ERROR for r in results)
    assert "item-0" in results[0].error and "InternalServerError" in results[0].error
    assert len(server.chat_calls()) == 9


def test_schema_invalid_answer_is_repaired_once(server):
    server.script(["schema_invalid"])
    engine = _engine([server.base_url])
    [result] = engine.run([_req(0)])
    assert result.ok and result.provenance.attempts == 2 and engine.stats.repairs == 1
    repair_msgs = server.chat_calls()[1].body["messages"]
    assert repair_msgs[-2]["role"] == "assistant" and "invalid" in repair_msgs[-1]["content"]
    server.script(["bad_json", "schema_invalid"])
    [bad] = _engine([server.base_url]).run([_req(1)])
    assert bad.error_kind == ErrorKind.UNPARSEABLE and bad.text is not None


def test_servers_without_response_format_fall_back_and_are_remembered():
    with FakeOpenAIServer(no_response_format=True) as srv:
        engine = _engine([srv.base_url], concurrency=1)
        results = engine.run([_req(i, model=KnowledgeOutput) for i in range(4)])
        assert all(r.ok and isinstance(r.parsed, KnowledgeOutput) for r in results)
        with_format = [c for c in srv.chat_calls() if "response_format" in c.body]
        assert len(with_format) == 1  # rejected once, then remembered for the endpoint
        assert "JSON schema" in srv.chat_calls()[-1].body["messages"][0]["content"]


def test_cache_hits_make_no_call_and_no_cache_bypasses(server, tmp_path):
    reqs = [_req(i) for i in range(5)]
    first = _engine([server.base_url], cache_dir=tmp_path / "cache").run(reqs)
    assert len(server.chat_calls()) == 5 and not any(r.provenance.cache_hit for r in first)
    again = _engine([server.base_url], cache_dir=tmp_path / "cache")
    second = again.run(reqs)
    assert len(server.chat_calls()) == 5 and all(r.provenance.cache_hit for r in second)
    assert [r.parsed for r in second] == [r.parsed for r in first] and again.stats.cache_hits == 5
    _engine([server.base_url], cache_dir=tmp_path / "cache", no_cache=True).run(reqs)
    assert len(server.chat_calls()) == 10


def test_failed_results_are_not_cached(server, tmp_path):
    server.fault_rates = {"500": 1.0}
    _engine([server.base_url], cache_dir=tmp_path, max_attempts=2).run([_req(0)])
    server.fault_rates = {}
    [ok] = _engine([server.base_url], cache_dir=tmp_path).run([_req(0)])
    assert ok.ok and not ok.provenance.cache_hit


def test_identical_requests_in_one_submission_are_paid_once(server):
    reqs = [_req(1), _req(1).model_copy(update={"key": "twin"}), _req(2)]
    results = _engine([server.base_url]).run(reqs)
    assert [r.key for r in results] == ["item-1", "twin", "item-2"] and all(r.ok for r in results)
    assert len(server.chat_calls()) == 2


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_failover_from_a_dead_base_url(server, transport):
    engine = _engine([dead_base_url(), server.base_url], concurrency=4, http_transport=transport)
    results = engine.run([_req(i) for i in range(12)])
    assert all(r.ok for r in results)
    assert len(server.chat_calls()) == 12
    assert sum(r.provenance.attempts for r in results) <= 12 + 4  # the dead one is avoided after failing


def test_clients_are_shared_by_streams_in_one_loop_and_closed_by_the_last(caplog):
    """Two overlapping streams in one event loop share the connections; the one that finishes first
    must not close them under the other, and nothing is left open (aiohttp warns on an unclosed session)."""
    import gc

    caplog.set_level(logging.ERROR, logger="asyncio")
    with FakeOpenAIServer(latency_s=0.05) as srv:
        engine = _engine([srv.base_url], concurrency=4)

        async def both():
            async def collect(lo, hi):
                return [r async for r in engine.stream(_req(i) for i in range(lo, hi))]

            return await asyncio.gather(collect(0, 4), collect(100, 140))

        short, long = asyncio.run(both())
        assert all(r.ok for r in short + long) and len(long) == 40
        assert engine.stats.retries == 0  # no call broke because its connection was closed under it
        assert all(r.ok for r in engine.run([_req(i) for i in range(200, 210)]))  # a fresh loop reopens
        del engine
        gc.collect()
    assert "Unclosed" not in caplog.text


def test_load_is_balanced_across_two_live_servers():
    with FakeOpenAIServer(latency_s=0.05) as a, FakeOpenAIServer(latency_s=0.05) as b:
        results = _engine([a.base_url, b.base_url], concurrency=8).run([_req(i) for i in range(40)])
        assert all(r.ok for r in results)
        assert len(a.chat_calls()) >= 10 and len(b.chat_calls()) >= 10


def test_concurrency_bound_is_respected():
    with FakeOpenAIServer(latency_s=0.1) as srv:
        results = _engine([srv.base_url], concurrency=5).run([_req(i) for i in range(30)])
        assert all(r.ok for r in results)
        assert srv.max_in_flight == 5


def test_vision_requests_without_vision_backend_are_errors(server, tmp_path):
    img = tmp_path / "fig.png"
    Image.new("RGB", (64, 32), "white").save(img)
    results = _engine([server.base_url]).run([_req(0, images=[img], role="vision")])
    assert not results[0].ok and "no vision backend" in results[0].error
    assert server.chat_calls() == []


def test_vision_requests_send_downscaled_data_urls(server, tmp_path):
    img = tmp_path / "fig.png"
    Image.new("RGB", (2000, 1000), "red").save(img)
    engine = _engine([server.base_url], vision_urls=[server.base_url], max_image_side=256)
    [res] = engine.run([_req(0, images=[img], role="vision"), ][:1])
    assert res.ok and res.provenance.method == Method.VISION_MODEL
    part = server.chat_calls()[0].body["messages"][1]["content"][0]
    assert part["image_url"]["url"].startswith("data:image/png;base64,")
    import base64
    import io

    decoded = Image.open(io.BytesIO(base64.b64decode(part["image_url"]["url"].split(",", 1)[1])))
    assert max(decoded.size) == 256
    [missing] = engine.run([_req(1, images=[tmp_path / "nope.png"], role="vision")])
    assert missing.error_kind == ErrorKind.IMAGE_MISSING and "nope.png" in missing.error


def test_api_key_never_reaches_logs_errors_or_dumps(server, tmp_path, monkeypatch, caplog, capsys):
    sentinel = "sk-SENTINEL-4f1c2a9b8e7d6c5b"
    monkeypatch.setenv("PMC_INSTRUCT_API_KEY", sentinel)
    caplog.set_level(logging.DEBUG)
    server.fault_rates = {"500": 0.5, "429": 0.2}
    server.retry_after = "0"
    settings = load_settings(text=_role([server.base_url, dead_base_url()], max_attempts=3))
    engine = build_engine(settings, tmp_path)
    results = engine.run([_req(i) for i in range(10)])
    assert server.chat_calls()[0].headers["authorization"] == f"Bearer {sentinel}"  # it was used
    logging.getLogger("pipeline.engine").error("debug dump with key %s", sentinel)
    out = capsys.readouterr()
    blob = "\n".join([caplog.text, out.out, out.err, repr(settings), settings.model_dump_json(),
                      *(r.model_dump_json() for r in results), str(engine.stats)])
    assert sentinel not in blob
    assert sentinel.encode() not in (tmp_path / "responses.sqlite").read_bytes()
    assert "REDACTED" in caplog.text


def test_finish_reason_reaches_the_result_and_survives_the_cache(server, tmp_path):
    """A reply cut at max_tokens says finish_reason "length"; the row's provenance must say so, also
    when the answer later comes from the cache (a cut answer must never read as complete)."""
    server.script(["length", None])
    engine = _engine([server.base_url], cache_dir=tmp_path / "cache")
    cut, whole = engine.run([_req(0), _req(1)])
    assert cut.ok and cut.provenance.finish_reason == "length"
    assert whole.provenance.finish_reason == "stop"
    again = _engine([server.base_url], cache_dir=tmp_path / "cache").run([_req(0), _req(1)])
    assert [r.provenance.cache_hit for r in again] == [True, True]
    assert [r.provenance.finish_reason for r in again] == ["length", "stop"]

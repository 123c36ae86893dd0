"""A stopping process abandons model work at once: engine.run raises ShuttingDown instead of waiting
for a long generate() or for a batch of slow HTTP answers, and nothing half-made is returned or cached."""

from __future__ import annotations

import threading
import time

import pytest
from fakes.openai_server import FakeOpenAIServer

from pipeline.engine import ChatMessage, ChatRequest, ModelRole, Sampling, TemplateRef, build_engine, load_settings
from pipeline.engine.shutdown import ShuttingDown, clear_stop, request_stop, stop_requested

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _reset_stop():
    clear_stop()
    yield
    clear_stop()


def _req(i: int, max_tokens: int) -> ChatRequest:
    return ChatRequest(key=f"stop-{i}", sampling=Sampling(max_tokens=max_tokens),
                       messages=[ChatMessage(role="user", text=f"Write a long essay about cell biology, part {i}.")],
                       template=TemplateRef(name="test-stop", version="1"))


def _run_then_stop(engine, requests, stop_after_s: float) -> tuple[BaseException | None, list, float]:
    """engine.run in a worker thread (as stage tasks do); request a stop after a delay."""
    box: dict = {}

    def work():
        try:
            box["results"] = engine.run(requests)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            box["error"] = exc

    worker = threading.Thread(target=work)
    worker.start()
    time.sleep(stop_after_s)
    stopped_at = time.monotonic()
    request_stop()
    worker.join(timeout=120)
    assert not worker.is_alive(), "engine.run did not return after the stop request"
    return box.get("error"), box.get("results", []), time.monotonic() - stopped_at


def test_embedded_generation_is_cut_short(embedded_engine):
    # 8 answers of up to 400 tokens take tens of seconds on CPU; the stop lands within a few steps.
    error, results, _ = _run_then_stop(embedded_engine, [_req(i, 400) for i in range(8)], stop_after_s=3.0)
    assert isinstance(error, ShuttingDown) and results == []
    clear_stop()
    [again] = embedded_engine.run([_req(0, 8)])  # the engine works again once the stop is cleared
    assert again.ok and again.provenance.tokens_out <= 8


def test_http_calls_in_flight_are_abandoned(tmp_path):
    with FakeOpenAIServer(latency_s=30.0) as srv:
        role = ModelRole(backend="openai", base_urls=[srv.base_url], model="fake", concurrency=4)
        engine = build_engine(load_settings(text=role), cache_dir=tmp_path)
        error, results, waited = _run_then_stop(engine, [_req(i, 16) for i in range(12)], stop_after_s=1.0)
        assert isinstance(error, ShuttingDown) and "abandoned" in str(error) and results == []
        assert waited < 30.0  # it did not wait for the answers in flight
        assert len(srv.chat_calls()) <= 4  # nothing beyond the first wave was sent
    assert engine.stats.cache_hits == 0


def test_a_stopping_process_starts_no_new_work(tmp_path):
    request_stop()
    assert stop_requested()
    with FakeOpenAIServer() as srv:
        role = ModelRole(backend="openai", base_urls=[srv.base_url], model="fake")
        engine = build_engine(load_settings(text=role), cache_dir=None)
        with pytest.raises(ShuttingDown):
            engine.run([_req(0, 8)])
        assert srv.chat_calls() == []

"""De-leak scoring on an OpenAI-compatible /embeddings endpoint (the fake server's hashed word
vectors): batching and the in-flight bound, retries, the fallback to the local MiniLM when the
endpoint is down, the settings fingerprint naming the scorer, preflight, and a build on data/."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from build_helpers import config, openai_settings
from fakes.hashed_embeddings import hashed_vectors
from fakes.openai_server import FakeOpenAIServer, dead_base_url, varied_responder

from pipeline.build import run_build
from pipeline.build.preflight import check_endpoints, check_roles
from pipeline.deleak import DeleakConfig, DeleakStage, LeakageScorer, build_deleak_stages
from pipeline.deleak.leakage import make_scorer
from pipeline.embeddings_endpoint import EmbeddingEndpointError, EndpointEmbedder
from pipeline.engine.settings import EmbedRole, load_settings
from pipeline.io.parquet import read_all
from schemas import QARow

LEAKY = "Mice were treated for four weeks. Tumour volume fell by half in the treated group."
ANSWER = "Tumour volume fell by half."


@pytest.fixture()
def embed_server():
    with FakeOpenAIServer(models=("fake-embed",), capacity=2, latency_s=0.02) as server:
        yield server


def role(url: str, **kw) -> EmbedRole:
    kw.setdefault("max_attempts", 3)
    return EmbedRole(base_urls=[url], model="fake-embed", backoff_initial_s=0.0, backoff_max_s=0.0, **kw)


def test_batches_bounded_and_normalised(embed_server) -> None:
    texts = [f"sentence {i} on tumour volume in mice" for i in range(10)]
    vectors = EndpointEmbedder(role(embed_server.base_url, max_batch=4, concurrency=2))(texts)
    assert vectors.shape == (10, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vectors, hashed_vectors(texts), atol=1e-6)  # each text's own vector, in order
    calls = embed_server.embedding_calls()
    assert [len(c.body["input"]) for c in calls] == [4, 4, 2]  # many inputs per request
    assert embed_server.max_in_flight <= 2


def test_transient_faults_are_retried(embed_server) -> None:
    embed_server.script(["503", "500"])
    vectors = EndpointEmbedder(role(embed_server.base_url))(["one sentence", "another one"])
    assert vectors.shape == (2, 384) and len(embed_server.embedding_calls()) == 3


def test_unknown_model_fails_without_retries(embed_server) -> None:
    bad = role(embed_server.base_url).model_copy(update={"model": "not-served"})
    with pytest.raises(EmbeddingEndpointError, match="NotFoundError"):
        EndpointEmbedder(bad)(["text"])
    assert len(embed_server.embedding_calls()) == 1


def test_endpoint_down_falls_back_to_local_minilm(embed_server, scorer: LeakageScorer, caplog) -> None:
    """Every batch still gets scores, from the local MiniLM, with a warning; while the endpoint
    cools down it is not asked again."""
    embed_server.script(["500"] * 4)
    remote = make_scorer(0.5, 0.5, role(embed_server.base_url, max_attempts=2, endpoint_cooldown_s=600))
    pairs = [(LEAKY, ANSWER), ("Animals were housed in standard cages.", ANSWER)]
    with caplog.at_level(logging.WARNING, logger="pipeline.deleak.leakage"):
        got = remote.score_many(pairs)
    assert got == scorer.score_many(pairs)  # exactly the local scores
    assert remote.fallbacks == 1 and len(embed_server.embedding_calls()) == 2
    assert "scoring with the local all-MiniLM-L6-v2" in caplog.text and "500" in caplog.text
    assert remote.score_many(pairs) == got and remote.fallbacks == 2
    assert len(embed_server.embedding_calls()) == 2  # cooling down: no new request


def test_dead_endpoint_without_fallback_raises() -> None:
    scorer = LeakageScorer(embedder=EndpointEmbedder(role(dead_base_url(), max_attempts=1)))
    with pytest.raises(EmbeddingEndpointError, match="APIConnectionError"):
        scorer.score(LEAKY, ANSWER)


def test_fingerprint_names_the_scorer(embed_server, scorer: LeakageScorer) -> None:
    local = build_deleak_stages(["compound_qa"])[0]
    remote = build_deleak_stages(["compound_qa"], embed_role=role(embed_server.base_url))[0]
    other = build_deleak_stages(["compound_qa"], embed_role=role(embed_server.base_url).model_copy(
        update={"model": "another-embedder"}))[0]
    assert local.settings_fingerprint()["scorer"] == "all-MiniLM-L6-v2"  # unchanged: old local shards stay current
    assert remote.settings_fingerprint()["scorer"] == "openai:fake-embed"
    hashes = {s.config_hash({"text": "m"}) for s in (local, remote, other)}
    assert len(hashes) == 3
    assert local.scorer.uses_local_model and not remote.scorer.uses_local_model
    # the endpoint scorer travels to Dask workers: pickled without its clients, it still works
    import pickle

    again = pickle.loads(pickle.dumps(remote))
    assert again.scorer.score(LEAKY, ANSWER).similarity > 0.5


def test_embed_settings_from_env_and_preflight(embed_server, monkeypatch) -> None:
    monkeypatch.setenv("PMC_INSTRUCT_EMBED__BASE_URLS", embed_server.base_url)
    monkeypatch.setenv("PMC_INSTRUCT_EMBED__MODEL", "fake-embed")
    settings = load_settings()
    assert settings.embed.uses_endpoint and settings.text.backend == "embedded"  # URLs alone mean openai
    assert check_roles(settings) == [] and check_endpoints(settings) == []
    assert len(embed_server.embedding_calls()) == 1  # preflight embeds one sentence
    monkeypatch.setenv("PMC_INSTRUCT_EMBED__MODEL", "other")
    assert [p.option for p in check_endpoints(load_settings())] == ["--embed-model"]
    monkeypatch.delenv("PMC_INSTRUCT_EMBED__MODEL")
    assert [p.option for p in check_roles(load_settings())] == ["--embed-model"]
    monkeypatch.setenv("PMC_INSTRUCT_EMBED__BASE_URLS", dead_base_url())
    monkeypatch.setenv("PMC_INSTRUCT_EMBED__MODEL", "fake-embed")
    problems = check_endpoints(load_settings())
    assert [p.option for p in problems] == ["--embed-base-url"] and "not reachable" in problems[0].message


def test_preflight_refuses_a_model_that_does_not_embed(monkeypatch) -> None:
    with FakeOpenAIServer(models=("fake-embed",)) as server:
        server.script(["500"])  # listed by /models, but POST /embeddings fails
        settings = load_settings(embed={"base_urls": [server.base_url], "model": "fake-embed"})
        problems = check_endpoints(settings)
    assert [p.option for p in problems] == ["--embed-base-url"] and "HTTP 500" in problems[0].message


def test_build_on_demo_data_scores_through_the_endpoint(tmp_path: Path, demo_data: Path) -> None:
    """Ingest to de-leak on our demo articles, chat and embeddings on one fake server: every
    de-leaked row has leakage scores, and they came from the endpoint."""
    src = tmp_path / "in"
    shutil.copytree(demo_data / "demo", src)
    with FakeOpenAIServer(models=("fake-model", "fake-vlm", "fake-embed"), responder=varied_responder) as server:
        settings = openai_settings(server.base_url)
        settings.embed = role(server.base_url)
        cfg = config(src, tmp_path / "out", settings, limit=4,
                     stages=["ingest", "summary", "knowledge", "perception", "qa", "deleak"])
        report = run_build(cfg)
        assert server.embedding_calls()
    stages = [s for s in report.steps if s.name.startswith("deleak")]
    assert stages and all(s.rejects == 0 for s in stages)
    rows = [r for table in (tmp_path / "out" / "deleaked").iterdir() for r in read_all(table, QARow)]
    assert rows
    with_context = [r for r in rows if r.context_original.strip()]
    assert with_context and all(0.0 <= r.leakage_before <= 1.0 and 0.0 <= r.leakage_after <= 1.0 for r in rows)
    assert any(r.leakage_before > 0 for r in with_context)
    assert all(r.leakage_after <= r.leakage_before + 1e-4 for r in rows)


def test_stage_with_endpoint_scorer_equals_hashed_similarity(embed_server) -> None:
    stage = DeleakStage("compound_qa", DeleakConfig(), scorer=make_scorer(0.0, 1.0, role(embed_server.base_url)))
    leak = stage.scorer.score(LEAKY, ANSWER)
    vectors = hashed_vectors([ANSWER, "Mice were treated for four weeks.", "Tumour volume fell by half in the treated group."])
    assert leak.score == pytest.approx(float(np.clip((vectors[1:] @ vectors[0]).max(), 0, 1)), abs=1e-6)


def test_cli_options_reach_the_settings_and_preflight(tmp_path: Path, demo_data: Path) -> None:
    """`build --embed-base-url/--embed-model` become the embed role, and the CLI refuses a dead
    endpoint or a missing model name before anything starts, naming the option."""
    import os
    import subprocess
    import sys

    from flows.commands.build_options import BuildOptions

    opts = BuildOptions(embed_base_url=["http://e:8001/v1"], embed_model="m")
    assert opts.engine_overrides() == {"embed": {"backend": "openai", "base_urls": ["http://e:8001/v1"], "model": "m"}}
    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMC_INSTRUCT_", "PREFECT_"))}
    env.update(PYTHONPATH=str(repo), PREFECT_HOME=str(tmp_path / "prefect"), DO_NOT_TRACK="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    base = [sys.executable, "-m", "flows.cli", "build", "--input", str(demo_data / "demo"), "--out", str(tmp_path / "out")]
    for extra, flag in (([dead_base_url(), "--embed-model", "m"], "--embed-base-url"), (["http://e:8001/v1"], "--embed-model")):
        done = subprocess.run([*base, "--embed-base-url", *extra], env=env, cwd=repo, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode != 0 and f"error: {flag}" in done.stderr, done.stderr
        assert not (tmp_path / "out").exists()

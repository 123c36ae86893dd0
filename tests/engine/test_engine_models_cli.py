"""`pmc-instruct models check` against the fake server and the embedded model."""

from __future__ import annotations

import pytest
from fakes.openai_server import FakeOpenAIServer, dead_base_url
from typer.testing import CliRunner

from flows.cli import app

pytestmark = pytest.mark.slow


def test_models_check_lists_endpoint_models_and_fails_on_dead_one(monkeypatch, tmp_path):
    sentinel = "sk-SENTINEL-cli-0123456789"
    with FakeOpenAIServer(models=("qwen-vl", "llama-3")) as srv:
        config = tmp_path / "pmc.toml"
        config.write_text(f'[models.text]\nbackend = "openai"\nbase_urls = ["{srv.base_url}"]\nmodel = "llama-3"\n'
                          f'[models.vision]\nbackend = "openai"\nbase_urls = ["{srv.base_url}", "{dead_base_url()}"]\n')
        monkeypatch.setenv("PMC_INSTRUCT_API_KEY", sentinel)
        result = CliRunner().invoke(app, ["models", "check", "--config", str(config), "--timeout", "3"],
                                    env={"COLUMNS": "250"})
        assert srv.calls and srv.calls[0].path == "/v1/models"
    assert result.exit_code == 1, result.output  # the dead vision URL fails the check
    assert "qwen-vl" in result.output and "llama-3" in result.output and "failed" in result.output
    assert sentinel not in result.output


def test_models_check_embeds_a_sentence_on_the_embeddings_endpoint(monkeypatch, tmp_path):
    with FakeOpenAIServer(models=("llama-3", "fake-embed")) as srv:
        config = tmp_path / "pmc.toml"
        config.write_text(f'[models.text]\nbackend = "openai"\nbase_urls = ["{srv.base_url}"]\nmodel = "llama-3"\n'
                          f'[models.embed]\nbase_urls = ["{srv.base_url}"]\nmodel = "fake-embed"\n')
        args = ["models", "check", "--config", str(config), "--timeout", "3"]
        result = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        assert "embeds with fake-embed" in result.output
        assert [c.body.get("model") for c in srv.embedding_calls()] == ["fake-embed"]
        srv.script(["500"])  # still listed by /models, but POST /embeddings fails: not an embedding model
        failed = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert failed.exit_code == 1, failed.output
    assert "HTTP 500" in failed.output and "failed" in failed.output


def test_models_check_loads_embedded_model(embedded_engine, monkeypatch):
    monkeypatch.delenv("PMC_INSTRUCT_CONFIG", raising=False)
    for name in ("PMC_INSTRUCT_EMBED__BASE_URLS", "PMC_INSTRUCT_EMBED__BACKEND"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["models", "check"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in result.output and "MiB" in result.output
    assert "not configured" in result.output  # no vision backend in embedded mode
    assert "all-MiniLM-L6-v2 on this CPU; 384 dimensions" in result.output  # de-leak's bundled embedder


def test_config_file_may_not_hold_keys(tmp_path):
    from pipeline.engine.settings import load_settings

    config = tmp_path / "bad.yaml"
    config.write_text("models:\n  text:\n    backend: openai\n    base_urls: [http://x/v1]\n  api_key: sk-nope\n")
    with pytest.raises(ValueError, match="api_key"):
        load_settings(config)


def test_env_overrides_file_and_secret_is_excluded(tmp_path, monkeypatch):
    from pipeline.engine.settings import load_settings

    config = tmp_path / "c.yaml"
    config.write_text("models:\n  text:\n    concurrency: 8\n    model: a\n")
    monkeypatch.setenv("PMC_INSTRUCT_TEXT__MODEL", "b")
    monkeypatch.setenv("PMC_INSTRUCT_TEXT__BASE_URLS", "http://h1/v1, http://h2/v1")
    monkeypatch.setenv("PMC_INSTRUCT_API_KEY", "sk-SENTINEL-settings-42424242")
    settings = load_settings(config)
    assert settings.text.concurrency == 8 and settings.text.model == "b"
    assert settings.text.base_urls == ["http://h1/v1", "http://h2/v1"]
    assert settings.api_key.get_secret_value() == "sk-SENTINEL-settings-42424242"
    assert "sk-SENTINEL" not in repr(settings) + settings.model_dump_json() + str(settings.model_dump())

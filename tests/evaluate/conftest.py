"""Session fixtures: the fixture export, the offline tokenizer and a tiny model (built once)."""

from __future__ import annotations

from pathlib import Path

import pytest
from finetune_fixtures import export_dir, offline_tokenizer, tiny_model_dir


@pytest.fixture(scope="session")
def internvl_export(tmp_path_factory) -> Path:
    return export_dir(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def offline_tok():
    return offline_tokenizer()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return tiny_model_dir(tmp_path_factory.getbasetemp())

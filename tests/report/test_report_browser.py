"""The rendered report in a real browser: loads offline, every image decodes, every section is there."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.report import write_report
from .browser import chromium_path, open_report
from .dataset import HOSTILE, build_dataset

SECTIONS = ["counts", "tasks", "rejects", "leakage", "mcq-letters", "panels", "lengths", "modalities", "gallery"]


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_path()  # skips (or fails under CI=true) before any rendering work


@pytest.fixture(scope="module")
def full_report(chromium, tmp_path_factory) -> Path:
    out = build_dataset(tmp_path_factory.mktemp("report-full") / "out")
    return write_report(out, max_examples_per_task=6)


def test_full_report_in_browser(chromium: str, full_report: Path, tmp_path: Path):
    shot = tmp_path / "report-full.png"
    page = open_report(full_report, shot, chromium)
    assert page.console_errors == []
    assert page.page_errors == []
    assert page.requests == [], "the report must be self-contained and fetch nothing"
    assert page.section_ids == SECTIONS
    assert {f"gallery-{t}" for t in ("text_qa", "bbox_qa", "mcq_selection")} <= page.ids
    broken = [i for i in page.images if not i["complete"] or i["naturalWidth"] <= 0]
    assert page.images and broken == []
    # 5 charts (rejects, leakage, letters, lengths, modalities) + 7 final rows (one text_qa row was
    # dropped by the dedup gate); the image-choice MCQ also shows its 3 panel crops
    assert len(page.images) == 5 + 7 + 3
    assert "<image> 2 = B (correct)" in page.body_text
    # hostile text is shown literally: no injected script element, the markup visible as text
    assert page.script_count == 0
    assert HOSTILE in page.body_text
    assert shot.stat().st_size > 10_000


def test_partial_report_in_browser(chromium: str, tmp_path: Path):
    out = build_dataset(tmp_path / "out", stages=1)
    page = open_report(write_report(out), tmp_path / "report-stage1.png", chromium)
    assert page.console_errors == [] and page.page_errors == [] and page.requests == []
    assert page.section_ids == SECTIONS
    assert all(i["naturalWidth"] > 0 for i in page.images)
    assert "not built yet" in page.body_text

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from qa_upstream import build_upstream, hand_result, run_by_hand  # noqa: E402

from pipeline.generators import GenerationConfig, build_generators  # noqa: E402
from pipeline.io.parquet import write_rows  # noqa: E402
from schemas import QARow, Reject  # noqa: E402

GOOD_QA = {"question": "What does the treatment change in this figure?", "answer": "It raises the measured values."}


def answer(request):
    """Hand-built valid results for every generator template (parse logic under test, not a model)."""
    name = request.template.name
    key = request.key
    if name == "bbox_qa":
        return hand_result(request, question="Where can Panel A be found compared with Panel B?")
    if name == "mcq_selection":
        return hand_result(request, description=f"a plot for item {key}")
    # the answer quotes the caption the model was shown, so the grounding gate finds its support
    caption = max((line.split(":", 1)[1] for line in request.messages[-1].text.splitlines() if ":" in line), key=len, default="")
    answer = " ".join(caption.split()[:8]) or f"Result {key}."
    return hand_result(request, question=f"What does item {key} show about the treatment?", answer=answer)


@pytest.fixture(scope="module")
def generated(tmp_path_factory, compound_figures) -> Path:
    """An output folder with upstream tables (2 copies of our five compound figures = 10 figures,
    10 articles) and qa/<task> tables for all six generators."""
    out = tmp_path_factory.mktemp("generated")
    build_upstream(out, compound_figures, copies=2)
    config = GenerationConfig(per_figure={t: 2 for t in GenerationConfig().per_figure})
    for stage in build_generators(config):
        rows, rejects, _ = run_by_hand(stage, out, answer)
        write_rows(out / stage.output_table / "part-00000.parquet", rows, QARow)
        write_rows(out / "rejects" / stage.name / "part-00000.parquet", rejects, Reject)
    return out

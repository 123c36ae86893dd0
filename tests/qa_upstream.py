"""Build stage 1-3 style upstream tables for QA tests from a folder of compound figures (the
`compound_figures` fixture: five of our own, from data/).

The images are real PNG files; panel boxes are a fixed grid per figure and the crops are
real crops written content-addressed like stage 3 does; the text rows are schema-valid hand-written
rows (this stands in for stages 1-3 in unit tests; end-to-end tests run the real stages).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from pipeline.engine.types import ChatRequest, ChatResult, ErrorKind
from pipeline.io.parquet import shard_name, write_rows
from pipeline.stages.base import ShardInputs, WorkItem
from pipeline.vision.crops import crop, save_content_addressed
from schemas import (
    Box,
    Figure,
    ImageFacts,
    KnowledgeRow,
    KnowledgeTerm,
    LabelSource,
    Method,
    Panel,
    PanelSource,
    PerceptionRow,
    PerceptionScope,
    Provenance,
    Reject,
    SourceFormat,
    SubCaption,
    SummaryRow,
)

PROV = Provenance(method=Method.TEXT_MODEL, model_id="hand-written", backend="none")
LAYOUTS = {  # rows x columns of the panel grid, per figure index
    0: (2, 2),
    1: (1, 3),
    2: (2, 1),
    3: (1, 1),
    4: (2, 3),
}
TOPICS = ["tumour growth", "gene expression", "cell counts", "bone density", "protein levels", "blood flow"]


def grid_panels(width: int, height: int, rows: int, cols: int, lettered: bool = True) -> list[Panel]:
    """A rows x cols grid; `lettered` panels carry supplied letters (these tests stand in for the
    ingest that read them), otherwise reading-order names that must never pair with a sub-caption."""
    panels = []
    for r in range(rows):
        for c in range(cols):
            label = chr(ord("A") + r * cols + c)
            box = Box(x0=c * width / cols, y0=r * height / rows, x1=(c + 1) * width / cols, y1=(r + 1) * height / rows)
            norm = Box(x0=box.x0 / width, y0=box.y0 / height, x1=box.x1 / width, y1=box.y1 / height)
            source = PanelSource.WHOLE if rows * cols == 1 else PanelSource.DETECTED
            letters = {"printed_label": label, "label_confidence": 1.0, "label_source": LabelSource.SUPPLIED} if lettered else {}
            panels.append(Panel(label=label, box=box, box_norm=norm, confidence=0.9, source=source, method="grid", **letters))
    return panels


def build_upstream(
    out: Path, images_dir: Path, *, copies: int = 1, shard: int = 0, layouts: dict[int, tuple[int, int]] | None = None,
    lettered: bool = True,
) -> list[Figure]:
    """Write figures/summaries/knowledge/perception shard `shard` under `out` and the crops."""
    images = sorted(images_dir.glob("*.png"))
    figures, summaries, knowledge, perception = [], [], [], []
    for copy in range(copies):
        for i, path in enumerate(images):
            with Image.open(path) as opened:
                img = opened.convert("RGB")
            rows, cols = (layouts or LAYOUTS)[i % len(layouts or LAYOUTS)]
            panels = grid_panels(img.width, img.height, rows, cols, lettered)
            article = f"{path.stem.split('-')[0]}-{copy}"
            fig_id = f"{article}/{path.stem}"
            topic = TOPICS[(i + copy) % len(TOPICS)]
            subs = [SubCaption(label=p.label, text=f"{topic} measured in group {p.label} after {2 + j} weeks") for j, p in enumerate(panels)]
            caption = f"Effect of treatment on {topic}. " + " ".join(f"({s.label}) {s.text}." for s in subs)
            figures.append(
                Figure(
                    figure_id=fig_id,
                    article_id=article,
                    label=f"Figure {i + 1}",
                    caption=caption,
                    sub_captions=subs,
                    mentions=[f"As shown in Figure {i + 1}, {topic} increased in treated animals."],
                    image_path=str(path.resolve()),
                    image_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                    width=img.width,
                    height=img.height,
                    panels=panels,
                    source_format=SourceFormat.M3LLM,
                    source_path=str(path.resolve()),
                )
            )
            summaries.append(
                SummaryRow(
                    figure_id=fig_id,
                    article_id=article,
                    summary=f"The figure shows how treatment changes {topic} over several weeks.",
                    modalities=["bar chart"],
                    anatomy=[],
                    key_findings=[f"{topic} rose after treatment", f"the control group stayed flat"],
                    provenance=PROV,
                )
            )
            knowledge.append(
                KnowledgeRow(
                    figure_id=fig_id,
                    article_id=article,
                    keywords=[topic, "treatment", "control group"],
                    background=f"{topic.capitalize()} is a common readout in preclinical studies.",
                    terms=[KnowledgeTerm(term="control group", explanation="animals that received no treatment")],
                    provenance=PROV,
                )
            )
            facts = ImageFacts(
                width=img.width, height=img.height, aspect_ratio=img.width / img.height, is_grayscale=False,
                dominant_colours=["white"], edge_density=0.1, text_likeness=0.2, brightness=0.8,
                n_panels=len(panels), layout=f"{rows} rows x {cols} columns",
            )
            perception.append(
                PerceptionRow(
                    figure_id=fig_id, article_id=article, scope=PerceptionScope.FIGURE, image_path=str(path.resolve()),
                    description=f"A figure with {len(panels)} panels about {topic}.", observations=["white background"],
                    facts=facts, provenance=PROV,
                )
            )
            for p in panels:
                crop_path = save_content_addressed(crop(img, p.box), out / "crops")
                perception.append(
                    PerceptionRow(
                        figure_id=fig_id, article_id=article, scope=PerceptionScope.PANEL, panel_label=p.label,
                        image_path=str(crop_path), description=f"Panel {p.label} shows a plot of {topic}.",
                        observations=[f"{topic} values", "axis labels"], provenance=PROV,
                    )
                )
    name = shard_name(shard)
    write_rows(out / "figures" / name, figures, Figure)
    write_rows(out / "summaries" / name, summaries, SummaryRow)
    write_rows(out / "knowledge" / name, knowledge, KnowledgeRow)
    write_rows(out / "perception" / name, perception, PerceptionRow)
    return figures


def hand_result(request: ChatRequest, **fields) -> ChatResult:
    """A ChatResult as the engine returns it when the model's answer validated (built by hand)."""
    parsed = request.output_model(**fields)
    return ChatResult(
        key=request.key,
        text=json.dumps(fields),
        parsed=parsed,
        provenance=Provenance(method=Method.TEXT_MODEL, model_id="hand", backend="test", attempts=1,
                              template_name=request.template.name, template_version=request.template.version),
    )


def error_result(request: ChatRequest, kind: ErrorKind = ErrorKind.UNPARSEABLE) -> ChatResult:
    return ChatResult(key=request.key, text="{not json", error="never validated", error_kind=kind,
                      provenance=Provenance(method=Method.TEXT_MODEL, attempts=3))


def run_by_hand(stage, out: Path, answer: Callable[[ChatRequest], ChatResult | None], shard: str = "part-00000.parquet"):
    """Plan one shard, answer each request with `answer`, finish: (rows, rejects, items)."""
    rows, rejects, items = [], [], []
    for planned in stage.plan(ShardInputs(out, shard)):
        if isinstance(planned, Reject):
            rejects.append(planned)
            continue
        items.append(planned)
    for item in items:
        assert isinstance(item, WorkItem)
        result = answer(item.request) if item.request is not None else None
        done = stage.finish(item, result)
        (rejects.append(done) if isinstance(done, Reject) else rows.extend(done))
    return rows, rejects, items


def make_qa(
    qa_id: str,
    *,
    question: str = "What does the figure measure over time?",
    answer: str = "Tumour growth in treated mice.",
    context: str = "",
    task: str | None = None,
    article_id: str = "PMC1",
    image_paths: list[str] | None = None,
    **fields,
):
    """A QARow with its conversation rendered the way the generators render it."""
    from pipeline.generators.conversation import conversation_for
    from schemas import QARow

    task = task or qa_id.split("/")[0]
    row = QARow(
        qa_id=qa_id, task=task, figure_id=qa_id.rsplit("/", 1)[0].split("/", 1)[-1] if qa_id.count("/") >= 2 else "f",
        article_id=article_id, image_paths=image_paths or [], conversation=[], question=question, answer=answer,
        context=context, provenance=PROV, **fields,
    )
    return row.model_copy(update={"conversation": conversation_for(row)})

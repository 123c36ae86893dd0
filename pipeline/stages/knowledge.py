"""Stage 2, knowledge complementation: caption + stage-1 summary -> keywords, background, terms."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from pipeline.engine.types import ChatResult
from pipeline.stages.base import ShardInputs, Stage, WorkItem
from pipeline.stages.common import ModelOptions, clip, figure_reject, provenance, result_reject
from schemas import KnowledgeRow, Method, Reject, RejectReason, SummaryRow


class KnowledgeOptions(ModelOptions):
    caption_chars: int = Field(1500, ge=100, description="caption budget in characters")


class KnowledgeStage(Stage):
    name = "knowledge"
    output_table = "knowledge"
    row_model = KnowledgeRow
    input_tables = ("figures", "summaries")
    templates = ("knowledge",)

    def __init__(self, options: KnowledgeOptions | None = None, prompts_dir=None) -> None:
        self.options = options or KnowledgeOptions()
        self.prompts_dir = prompts_dir

    def settings_fingerprint(self) -> dict[str, Any]:
        return self.options.model_dump()

    def plan(self, inputs: ShardInputs) -> Iterable[WorkItem | Reject]:
        tpl = self.template("knowledge")
        summaries = inputs.by_figure("summaries", SummaryRow)
        for fig in inputs.figures:
            rows = summaries.get(fig.figure_id)
            if not rows:
                yield figure_reject(
                    self.name, fig, fig.figure_id, RejectReason.MISSING_INPUT,
                    f"figure {fig.figure_id} has no stage-1 summary (rejected or not built), so no knowledge",
                )
                continue
            summary = rows[0]
            request = tpl.request(
                fig.figure_id,
                sampling=self.options.sampling(),
                title=fig.article_title or "",
                caption=clip(fig.caption, self.options.caption_chars),
                summary=summary.summary,
                findings=summary.key_findings,
            )
            yield WorkItem(fig.figure_id, request, fig)

    def finish(self, item: WorkItem, result: ChatResult | None) -> list[BaseModel] | Reject:
        fig = item.context
        reject = result_reject(self.name, item, fig, result)
        if reject:
            return reject
        return [
            KnowledgeRow(
                **result.parsed.model_dump(),
                figure_id=fig.figure_id,
                article_id=fig.article_id,
                provenance=provenance(result, Method.TEXT_MODEL),
            )
        ]

"""Stage 2, knowledge complementation: caption + stage-1 summary -> keywords, background, terms."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field

from pipeline.stages.base import ShardInputs, WorkItem
from pipeline.stages.common import ModelOptions, clip, figure_reject
from pipeline.stages.figure_text import FigureTextStage
from schemas import KnowledgeOutput, KnowledgeRow, Reject, RejectReason, SummaryRow


class KnowledgeOptions(ModelOptions):
    caption_chars: int = Field(1500, ge=100, description="caption budget in characters")


class KnowledgeStage(FigureTextStage):
    name = "knowledge"
    output_table = "knowledge"
    row_model = KnowledgeRow
    output_model = KnowledgeOutput
    input_tables = ("figures", "summaries")
    templates = ("knowledge",)
    options_class = KnowledgeOptions
    options: KnowledgeOptions

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

"""Stage 1, caption summary: caption + citing paragraphs (+ article title) -> SummaryRow."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field

from pipeline.stages.base import ShardInputs, WorkItem
from pipeline.stages.common import ModelOptions, budget, clip, figure_reject
from pipeline.stages.figure_text import FigureTextStage
from schemas import CaptionSummaryOutput, Reject, RejectReason, SummaryRow


class SummaryOptions(ModelOptions):
    caption_chars: int = Field(2000, ge=100, description="caption budget in characters")
    mention_chars: int = Field(1200, ge=0, description="budget for all citing paragraphs together")
    mention_each_chars: int = Field(500, ge=50, description="budget for one citing paragraph")


class SummaryStage(FigureTextStage):
    name = "summary"
    output_table = "summaries"
    row_model = SummaryRow
    output_model = CaptionSummaryOutput
    input_tables = ("figures",)
    templates = ("summary",)
    options_class = SummaryOptions
    options: SummaryOptions
    required_field = "summary"

    def plan(self, inputs: ShardInputs) -> Iterable[WorkItem | Reject]:
        tpl = self.template("summary")
        opts = self.options
        for fig in inputs.figures:
            if not fig.caption.strip():
                yield figure_reject(self.name, fig, fig.figure_id, RejectReason.MISSING_INPUT,
                                    f"figure {fig.figure_id} has an empty caption: nothing to summarise")
                continue
            request = tpl.request(
                fig.figure_id,
                sampling=opts.sampling(),
                title=fig.article_title or "",
                caption=clip(fig.caption, opts.caption_chars),
                mentions=budget(fig.mentions, opts.mention_chars, opts.mention_each_chars),
            )
            yield WorkItem(fig.figure_id, request, fig)

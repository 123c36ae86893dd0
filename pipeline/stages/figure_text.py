"""Stages 1 and 2: one text-model request per figure whose validated answer fills one row.

A subclass sets the Stage class attributes and `options_class`, and implements `plan` (which
figures get a request and what it says); options, the config fingerprint and answer -> row are here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from pipeline.engine.types import ChatResult
from pipeline.stages.base import Stage, WorkItem
from pipeline.stages.common import ModelOptions, provenance, result_reject, scrub_echoes
from schemas import Method, Reject


class FigureTextStage(Stage):
    version = "3"  # 2: fields that echo the prompt are blanked; 3: recorded under blanked/, not rejects/
    options_class: ClassVar[type[ModelOptions]]
    required_field: ClassVar[str | None] = None  # an echo here rejects the whole answer

    def __init__(self, options: ModelOptions | None = None, prompts_dir: Path | None = None) -> None:
        self.options = options or self.options_class()
        self.prompts_dir = prompts_dir

    def settings_fingerprint(self) -> dict[str, Any]:
        return self.options.model_dump()

    def finish(self, item: WorkItem, result: ChatResult | None) -> list[BaseModel] | Reject:
        fig = item.context  # plan() puts the figure here
        reject = result_reject(self.name, item, fig, result)
        if reject:
            return reject
        scrubbed = scrub_echoes(self.name, fig, item.key, result.parsed, self.required_field, self.prompts_dir)
        if isinstance(scrubbed, Reject):
            return scrubbed
        fields, blanked = scrubbed
        row = self.row_model(**fields, figure_id=fig.figure_id, article_id=fig.article_id,
                             provenance=provenance(result, Method.TEXT_MODEL))
        return [row, *blanked]  # the runner files the BlankedFields under blanked/<stage>/

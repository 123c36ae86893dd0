"""Stage 3, visual perception: a description per panel (from its crop) and per whole figure.

Two honest modes, with separate templates and provenance methods:
- "vision": the pixels go to a vision-language model (role="vision") -> Method.VISION_MODEL.
- "facts": no vision model exists (embedded mode); we measure ImageFacts from the pixels and a
  text model writes from those numbers plus the caption -> Method.MEASURED_FACTS.
Measured facts are stored on every row in "facts" mode; in "vision" mode the model sees the pixels,
so they are measured only when `measure_facts_with_vision` asks for them (they cost CPU per image).

A figure without an image gets no perception rows and one Reject(MISSING_INPUT) saying so.
A single-panel figure (one whole-image panel) gets only the figure row: its panel row would be
the same image and the same prompt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field

from pipeline.engine.types import ChatResult
from pipeline.ingest.images import to_rgb
from pipeline.stages.base import ShardInputs, Stage, WorkItem
from pipeline.stages.common import ModelOptions, clip, figure_reject, provenance, result_reject, scrub_echoes
from pipeline.vision.crops import CropError, crop, save_content_addressed
from pipeline.vision.facts import fact_lines, measure
from schemas import (
    Figure, ImageFacts, Method, PanelSource, PerceptionOutput, PerceptionRow, PerceptionScope, Reject, RejectReason,
)

PerceptionMode = Literal["vision", "facts"]
TEMPLATES: dict[str, str] = {"vision": "perception_vision", "facts": "perception_facts"}


def target_key(figure_id: str, panel_label: str | None) -> str:
    """The work item key of one image: `<figure>#panel-<label>` for a crop, `<figure>#figure` for the whole."""
    return f"{figure_id}#figure" if panel_label is None else f"{figure_id}#panel-{panel_label}"


class PerceptionOptions(ModelOptions):
    caption_chars: int = Field(600, ge=50, description="caption budget per image prompt")
    measure_facts_with_vision: bool = Field(
        False, description="also measure ImageFacts from the pixels when a vision model describes the image")


@dataclass
class _Target:
    figure: Figure
    scope: PerceptionScope
    panel_label: str | None
    image_path: str
    facts: ImageFacts | None


class PerceptionStage(Stage):
    version = "6"  # 2: fields that echo the prompt are blanked; 3: recorded under blanked/, not rejects/;
    # 4: crops are written with PNG compression level 1 (new bytes, so new content-addressed names);
    # 5: crops are encoded by OpenCV with one row filter (new bytes again, same pixels);
    # 6: crops of JPEG figures are JPEG (pipeline.vision.crops)
    name = "perception"
    output_table = "perception"
    row_model = PerceptionRow
    output_model = PerceptionOutput
    input_tables = ("figures",)
    templates = tuple(TEMPLATES.values())

    def __init__(self, mode: PerceptionMode, options: PerceptionOptions | None = None, prompts_dir=None) -> None:
        if mode not in TEMPLATES:
            raise ValueError(f"perception mode must be one of {sorted(TEMPLATES)}, not {mode!r}")
        self.mode = mode
        self.templates = (TEMPLATES[mode],)
        self.roles = ("vision",) if mode == "vision" else ("text",)
        self.method = Method.VISION_MODEL if mode == "vision" else Method.MEASURED_FACTS
        self.options = options or PerceptionOptions()
        self.prompts_dir = prompts_dir

    def settings_fingerprint(self) -> dict[str, Any]:
        return {"mode": self.mode, **self.options.model_dump()}

    def row_key(self, row: PerceptionRow) -> str:
        return target_key(row.figure_id, row.panel_label)

    def plan(self, inputs: ShardInputs) -> Iterable[WorkItem | Reject]:
        crops_dir = Path(inputs.out_dir) / "crops"
        for fig in inputs.figures:
            if not fig.has_image or not fig.image_path:
                yield figure_reject(self.name, fig, fig.figure_id, RejectReason.MISSING_INPUT,
                                    f"figure {fig.figure_id} has no image: no perception rows")
                continue
            try:
                with Image.open(fig.image_path) as opened:
                    img = to_rgb(opened)  # 16-bit, CMYK, alpha: scaled/composited, not clipped
                    jpeg = opened.format == "JPEG"
            except FileNotFoundError:
                yield figure_reject(self.name, fig, fig.figure_id, RejectReason.IMAGE_MISSING,
                                    f"figure {fig.figure_id}: image {fig.image_path} no longer exists")
                continue
            except (OSError, UnidentifiedImageError, ValueError) as exc:
                yield figure_reject(self.name, fig, fig.figure_id, RejectReason.IMAGE_CORRUPT,
                                    f"figure {fig.figure_id}: image {fig.image_path} cannot be decoded: {exc}")
                continue
            yield from self._plan_figure(fig, img, crops_dir, jpeg)

    def _plan_figure(self, fig: Figure, img: Image.Image, crops_dir: Path, jpeg: bool = False
                     ) -> Iterable[WorkItem | Reject]:
        single = len(fig.panels) == 1 and fig.panels[0].source == PanelSource.WHOLE
        for panel in [] if single else fig.panels:
            key = target_key(fig.figure_id, panel.label)
            try:
                piece = crop(img, panel.box)
            except CropError as exc:
                yield figure_reject(self.name, fig, key, RejectReason.INPUT_INVALID, f"{key}: {exc}")
                continue
            path = save_content_addressed(piece, crops_dir, jpeg)
            target = _Target(fig, PerceptionScope.PANEL, panel.label, str(path), self._measure(piece))
            yield self._item(key, target, f"panel {panel.label}", fig.sub_caption(panel.label))
        facts = self._measure(img, [p.box for p in fig.panels])
        target = _Target(fig, PerceptionScope.FIGURE, None, str(fig.image_path), facts)
        yield self._item(target_key(fig.figure_id, None), target, "the whole figure", None)

    def _measure(self, img: Image.Image, panels=()) -> ImageFacts | None:
        if self.mode == "vision" and not self.options.measure_facts_with_vision:
            return None
        return measure(img, panels)

    def _item(self, key: str, target: _Target, scope: str, sub_caption: str | None) -> WorkItem:
        # A panel's own caption part when ingest split one off, else the figure caption.
        caption = clip(sub_caption or target.figure.caption, self.options.caption_chars)
        tpl = self.template(TEMPLATES[self.mode])
        variables: dict[str, Any] = {"scope": scope, "caption": caption}
        if self.mode == "vision":
            request = tpl.request(key, images=[target.image_path], role="vision",
                                  sampling=self.options.sampling(), **variables)
        else:
            request = tpl.request(key, sampling=self.options.sampling(), facts=fact_lines(target.facts), **variables)
        return WorkItem(key, request, target)

    def finish(self, item: WorkItem, result: ChatResult | None) -> list[BaseModel] | Reject:
        target: _Target = item.context
        reject = result_reject(self.name, item, target.figure, result)
        if reject:
            return reject
        scrubbed = scrub_echoes(self.name, target.figure, item.key, result.parsed, "description", self.prompts_dir)
        if isinstance(scrubbed, Reject):
            return scrubbed
        fields, blanked = scrubbed
        return [
            *blanked,
            PerceptionRow(
                **fields,
                figure_id=target.figure.figure_id,
                article_id=target.figure.article_id,
                scope=target.scope,
                panel_label=target.panel_label,
                image_path=target.image_path,
                facts=target.facts,
                provenance=provenance(result, self.method),
            )
        ]

"""The generator base: a Stage that reads one shard's figures and stage 1-3 rows and writes QARows.

A subclass sets `task` and `prompt`, implements `plan_figure` (work items for one figure) and
`finish` (model result -> QARow or Reject). Name, output table and inputs follow from `task`.
Most tasks are "the model writes one question and its answer": those subclass `ModelQAGenerator`
and only say why a figure cannot be used, what to ask for question n, and the row's task fields.
Per-shard planning state lives in a `ShardPlan` passed down, never on the stage object, so one
stage instance may plan several shards at once (threads).
"""

from __future__ import annotations

import hashlib
import random
from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pipeline.engine.types import ChatRequest, ChatResult
from pipeline.generators.config import GenerationConfig, TaskSettings
from pipeline.generators.conversation import conversation_for, strip_placeholders
from pipeline.stages.base import ShardInputs, Stage, WorkItem
from pipeline.stages.common import clip, figure_reject, provenance, result_reject
from schemas import (
    Figure,
    KnowledgeRow,
    Method,
    PerceptionRow,
    PerceptionScope,
    Provenance,
    QARow,
    Reject,
    RejectReason,
    SummaryRow,
)


@dataclass
class FigureBundle:
    """Everything stages 1-3 know about one figure."""

    figure: Figure
    summary: SummaryRow | None = None
    knowledge: KnowledgeRow | None = None
    figure_perception: PerceptionRow | None = None
    panel_perception: dict[str, PerceptionRow] = field(default_factory=dict)

    def panels_with_crops(self) -> list[str]:
        """Panel labels (in the figure's panel order) that have a crop from stage 3."""
        order = [p.label for p in self.figure.panels]
        extra = sorted(set(self.panel_perception) - set(order))
        return [lbl for lbl in order + extra if lbl in self.panel_perception]


@dataclass
class ShardPlan:
    """What planning one shard may share between figures: all bundles, plus generator scratch state."""

    name: str
    bundles: list[FigureBundle]
    state: dict[str, Any] = field(default_factory=dict)


def bundles(inputs: ShardInputs) -> list[FigureBundle]:
    summaries = {r.figure_id: r for r in inputs.table("summaries", SummaryRow)}
    knowledge = {r.figure_id: r for r in inputs.table("knowledge", KnowledgeRow)}
    out = []
    perception = inputs.by_figure("perception", PerceptionRow)
    for fig in inputs.figures:
        b = FigureBundle(fig, summaries.get(fig.figure_id), knowledge.get(fig.figure_id))
        for row in perception.get(fig.figure_id, []):
            if row.scope is PerceptionScope.FIGURE:
                b.figure_perception = row
            elif row.panel_label:
                b.panel_perception[row.panel_label] = row
        out.append(b)
    return out


def seeded_rng(*parts: Any) -> random.Random:
    """A RNG that depends only on its parts (stable across runs, processes and Python versions)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class Generator(Stage):
    task: ClassVar[str]
    prompt: ClassVar[str | None] = None  # name of the prompt template under prompts/
    max_tokens_cap: ClassVar[int | None] = None  # outputs known to be short (a question, a phrase)
    settings_model: ClassVar[type[TaskSettings]] = TaskSettings  # this task's own knobs (none by default)
    input_tables = ("figures", "summaries", "knowledge", "perception")
    row_model = QARow

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "task" in cls.__dict__:
            cls.name = f"qa.{cls.task}"
            cls.output_table = f"qa/{cls.task}"
            cls.templates = (cls.prompt,) if cls.prompt else ()

    def __init__(self, config: GenerationConfig | None = None, prompts_dir: Path | None = None) -> None:
        self.config = config or GenerationConfig()
        self.settings = self.config.settings_for(self.task, self.settings_model)
        self.prompts_dir = prompts_dir
        # generator requests go to the vision role only when images are attached
        self.roles = ("vision",) if self.config.send_images else ("text",)

    def settings_fingerprint(self) -> dict[str, Any]:
        """Shared settings, this task's count and this task's own settings: nothing of other tasks."""
        return {**self.config.fingerprint(self.task), "task": self.settings.model_dump()}

    @property
    def count(self) -> int:
        return self.config.count(self.task)

    def qa_id(self, figure: Figure, n: int) -> str:
        return f"{self.task}/{figure.figure_id}/{n}"

    def rng(self, *parts: Any) -> random.Random:
        return seeded_rng(self.config.seed, self.task, *parts)

    # ---- planning ---------------------------------------------------------------------------
    def plan(self, inputs: ShardInputs) -> Iterable[WorkItem | Reject]:
        if self.count <= 0:
            return
        shard = ShardPlan(inputs.shard, bundles(inputs))
        for bundle in shard.bundles:
            yield from self.plan_figure(bundle, shard)

    @abstractmethod
    def plan_figure(self, bundle: FigureBundle, shard: ShardPlan) -> Iterable[WorkItem | Reject]:
        ...

    def request(self, key: str, images: list[str] | None = None, **variables: Any) -> ChatRequest:
        send = self.config.send_images and bool(images)
        return self.template(self.prompt).request(
            key,
            images=images if send else None,
            role="vision" if send else "text",
            sampling=self.config.sampling(self.max_tokens_cap),
            **variables,
        )

    def text(self, value: str | None) -> str:
        return clip(value, self.config.max_prompt_chars)

    def context_text(self, value: str | None) -> str:
        return clip(value, self.config.max_context_chars) if self.config.include_context else ""

    def reject(self, key: str, figure: Figure, reason: RejectReason, detail: str, raw: str | None = None) -> Reject:
        return figure_reject(self.name, figure, key, reason, detail, raw)

    # ---- finishing --------------------------------------------------------------------------
    def failed(self, item: WorkItem, figure: Figure, result: ChatResult | None) -> Reject | None:
        """A Reject when the model gave nothing usable, else None."""
        return result_reject(self.name, item, figure, result)

    def model_provenance(self, result: ChatResult, request: ChatRequest | None) -> Provenance:
        method = Method.VISION_MODEL if request is not None and request.role == "vision" else Method.TEXT_MODEL
        return provenance(result, method)

    def clean_question(self, text: str | None) -> str | None:
        """Whitespace-normalised question ending in '?', or None when it is not a usable question."""
        q = clip(text, 600)
        if len(q.split()) < self.config.min_question_words:
            return None
        return q if q.endswith("?") else q.rstrip(".!:; ") + "?"

    def clean_qa(self, item: WorkItem, figure: Figure, result: ChatResult) -> tuple[str, str] | Reject:
        parsed = result.parsed
        question = self.clean_question(getattr(parsed, "question", None))
        answer = clip(getattr(parsed, "answer", None), 1000)
        problem = None
        if question is None:
            problem = "the question is missing or shorter than the minimum word count"
        elif not answer:
            problem = "the answer is empty"
        elif answer.lower().strip(" .?") == question.lower().strip(" .?"):
            problem = "the answer repeats the question"
        if problem:
            return self.reject(item.key, figure, RejectReason.MODEL_UNPARSEABLE, f"{item.key}: {problem}", raw=result.text)
        return question, answer

    def row_key(self, row: QARow) -> str:
        return row.qa_id

    def make_row(self, figure: Figure, qa_id: str, *, question: str, answer: str, provenance: Provenance, **fields: Any) -> QARow:
        context = strip_placeholders(fields.pop("context", ""))
        row = QARow(
            qa_id=qa_id,
            task=self.task,
            figure_id=figure.figure_id,
            article_id=figure.article_id,
            conversation=[],
            question=strip_placeholders(question),
            answer=strip_placeholders(answer),
            context=context,
            provenance=provenance,
            **fields,
        )
        return row.model_copy(update={"conversation": conversation_for(row)})


class ModelQAGenerator(Generator):
    """A generator whose model writes a free-form question and its answer for each work item.

    A subclass implements `unusable` (why a figure gets no questions), `ask` (the request for
    question n plus the target it is about) and `row_fields` (the task's fields of the row).
    Planning, model-failure rejects, question/answer checks and row building are shared.
    """

    def unusable(self, bundle: FigureBundle) -> tuple[RejectReason, str] | None:
        """(reason, why) when this figure cannot get questions of this task, else None."""
        return None

    @abstractmethod
    def ask(self, key: str, bundle: FigureBundle, n: int) -> tuple[ChatRequest, Any]:
        """The request for question `n` of this figure, and its target (panels etc.) for `row_fields`."""

    @abstractmethod
    def row_fields(self, bundle: FigureBundle, target: Any) -> dict[str, Any]:
        """QARow fields beyond question, answer and provenance (images, context, panels, boxes)."""

    def plan_figure(self, bundle: FigureBundle, shard: ShardPlan) -> Iterable[WorkItem | Reject]:
        fig = bundle.figure
        problem = self.unusable(bundle)
        if problem:
            reason, why = problem
            yield self.reject(self.qa_id(fig, 0), fig, reason, f"{fig.figure_id}: {why}")
            return
        for n in range(self.count):
            key = self.qa_id(fig, n)
            request, target = self.ask(key, bundle, n)
            yield WorkItem(key, request, context=(bundle, target))

    def finish(self, item: WorkItem, result: ChatResult | None) -> list[QARow] | Reject:
        bundle, target = item.context
        fig = bundle.figure
        bad = self.failed(item, fig, result)
        if bad:
            return bad
        qa = self.clean_qa(item, fig, result)
        if isinstance(qa, Reject):
            return qa
        question, answer = qa
        provenance = self.model_provenance(result, item.request)
        fields = self.row_fields(bundle, target)
        return [self.make_row(fig, item.key, question=question, answer=answer, provenance=provenance, **fields)]

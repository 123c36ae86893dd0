"""bbox_qa: where one panel sits relative to another. Geometry gives the answer; a model may phrase the question.

The model's question is used only if it names both panels exactly and does not itself contain a
relation word (a question like "Is Panel A left of Panel B?" would need a yes/no answer, not ours).
Otherwise a fixed question template is used. Provenance tells which: template_name "bbox_qa" with
the model's ids, or "bbox_qa.rule" with backend "none". Both panels' boxes appear in the question
in InternVL grounding notation; the figure image is the only image.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from pydantic import Field

from pipeline.engine.types import ChatResult
from pipeline.generators.base import FigureBundle, Generator, ShardPlan
from pipeline.generators.config import TaskSettings
from pipeline.generators.registry import register
from pipeline.geometry import internvl_ref, relation
from pipeline.stages.base import WorkItem
from pipeline.stages.common import provenance, rule_provenance
from schemas import Method, Panel, QARow, Reject, RejectReason
from schemas.generation import QuestionOutput

RULE_TEMPLATE = "bbox_qa.rule"
RELATION_WORDS = re.compile(r"\b(left|right|above|below|under|beneath|same row|same column|top|bottom)\b", re.I)


def panel_name(panel: Panel) -> str:
    return f"Panel {panel.label}"


def rule_question(a: str, b: str) -> str:
    return f"Where is {a} located relative to {b}?"


def ground(question: str, a: Panel, b: Panel) -> str:
    """Replace the first mention of each panel name by its <ref>/<box> markup."""
    for panel in (a, b):
        name = panel_name(panel)
        question = re.sub(re.escape(name), lambda _m, p=panel, n=name: internvl_ref(n, p.box_norm), question, count=1, flags=re.I)
    return question


class BBoxSettings(TaskSettings):
    tolerance: float = Field(0.05, ge=0.0, le=0.5, description="same row/column tolerance, fraction of image")
    use_model: bool = Field(True, description="let the model phrase the question (geometry gives the answer)")


@register
class BBoxQA(Generator):
    task = "bbox_qa"
    prompt = "bbox_qa"
    version = "2"  # 2: panels whose extents overlap by half the shorter one are beside, not above/below
    output_model = QuestionOutput
    settings_model = BBoxSettings
    settings: BBoxSettings
    max_tokens_cap = 64

    def pairs(self, bundle: FigureBundle) -> list[tuple[Panel, Panel]]:
        """Up to `count` distinct panel pairs with a usable (non-coincident) relation, seeded order.
        Only panels whose letter is printed on the figure: the question names panels by letter."""
        panels = [p for p in bundle.figure.panels if p.letter]
        rng = self.rng(bundle.figure.figure_id)
        candidates = [
            (a, b) for a, b in itertools.combinations(panels, 2)
            if not relation(a.box_norm, b.box_norm, self.settings.tolerance).coincident
        ]
        rng.shuffle(candidates)
        return [(a, b) if rng.random() < 0.5 else (b, a) for a, b in candidates[: self.count]]

    def plan_figure(self, bundle: FigureBundle, shard: ShardPlan) -> Iterable[WorkItem | Reject]:
        fig = bundle.figure
        if not fig.has_image or not fig.image_path:
            yield self.reject(self.qa_id(fig, 0), fig, RejectReason.IMAGE_MISSING, f"{fig.figure_id}: the figure has no image")
            return
        pairs = self.pairs(bundle)
        if not pairs and sum(1 for p in fig.panels if p.letter) < 2 <= len(fig.panels):
            yield self.reject(
                self.qa_id(fig, 0), fig, RejectReason.UNLABELLED_PANEL,
                f"{fig.figure_id}: {len(fig.panels)} panels but fewer than 2 carry a printed letter; "
                "panels are not named by guessed letters",
            )
            return
        if not pairs:
            yield self.reject(
                self.qa_id(fig, 0),
                fig,
                RejectReason.NO_PANELS,
                f"{fig.figure_id}: {len(fig.panels)} panel(s), no pair with a distinguishable position",
            )
            return
        for n, (a, b) in enumerate(pairs):
            key = self.qa_id(fig, n)
            request = None
            if self.settings.use_model:
                request = self.request(key, images=[fig.image_path], panel_a=panel_name(a), panel_b=panel_name(b))
            yield WorkItem(key, request, context=(bundle, a, b))

    def usable_phrasing(self, result: ChatResult | None, a: Panel, b: Panel) -> str | None:
        if result is None or not result.ok:
            return None
        question = self.clean_question(getattr(result.parsed, "question", None))
        if question is None or RELATION_WORDS.search(question):
            return None
        if any(len(re.findall(rf"\b{re.escape(panel_name(p))}\b", question, re.I)) != 1 for p in (a, b)):
            return None
        return question

    def finish(self, item: WorkItem, result: ChatResult | None) -> list[QARow] | Reject:
        bundle, a, b = item.context
        fig = bundle.figure
        rel = relation(a.box_norm, b.box_norm, self.settings.tolerance)
        phrased = self.usable_phrasing(result, a, b) if item.request is not None else None
        if phrased is not None:
            source = provenance(result, Method.GEOMETRY)
        else:
            phrased = rule_question(panel_name(a), panel_name(b))
            attempts = result.provenance.attempts if result is not None else 0
            source = rule_provenance(RULE_TEMPLATE, self.version, Method.GEOMETRY, attempts)
        return [
            self.make_row(
                fig,
                item.key,
                question=ground(phrased, a, b),
                answer=rel.describe(panel_name(a), panel_name(b)),
                image_paths=[fig.image_path],
                panel_labels=[a.label, b.label],
                boxes=[a.box_norm, b.box_norm],
                relation=rel.code,
                provenance=source,
            )
        ]

"""mcq_selection: "Which image shows X?" over n panel crops (default 4), letters placed by a balanced shuffle.

Options are the images themselves, introduced as Image-1..Image-n; option letter A means Image-1.
Distractors, in order of preference: other panels of the same figure, then panels of other figures
in the same shard (seeded choice). A figure whose shard cannot supply n-1 distractors is rejected
(NO_PANELS). X is a short phrase the model writes from the target's sub-caption and perception; if
that phrase is unusable (empty, too long, names a panel) the first words of the sub-caption (or of
the perception description) are used instead and provenance says "mcq_selection.rule".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import Field

from pipeline.engine.types import ChatResult
from pipeline.generators.base import FigureBundle, Generator, ShardPlan
from pipeline.generators.config import TaskSettings
from pipeline.generators.conversation import LETTERS, mcq_answer
from pipeline.generators.registry import register
from pipeline.generators.shuffle import balanced_slot
from pipeline.stages.base import WorkItem
from pipeline.stages.common import clip, rule_provenance
from schemas import QARow, Reject, RejectReason
from schemas.generation import PanelTargetOutput

RULE_TEMPLATE = "mcq_selection.rule"
MAX_PHRASE_WORDS = 16
LABEL_PREFIX = re.compile(r"^\s*\(?[A-Za-z]\)?[.:)]?\s+")
NAMES_A_PANEL = re.compile(r"\b(panel|image-?\d|figure)\b", re.I)


def rule_phrase(text: str) -> str:
    words = LABEL_PREFIX.sub("", clip(text, 400)).split()
    return " ".join(words[:12]).rstrip(" .,;:…")


def lower_first(phrase: str) -> str:
    """Lower-case a leading capital unless the word is an acronym (MRI, CT)."""
    if len(phrase) > 1 and phrase[0].isupper() and phrase[1].islower():
        return phrase[0].lower() + phrase[1:]
    return phrase


class MCQSettings(TaskSettings):
    options: int = Field(4, ge=2, le=8, description="images offered per question (one right, the rest distractors)")


@register
class MCQSelection(Generator):
    task = "mcq_selection"
    prompt = "mcq_selection"
    output_model = PanelTargetOutput
    settings_model = MCQSettings
    settings: MCQSettings
    max_tokens_cap = 48

    @staticmethod
    def pool(shard: ShardPlan) -> list[tuple[str, str]]:
        """(figure id, crop path) of every panel crop in the shard, built once per shard."""
        if "pool" not in shard.state:
            shard.state["pool"] = [
                (b.figure.figure_id, row.image_path) for b in shard.bundles for row in b.panel_perception.values()
            ]
        return shard.state["pool"]

    def distractors(self, bundle: FigureBundle, target: str, k: int, pool: list[tuple[str, str]]) -> list[str]:
        fig = bundle.figure
        rng = self.rng(fig.figure_id, target)
        target_path = bundle.panel_perception[target].image_path
        own = [bundle.panel_perception[lbl].image_path for lbl in bundle.panels_with_crops() if lbl != target]
        rng.shuffle(own)
        picked: list[str] = []
        for path in own:  # distinct crops only: identical crops would make two right answers
            if path != target_path and path not in picked:
                picked.append(path)
        tries = 0
        while len(picked) < k and tries < 20 * k and len(pool) > 1:
            tries += 1
            owner, path = pool[rng.randrange(len(pool))]
            if owner != fig.figure_id and path != target_path and path not in picked:
                picked.append(path)
        if len(picked) < k:  # small shard: walk the whole pool in a seeded order
            rest = [p for o, p in pool if o != fig.figure_id and p != target_path and p not in picked]
            rng.shuffle(rest)
            picked.extend(dict.fromkeys(rest))
        return picked[:k]

    def plan_figure(self, bundle: FigureBundle, shard: ShardPlan) -> Iterable[WorkItem | Reject]:
        fig = bundle.figure
        labels = bundle.panels_with_crops()
        n_opt = self.settings.options
        if not labels:
            yield self.reject(self.qa_id(fig, 0), fig, RejectReason.NO_PANELS, f"{fig.figure_id}: no panel crops from stage 3")
            return
        self.rng(fig.figure_id).shuffle(labels)
        for n in range(min(self.count, len(labels))):
            target = labels[n]
            key = self.qa_id(fig, n)
            wrong = self.distractors(bundle, target, n_opt - 1, self.pool(shard))
            if len(wrong) < n_opt - 1:
                yield self.reject(
                    key, fig, RejectReason.NO_PANELS,
                    f"{key}: only {len(wrong)} distractor crop(s) in this figure and shard, {n_opt - 1} needed",
                )
                continue
            # position of this MCQ among the shard's MCQs drives the balanced letter shuffle
            index = shard.state["mcq_index"] = shard.state.get("mcq_index", -1) + 1
            slot = balanced_slot(self.config.seed, shard.name, index, n_opt)
            images = wrong[:slot] + [bundle.panel_perception[target].image_path] + wrong[slot:]
            perc = bundle.panel_perception[target]
            request = self.request(
                key,
                images=[perc.image_path],
                sub_caption=self.text(fig.sub_caption(target) or ""),
                description=self.text(perc.description),
            )
            yield WorkItem(key, request, context=(bundle, target, images, slot))

    def usable_phrase(self, result: ChatResult | None) -> str | None:
        if result is None or not result.ok:
            return None
        phrase = clip(getattr(result.parsed, "description", None), 300).rstrip(" .?!;:")
        if not phrase or len(phrase.split()) > MAX_PHRASE_WORDS or NAMES_A_PANEL.search(phrase):
            return None
        return phrase

    def finish(self, item: WorkItem, result: ChatResult | None) -> list[QARow] | Reject:
        bundle, target, images, slot = item.context
        fig = bundle.figure
        phrase = self.usable_phrase(result)
        if phrase is not None:
            provenance = self.model_provenance(result, item.request)
        else:
            # the sub-caption only when paired by the printed letter; else what stage 3 saw in the crop
            phrase = rule_phrase(fig.sub_caption(target) or "") or rule_phrase(bundle.panel_perception[target].description)
            if not phrase:
                return self.reject(item.key, fig, RejectReason.MISSING_INPUT, f"{item.key}: panel {target} has no text to describe it")
            provenance = rule_provenance(RULE_TEMPLATE, self.version)
        options = [f"Image-{i}" for i in range(1, len(images) + 1)]
        letter = LETTERS[slot]
        return [
            self.make_row(
                fig,
                item.key,
                question=f"Which image shows {lower_first(phrase)}?",
                answer=mcq_answer(letter, options),
                image_paths=images,
                options=options,
                answer_letter=letter,
                panel_labels=[target],
                provenance=provenance,
            )
        ]

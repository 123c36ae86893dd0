"""Stage 5: rewrite contexts that give the answer away, per task (qa/<task> -> deleaked/<task>).

For every QA row the leakage of its context is scored (pipeline.deleak.leakage). Rows under the
threshold, and rows without context, pass through with leakage_after = leakage_before and no model
call. So do rows without images (text_qa): de-leakage exists to make a model look at the image for
what the text no longer says; a row with no image is answered from its context alone, so taking
the answer out of that context would only make the row unanswerable. They keep their context and
carry deleak_provenance method=rule, template_name "deleak.text_only" to say why they were not
rewritten. For the others a model rewrites the context; the kept context is the least leaking of
  - the rewrite (when the call succeeded and it kept at least `min_rewrite_words` words),
  - a deterministic redaction of the original (pipeline.deleak.redact), used when the rewrite does
    not lower the score or the call failed,
  - the original itself (only when neither of the above scores lower).
A redaction that leaves masks rather than text ("[...] [...] in [...]") is replaced by no context
at all: keeping the original would leak the answer into training and eval, and a row with images
is still answerable without it (gate.context drops a text-only row with no context left).
`deleak_provenance` says which: the model's provenance, or method=rule with template_name
"deleak.redact" (or "deleak.text_only" for a row with no image); it is None for rows under the
threshold or kept unchanged. The conversation is
re-rendered from the new context; `context_original` keeps the text before.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.deleak.config import DeleakConfig
from pipeline.deleak.leakage import LOCAL_SCORER_ID, LeakageScorer, make_scorer
from pipeline.deleak.redact import redact, unreadable
from pipeline.engine.types import ChatResult
from pipeline.generators.conversation import rerender, strip_placeholders
from pipeline.stages.base import ShardInputs, Stage, WorkItem
from pipeline.stages.common import provenance, rule_provenance
from schemas import Method, Provenance, QARow, Reject
from schemas.generation import DeleakOutput

TEMPLATE = "deleak_context"
REDACT_TEMPLATE = "deleak.redact"
TEXT_ONLY = "deleak.text_only"  # marker: no image, so the context is the row's only source of the answer
SCORER_ID = LOCAL_SCORER_ID  # the local model's id; an endpoint scorer's is "openai:<model>"
# Scores closer than this are a tie. The same sentence embedded in batches of different shapes
# differs in the last float bits, so a rewrite that keeps the original's most telling sentence
# scores "lower" or "higher" by ~1e-7 depending on the batch; the outcome must not.
TIE = 1e-4


def _lower(score: float, than: float) -> bool:
    return score < than - TIE


class DeleakStage(Stage):
    version = "4"  # 2: masks-only redaction becomes no context; 3: rows without images pass through; 4: near-ties are ties
    row_model = QARow
    output_model = DeleakOutput
    templates = (TEMPLATE,)

    def __init__(
        self,
        task: str,
        config: DeleakConfig | None = None,
        *,
        scorer: LeakageScorer | None = None,
        prompts_dir: Path | None = None,
    ) -> None:
        self.task = task
        self.config = config or DeleakConfig()
        self.scorer = scorer or LeakageScorer(self.config.overlap_weight, self.config.embedding_weight)
        self.prompts_dir = prompts_dir
        # per-task names so markers and rejects of different tasks never collide
        self.name = f"deleak.{task}"
        self.output_table = f"deleaked/{task}"
        self.input_tables = ("figures", f"qa/{task}")

    def settings_fingerprint(self) -> dict[str, Any]:
        # which model scores leakage: scores of another model are not comparable, so its shards rerun
        return {"task": self.task, "scorer": self.scorer.scorer_id, **self.config.model_dump()}

    def row_key(self, row: QARow) -> str:
        return row.qa_id

    def plan(self, inputs: ShardInputs) -> Iterable[WorkItem | Reject]:
        wanted = {f.figure_id for f in inputs.figures}  # honours a build's figure selection
        rows = [r for r in inputs.table(f"qa/{self.task}", QARow) if r.figure_id in wanted]
        scores = self.scorer.score_many([(r.context, r.answer) for r in rows])
        tpl = self.template(TEMPLATE)
        sampling = self.config.sampling()
        for row, leak in zip(rows, scores, strict=True):
            request = None
            if row.image_paths and row.context.strip() and leak.score >= self.config.threshold:
                request = tpl.request(
                    row.qa_id, sampling=sampling, context=row.context, question=row.question, answer=row.answer
                )
            yield WorkItem(row.qa_id, request, context=(row, leak.score))

    def _rewrite(self, result: ChatResult | None) -> str:
        """The model's rewrite, normalised; "" when there is none or it is too short to use."""
        rewrite = getattr(result.parsed, "context", None) if result is not None and result.ok else None
        rewrite = strip_placeholders(" ".join((rewrite or "").split()))
        return rewrite if rewrite and len(rewrite.split()) >= self.config.min_rewrite_words else ""

    def prepare(self, items: list[WorkItem], results: dict[str, ChatResult]) -> None:
        """Score every rewrite of the shard in one embedding batch, then every redaction still
        needed in a second one (one MiniLM call per row was ~8x slower). `finish` takes the scores
        from here; called without `prepare` it scores its row alone, with the same outcome."""
        rewrites: list[tuple[WorkItem, str]] = []
        for item in items:
            if item.request is not None:
                rewrites.append((item, self._rewrite(results.get(item.key))))
        todo = [(item, text) for item, text in rewrites if text]
        scores = self.scorer.score_many([(text, item.context[0].answer) for item, text in todo])
        rewrite_score = {item.key: leak.score for (item, _), leak in zip(todo, scores, strict=True)}
        redactions: list[tuple[WorkItem, str]] = []
        for item, _ in rewrites:
            row, before = item.context
            if not _lower(rewrite_score.get(item.key, before), before):
                redactions.append((item, redact(row.context, row.answer, self.config.redact_drop_share)))
        scored = [(item, text) for item, text in redactions if text]
        scores = self.scorer.score_many([(text, item.context[0].answer) for item, text in scored])
        redact_score = {item.key: leak.score for (item, _), leak in zip(scored, scores, strict=True)}
        for item, _ in rewrites:  # (rewrite score or None, redaction score)
            item.prepared = (rewrite_score.get(item.key), redact_score.get(item.key, 0.0))

    def finish(self, item: WorkItem, result: ChatResult | None) -> list[QARow] | Reject:
        row, before = item.context
        if item.request is None:
            text_only = not row.image_paths and row.context.strip() and before >= self.config.threshold
            marker = rule_provenance(TEXT_ONLY, self.version) if text_only else None
            return [self._final(row, row.context, before, before, marker)]
        known = item.prepared
        candidates: list[tuple[float, str, Provenance | None]] = [(before, row.context, None)]
        rewrite = self._rewrite(result)
        if rewrite:
            score = known[0] if known and known[0] is not None else self.scorer.score(rewrite, row.answer).score
            candidates.append((score, rewrite, provenance(result, Method.TEXT_MODEL)))
        if not any(_lower(c[0], before) for c in candidates):  # no usable rewrite, or it still leaks as much
            redacted = redact(row.context, row.answer, self.config.redact_drop_share)
            if known is not None:
                score = known[1] if redacted else 0.0
            else:
                score = self.scorer.score(redacted, row.answer).score if redacted else 0.0
            candidates.append((score, redacted, rule_provenance(REDACT_TEMPLATE, self.version)))
        # lowest leakage wins; on a tie (within TIE) the earlier candidate (original, then rewrite) is kept
        after, context, source = candidates[0]
        for candidate in candidates[1:]:
            if _lower(candidate[0], after):
                after, context, source = candidate
        if unreadable(context):  # masks, not text: show no context (a text-only row is then gated out)
            context, after = "", 0.0
        return [self._final(row, context, before, after, source)]

    @staticmethod
    def _final(row: QARow, context: str, before: float, after: float, provenance: Provenance | None) -> QARow:
        return rerender(
            row,
            context=context,
            context_original=row.context,
            leakage_before=round(before, 6),
            leakage_after=round(after, 6),
            deleak_provenance=provenance,
        )


def build_deleak_stages(tasks: list[str], config: DeleakConfig | None = None, prompts_dir: Path | None = None,
                        embed_role=None) -> list[DeleakStage]:
    """One de-leak stage per task; they share one scorer (and so one loaded embedding model, or one
    endpoint client with its in-flight bound). `embed_role`: EngineSettings.embed (None: local MiniLM)."""
    config = config or DeleakConfig()
    scorer = make_scorer(config.overlap_weight, config.embedding_weight, embed_role)
    return [DeleakStage(t, config, scorer=scorer, prompts_dir=prompts_dir) for t in tasks]

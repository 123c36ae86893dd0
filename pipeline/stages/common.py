"""The toolkit every model step uses (stages 1-3, the QA generators, de-leakage): sampling options,
text budgets, and the one way to turn a figure problem or a failed result into a Reject and a
result or a rule into Provenance."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, Field

from pipeline.engine.types import ChatResult, ErrorKind, Sampling
from pipeline.stages.base import WorkItem
from schemas import BlankedField, Figure, Method, Provenance, Reject, RejectReason

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class ModelOptions(BaseModel):
    """Sampling options every model step shares; part of each step's config hash. A build's
    --max-tokens, --temperature and --seed override them in every step (BuildConfig.model_options)."""

    max_tokens: int = Field(384, ge=16, description="max new tokens per answer")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    seed: int | None = 0

    def sampling(self, max_tokens_cap: int | None = None) -> Sampling:
        """`max_tokens_cap`: a ceiling for steps whose answers are known to be short (a phrase)."""
        tokens = min(self.max_tokens, max_tokens_cap) if max_tokens_cap else self.max_tokens
        return Sampling(temperature=self.temperature, max_tokens=tokens, seed=self.seed)


def clip(text: str | None, limit: int) -> str:
    """Whitespace-normalised text of at most `limit` characters: cut at the last sentence end that
    keeps half the budget, else at a word boundary, and marked ' ...'. One rule for prompts, for the
    context shown to the trainee and for model answers, so no text is ever cut inside a word."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    head = text[: max(0, limit - 4)]  # room for " ..."
    sentences = _SENTENCE_END.split(head)
    if len(sentences) > 1:
        kept = " ".join(sentences[:-1])
        if len(kept) >= limit // 2:
            return kept + " ..."
    whole_word = text[len(head)] == " "  # head ends exactly at a word boundary
    cut = head if whole_word or " " not in head else head.rsplit(" ", 1)[0]
    return cut + " ..."


def budget(texts: Sequence[str], total: int, each: int) -> list[str]:
    """Clip each text to `each` characters and keep texts in order until `total` is spent.
    The first text is always kept (clipped to the total) so a figure's main citation survives."""
    out: list[str] = []
    left = total
    for text in texts:
        if left <= 40:
            break
        clipped = clip(text, min(each, left))
        if clipped:
            out.append(clipped)
            left -= len(clipped)
    return out


def figure_reject(stage: str, figure: Figure, item: str, reason: RejectReason, detail: str, raw: str | None = None) -> Reject:
    return Reject(
        item=item,
        stage=stage,
        reason=reason,
        detail=detail,
        article_id=figure.article_id,
        figure_id=figure.figure_id,
        raw=raw,
    )


def failure_reason(result: ChatResult) -> RejectReason:
    """The reject reason of a failed result: an image the request names that cannot be read keeps
    its own reason (ErrorKind values equal RejectReason's); an answer that never validated is
    MODEL_UNPARSEABLE; any other failure is MODEL_ERROR."""
    if result.error_kind in (ErrorKind.IMAGE_MISSING, ErrorKind.IMAGE_CORRUPT):
        return RejectReason(result.error_kind.value)
    if result.error_kind is ErrorKind.UNPARSEABLE or (result.ok and result.parsed is None):
        return RejectReason.MODEL_UNPARSEABLE
    return RejectReason.MODEL_ERROR


def result_reject(stage: str, item: WorkItem, figure: Figure, result: ChatResult | None) -> Reject | None:
    """A Reject when the model gave no valid answer (raw text kept), else None.

    No result at all breaks the engine's contract (one result per request, never an exception),
    so it is STAGE_ERROR, like any other unexpected state; a call that failed is a model reason."""
    if result is None:
        return figure_reject(stage, figure, item.key, RejectReason.STAGE_ERROR,
                             f"{item.key}: the engine returned no result for this request")
    if result.ok and result.parsed is not None:
        return None
    reason = failure_reason(result)
    what = "answer never validated" if reason is RejectReason.MODEL_UNPARSEABLE else "model call failed"
    return figure_reject(stage, figure, item.key, reason, f"{item.key}: {what}: {result.error or 'no parsed output'}",
                         result.text)


def provenance(result: ChatResult, method: Method) -> Provenance:
    """The engine's provenance with the method this step actually used stated explicitly."""
    return result.provenance.model_copy(update={"method": method})


def rule_provenance(rule: str, version: str, method: Method = Method.RULE, attempts: int = 0) -> Provenance:
    """Provenance of a value our own code produced: the rule's name (e.g. "bbox_qa.rule") and the
    code version of the step that holds it; `attempts` counts model calls tried before falling back."""
    return Provenance(method=method, backend="none", template_name=rule, template_version=version, attempts=attempts)


def scrub_echoes(stage: str, figure: Figure, item: str, parsed: BaseModel, required: str | None = None,
                 prompts_dir=None) -> tuple[dict, list[BlankedField]] | Reject:
    """The model's fields with prompt/schema echoes removed ("2-3 sentences of knowledge needed to
    read", "empty list if none", "{"), plus one PROMPT_ECHO BlankedField per blanked field so the loss
    is counted (the row itself is kept, so these are not Rejects of the item). A text field that
    echoes becomes "", list items that echo are dropped. When `required` (the field the row exists
    for) echoes, the whole answer is rejected instead."""
    from pipeline.echo import EchoBank  # late: keeps stage imports light

    bank = EchoBank.from_prompts(prompts_dir)
    data, notes = parsed.model_dump(), []
    for name, value in data.items():
        if isinstance(value, str):
            echo = bank.echoes(value)
            if echo:
                data[name] = ""
                notes.append((name, echo))
        elif isinstance(value, list):
            kept = [v for v in value if not any(bank.echoes(s) for s in _strings(v))]
            for v in value:
                if v not in kept:
                    notes.append((name, next(e for s in _strings(v) if (e := bank.echoes(s)))))
            data[name] = kept
    for name, echo in notes:
        if name == required:
            return figure_reject(stage, figure, item, RejectReason.PROMPT_ECHO,
                                 f"{item}: {name} echoes {echo}; nothing of the answer is usable", raw=str(parsed))
    blanked = [BlankedField(item=f"{item}#{name}", stage=stage, reason=RejectReason.PROMPT_ECHO,
                            detail=f"{item}: {name} blanked, it echoes {echo}", article_id=figure.article_id,
                            figure_id=figure.figure_id) for name, echo in notes]
    return data, blanked


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []

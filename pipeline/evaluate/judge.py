"""Optional LLM judge: asks a model (through the engine) to grade each open answer on a 1-5 scale.

Works with any object that has a sync `run(requests) -> list[ChatResult]` (preferred) or an async
`stream(requests)` yielding ChatResults, i.e. pipeline.engine's ModelEngine or anything shaped
like it. Failed or unparseable verdicts score None and are left out of the mean."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pipeline.engine.types import ChatRequest, ChatResult, Sampling
from pipeline.prompts import load_template
from schemas.evaluation import JudgeVerdict

JUDGE_TEMPLATE = "judge_answer"


def _collect(engine, requests: list[ChatRequest]) -> list[ChatResult]:
    if hasattr(engine, "run"):
        return list(engine.run(requests))

    async def gather() -> list[ChatResult]:
        return [r async for r in engine.stream(requests)]

    return asyncio.run(gather())


def judge_requests(items: Sequence[tuple[str, str, str, str]], max_tokens: int = 128) -> list[ChatRequest]:
    """One request per (key, question, reference, prediction)."""
    tpl = load_template(JUDGE_TEMPLATE)
    sampling = Sampling(temperature=0.0, max_tokens=max_tokens)
    return [
        tpl.request(key, question=q, reference=ref, prediction=pred or "(no answer)", sampling=sampling)
        for key, q, ref, pred in items
    ]


def judge_scores(engine, items: Sequence[tuple[str, str, str, str]], max_tokens: int = 128) -> dict[str, float | None]:
    """Score per key, mapped from 1-5 to 0-1; None where the judge gave no valid verdict."""
    requests = judge_requests(items, max_tokens)
    scores: dict[str, float | None] = {key: None for key, *_ in items}
    for result in _collect(engine, requests):
        verdict = result.parsed if result.ok else None
        if isinstance(verdict, JudgeVerdict):
            scores[result.key] = (verdict.score - 1) / 4
    return scores

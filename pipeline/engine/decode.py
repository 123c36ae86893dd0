"""Batched decoding for the embedded model, in place of transformers' generate():

- the prompt prefix every row of a batch shares (chat template, system prompt, instructions) is
  run through the model once and its KV cache copied to every row;
- finished rows leave the batch (their KV cache rows are dropped), so a batch no longer pays for
  its rows that stopped early until its longest answer ends;
- structured rows decode under an xgrammar matcher each (one bitmask for the batch);
- only the last position's logits are computed.

On a CPU the first two are most of what batching can gain: prompt tokens cost the same per token
at any batch size (the matmuls are already compute-bound), while a decode step at batch 1 is bound
by reading every weight once (bench/engine.py prints both curves).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

_MIN_SHARED = 4  # shorter common prefixes are not worth a separate forward
_DROP_AT = 0.25  # drop finished rows once they are this share of the batch (dropping copies the cache)


@dataclass
class DecodeSpec:
    max_new: int
    stop_ids: Sequence[int]
    pad_id: int
    temperature: float = 0.0
    top_p: float = 1.0
    grammar: Any = None  # an xgrammar CompiledGrammar, or None for free text


def shared_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Tokens every row starts with, leaving each row at least one token of its own (the last
    prompt token's logits pick the first answer token)."""
    if len(rows) < 2:
        return 0
    limit = min(len(r) for r in rows) - 1
    first = rows[0]
    n = 0
    while n < limit and all(r[n] == first[n] for r in rows):
        n += 1
    return n if n >= _MIN_SHARED else 0


def _left_padded(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r):] = 1
    return ids, mask


def _pick(logits: torch.Tensor, spec: DecodeSpec) -> torch.Tensor:
    if spec.temperature <= 0:
        return logits.argmax(-1)
    scores = logits / spec.temperature
    if spec.top_p < 1.0:  # keep the smallest set of tokens whose probability reaches top_p
        ordered, order = scores.sort(-1, descending=True)
        cum = ordered.softmax(-1).cumsum(-1)
        drop = cum - ordered.softmax(-1) >= spec.top_p
        scores = scores.scatter(-1, order, ordered.masked_fill(drop, float("-inf")))
    return torch.multinomial(scores.softmax(-1), 1).squeeze(-1)


def _cache_kwarg(model: Any) -> str:
    """transformers 5.24 renamed forward's `past_key_values` to `cache` (the old name warns)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def decode(model: Any, prompts: Sequence[Sequence[int]], spec: DecodeSpec,
           should_stop: Callable[[], bool] = lambda: False) -> list[list[int]]:
    """The answer tokens of every prompt (stop token excluded), in prompt order. Raises
    InterruptedError when should_stop() turns true between two steps."""
    import xgrammar as xgr
    from transformers import DynamicCache

    n = len(prompts)
    stops = set(spec.stop_ids)
    matchers = [xgr.GrammarMatcher(spec.grammar) for _ in range(n)] if spec.grammar is not None else None
    bitmask = xgr.allocate_token_bitmask(n, spec.grammar.tokenizer_info.vocab_size) if matchers else None

    cache = DynamicCache()
    kv = {_cache_kwarg(model): cache, "use_cache": True, "logits_to_keep": 1}
    share = shared_prefix(prompts)
    if share:
        head = torch.tensor([list(prompts[0][:share])], dtype=torch.long)
        model(input_ids=head, **kv)
        cache.batch_repeat_interleave(n)
    ids, tail_mask = _left_padded([p[share:] for p in prompts], spec.pad_id)
    mask = torch.cat([torch.ones((n, share), dtype=torch.long), tail_mask], dim=1)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions[:, share:], **kv)
    logits = out.logits[:, -1, :].float()
    last_pos = positions[:, -1]

    answers: list[list[int]] = [[] for _ in range(n)]
    live = list(range(n))  # prompt index of each batch row
    done = [False] * n
    for step in range(spec.max_new):
        if should_stop():
            raise InterruptedError("decoding stopped on request")
        if matchers is not None:
            for row, i in enumerate(live):
                if not done[i]:
                    matchers[i].fill_next_token_bitmask(bitmask, row)
            xgr.apply_token_bitmask_inplace(logits, bitmask[: len(live)].to(logits.device))
        chosen = _pick(logits, spec).tolist()
        for row, i in enumerate(live):
            if done[i]:
                continue
            token = chosen[row]
            if token in stops:
                done[i] = True
                continue
            answers[i].append(token)
            if matchers is not None:
                matchers[i].accept_token(token)
            if len(answers[i]) >= spec.max_new:
                done[i] = True
        finished = sum(done[i] for i in live)
        if finished == len(live) or step == spec.max_new - 1:
            break
        if finished and finished >= _DROP_AT * len(live):
            keep = [row for row, i in enumerate(live) if not done[i]]
            index = torch.tensor(keep, dtype=torch.long)
            cache.batch_select_indices(index)
            mask, last_pos = mask[index], last_pos[index]
            chosen = [chosen[row] for row in keep]
            live = [live[row] for row in keep]
        feed = torch.tensor([[spec.pad_id if done[i] else t] for i, t in zip(live, chosen)], dtype=torch.long)
        mask = torch.cat([mask, torch.ones((len(live), 1), dtype=torch.long)], dim=1)
        last_pos = last_pos + 1
        out = model(input_ids=feed, attention_mask=mask, position_ids=last_pos[:, None], **kv)
        logits = out.logits[:, -1, :].float()
    return answers

"""Backend running a small local model in-process: requests grouped by sampling and output schema,
batched longest prompt first under a token budget, and decoded (pipeline.engine.decode: shared
prompt prefix run once, finished rows leave the batch) under an xgrammar JSON-schema grammar so
structured answers always parse. Decoding runs in a worker thread."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from pipeline.engine.backend import Job, Outcome
from pipeline.engine.embedded_model import LoadedModel, load_model
from pipeline.engine.schema_tools import bounded_schema, parse_output
from pipeline.engine.settings import DEFAULT_EMBEDDED_MODEL, ModelRole
from pipeline.engine.shutdown import ShuttingDown, stop_requested
from pipeline.engine.stats import StatsCounter
from pipeline.engine.types import ChatRequest, ErrorKind

_MAX_ITEMS = 3
_MAX_NEW_TOKENS = 512  # the 135M model rambles; longer answers are slower and no better


def _string_slots(node: Any, root: dict[str, Any], items: int = _MAX_ITEMS, mult: int = 1) -> int:
    """How many strings a bounded answer can hold (arrays count maxItems times; $refs followed)."""
    if not isinstance(node, dict):
        return 0
    if "$ref" in node:
        return _string_slots(root.get("$defs", {}).get(node["$ref"].split("/")[-1], {}), root, items, mult)
    if node.get("type") == "string":
        return mult
    if node.get("type") == "array":
        return _string_slots(node.get("items", {}), root, items, mult * node.get("maxItems", items))
    options = node.get("anyOf", [])
    return sum(_string_slots(v, root, items, mult) for v in node.get("properties", {}).values()) + max(
        [_string_slots(o, root, items, mult) for o in options] or [0])


def _string_cap(schema_text: str) -> int | None:
    """The longest string the bounded schema allows (every free string gets the same bound)."""
    caps = [int(n) for n in re.findall(r'"maxLength": (\d+)', schema_text)]
    return max(caps) if caps else None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def finish_reason(text: str, n_out: int, max_new: int, schema_text: str) -> str:
    """"length" when the answer was cut short: no stop token within max_new, or a string that reached
    the grammar's length bound (the grammar then closes the JSON mid-word, e.g. "The edge-d")."""
    if n_out >= max_new:
        return "length"
    cap = _string_cap(schema_text)
    if cap is not None:
        try:
            if any(len(s) >= cap for s in _strings(json.loads(text))):
                return "length"
        except ValueError:
            pass
    return "stop"


def default_threads() -> int:
    """Half the cores this process may use (the physical cores of an SMT machine), at least one.
    The build runs other stages beside the model, and a torch thread that finds its core taken
    stalls every step: on 2 cores under a load of 3.5, a decode step at batch 32 took 243 ms with
    one thread, 335 ms with two (OMP_WAIT_POLICY=PASSIVE) and 2166 ms with two spinning (the
    default policy); on 2 idle cores two threads were 1.2x faster than one. Set
    PMC_INSTRUCT_TEXT__THREADS to choose."""
    return max(1, len(os.sched_getaffinity(0)) // 2)


class EmbeddedBackend:
    name = "embedded"
    vision = False
    image_variant = ""

    def __init__(self, role: ModelRole) -> None:
        from pipeline.engine.embedded_model import MODELS

        self.role = role
        self.key = role.model or DEFAULT_EMBEDDED_MODEL
        if self.key not in MODELS:
            raise ValueError(f"unknown embedded model {self.key!r}; choose one of {sorted(MODELS)}")
        self.model_id = MODELS[self.key][0]
        self._grammars: dict[str, Any] = {}
        self._compiler: Any = None
        self._glock = threading.Lock()
        self._threads = role.threads or default_threads()

    # -- grammar -----------------------------------------------------------------------------
    def _schema_text(self, req: ChatRequest, max_new: int) -> str:
        """The bounded schema the grammar enforces, sized so a complete answer fits in max_new tokens.
        Each string costs ~3 tokens of syntax (quotes, comma) plus ~1 token per 3 characters, each
        property ~5 tokens of key; arrays get fewer items when the budget is small."""
        if req.output_model is None:
            return ""
        n_props = max(1, len(json.dumps(req.output_model.model_json_schema()).split('"type"')) - 1)
        chosen = None
        for items in range(_MAX_ITEMS, 0, -1):
            schema = bounded_schema(req.output_model, max_string=10_000, max_items=items)
            slots = max(1, _string_slots(schema, schema, items))
            room = max_new - 8 - 5 * n_props - 3 * slots
            per_string = room * 3 // slots
            chosen = (items, max(4, per_string))
            if per_string >= 12:
                break
        items, per_string = chosen
        return json.dumps(bounded_schema(req.output_model, max_string=per_string, max_items=items))

    def _grammar(self, lm: LoadedModel, schema_text: str):
        import xgrammar as xgr

        with self._glock:
            if self._compiler is None:
                info = xgr.TokenizerInfo.from_huggingface(lm.tokenizer, vocab_size=lm.model.config.vocab_size,
                                                          stop_token_ids=lm.stop_ids)
                self._compiler = xgr.GrammarCompiler(info)
            if schema_text not in self._grammars:
                self._grammars[schema_text] = self._compiler.compile_json_schema(schema_text, any_whitespace=False)
            return self._grammars[schema_text]

    # -- batching ------------------------------------------------------------------------------
    def _plan(self, lm: LoadedModel, jobs: list[Job]) -> list[tuple[list[Job], list[list[int]], str, int]]:
        """Batches of jobs sharing schema and sampling, longest prompt first, each under the token
        budget: a batch's rows all wait for its longest prompt, so similar lengths go together."""
        groups: dict[tuple, list[tuple[list[int], Job]]] = {}
        for job in jobs:
            req = job.req
            s = req.sampling
            max_new = max(1, min(s.max_tokens, self.role.max_tokens_cap, _MAX_NEW_TOKENS))
            chat = [{"role": m.role, "content": m.text} for m in req.messages]
            prompt = lm.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
            ids = lm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            key = (self._schema_text(req, max_new), s.temperature, s.top_p, s.seed, max_new)
            groups.setdefault(key, []).append((ids, job))
        plans = []
        for (schema_text, _t, _p, _s, max_new), items in groups.items():
            items.sort(key=lambda it: -len(it[0]))
            batch: list[tuple[list[int], Job]] = []
            for item in items:
                longest = len(batch[0][0]) if batch else len(item[0])
                if batch and ((len(batch) + 1) * (longest + max_new) > self.role.token_budget
                              or len(batch) >= self.role.max_batch):
                    plans.append(([b[1] for b in batch], [b[0] for b in batch], schema_text, max_new))
                    batch = []
                batch.append(item)
            if batch:
                plans.append(([b[1] for b in batch], [b[0] for b in batch], schema_text, max_new))
        return plans

    def _generate(self, lm: LoadedModel, jobs: list[Job], prompts: list[list[int]], schema_text: str,
                  max_new: int) -> list[Outcome]:
        import torch

        from pipeline.engine.decode import DecodeSpec, decode  # imports torch: only once a model runs

        s = jobs[0].req.sampling
        start = time.perf_counter()
        spec = DecodeSpec(max_new=max_new, stop_ids=lm.stop_ids, pad_id=lm.tokenizer.pad_token_id,
                          temperature=s.temperature, top_p=s.top_p,
                          grammar=self._grammar(lm, schema_text) if schema_text else None)
        with lm.lock, torch.inference_mode():
            torch.set_num_threads(self._threads)
            if s.seed is not None:
                torch.manual_seed(s.seed)
            try:
                answers = decode(lm.model, prompts, spec, should_stop=stop_requested)
            except InterruptedError:  # cut short: these answers are incomplete, keep none
                raise ShuttingDown(f"embedded generation of {len(jobs)} answer(s) abandoned: "
                                   "the process is stopping") from None
        elapsed = time.perf_counter() - start
        outcomes = []
        for job, prompt, tokens in zip(jobs, prompts, answers):
            text = lm.tokenizer.decode(tokens, skip_special_tokens=True)
            n_out = len(tokens)
            o = Outcome(job=job, text=text, tokens_in=len(prompt), tokens_out=n_out, latency_s=elapsed, attempts=1,
                        finish_reason=finish_reason(text, n_out, max_new, schema_text))
            if job.req.output_model is not None:
                o.parsed, why = parse_output(text, job.req.output_model)
                if o.parsed is None:
                    o.error = (f"{job.req.key}: embedded answer did not validate against "
                               f"{job.req.output_model.__name__}: {why}")
                    o.error_kind = ErrorKind.UNPARSEABLE
            outcomes.append(o)
        return outcomes

    # -- the backend protocol ------------------------------------------------------------------
    async def run(self, jobs: list[Job], stats: StatsCounter) -> AsyncIterator[Outcome]:
        try:
            lm = await asyncio.to_thread(load_model, self.key)
            plans = await asyncio.to_thread(self._plan, lm, jobs)
        except Exception as exc:  # the model cannot load: every job becomes an error result
            for job in jobs:
                yield Outcome(job=job, error=f"{job.req.key}: embedded model {self.key} unavailable: {exc}",
                              error_kind=ErrorKind.MODEL_ERROR)
            return
        for batch, prompts, schema_text, max_new in plans:
            try:
                outcomes = await asyncio.to_thread(self._generate, lm, batch, prompts, schema_text, max_new)
            except ShuttingDown:
                raise
            except Exception as exc:
                outcomes = [Outcome(job=j, error=f"{j.req.key}: embedded generation failed: {exc!r}",
                                    error_kind=ErrorKind.MODEL_ERROR, attempts=1) for j in batch]
            stats.add(batches=1, model_calls=len(batch))
            for outcome in outcomes:
                yield outcome

    async def aclose(self) -> None:
        return None

"""Backend for any OpenAI-compatible server (`vllm serve`, OpenAI, others): bounded concurrency over
several base URLs, tenacity retries honouring Retry-After, json_schema structured output with a
prompt + parse + one-repair fallback for servers that reject response_format."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import openai
from pydantic import BaseModel, SecretStr
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from pipeline.engine.backend import Job, Outcome
from pipeline.engine.endpoints import Endpoint, EndpointPool
from pipeline.engine.images import ImageError, image_data_url
from pipeline.engine.redact import redact
from pipeline.engine.schema_tools import parse_output, response_format_json, schema_instructions
from pipeline.engine.settings import ModelRole
from pipeline.engine.slots import SlotPool
from pipeline.engine.stats import StatsCounter
from pipeline.engine.types import ChatRequest, ErrorKind

log = logging.getLogger(__name__)

_FATAL = (openai.BadRequestError, openai.AuthenticationError, openai.PermissionDeniedError,
          openai.NotFoundError, openai.UnprocessableEntityError)
_FORMAT_WORDS = ("response_format", "json_schema", "guided", "structured output", "response format")


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, Exception) and not isinstance(exc, _FATAL)


def _endpoint_fault(exc: BaseException) -> bool:
    """Faults that say the server itself is unwell (failover + cooldown), not this request."""
    if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError)):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def retry_after_s(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (Retry-After / retry-after-ms on 429 and 503)."""
    response = getattr(exc, "response", None)
    if response is None or getattr(response, "status_code", None) not in (429, 503):
        return None
    headers = response.headers
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class OpenAIBackend:
    name = "openai"

    def __init__(self, role: ModelRole, api_key: SecretStr | None, vision: bool) -> None:
        self.role = role
        self.model_id = role.model or "default"
        self.vision = vision
        self.image_variant = f"png-max{role.max_image_side}"
        self.pool = EndpointPool(role.base_urls, api_key, role.timeout_s, role.endpoint_cooldown_s,
                                 max_connections=role.concurrency, transport=role.http_transport)
        # `concurrency` bounds this backend's calls in flight over every caller at once (shards run
        # concurrently, each in its own event loop); a slot also covers encoding the call's images,
        # so only in-flight requests hold encoded images.
        self.slots = SlotPool(role.concurrency)
        self._backoff = wait_exponential_jitter(initial=role.backoff_initial_s, max=role.backoff_max_s,
                                                jitter=role.backoff_initial_s)

    # -- waiting between attempts ---------------------------------------------------------------
    def _wait(self, state) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after_s(exc)
        if asked is not None:  # honour the server, with a little spread so clients do not stampede
            return min(asked, 600.0) * (1.0 + 0.1 * random.random())
        return self._backoff(state)

    # -- request building -----------------------------------------------------------------------
    async def _messages(self, req: ChatRequest) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for msg in req.messages:
            if not msg.images:
                out.append({"role": msg.role, "content": msg.text})
                continue
            urls = await asyncio.gather(
                *(asyncio.to_thread(image_data_url, p, self.role.max_image_side) for p in msg.images)
            )
            parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": u}} for u in urls]
            parts.append({"type": "text", "text": msg.text})
            out.append({"role": msg.role, "content": parts})
        return out

    @staticmethod
    def _with_instructions(messages: list[dict[str, Any]], model: type[BaseModel]) -> list[dict[str, Any]]:
        note = schema_instructions(model)
        if messages and messages[0]["role"] == "system" and isinstance(messages[0]["content"], str):
            return [{"role": "system", "content": messages[0]["content"] + "\n\n" + note}, *messages[1:]]
        return [{"role": "system", "content": note}, *messages]

    @staticmethod
    def _encode(body: dict[str, Any], response_format: str | None = None) -> bytes:
        """The request body as JSON; a pre-serialised response_format is spliced in as the last key."""
        text = json.dumps(body, separators=(",", ":"))
        if response_format is not None:
            text = f'{text[:-1]},"response_format":{response_format}}}'
        return text.encode()

    async def _post(self, ep: Endpoint, content: bytes, req: ChatRequest) -> tuple[str, int, int, str | None]:
        """POST /chat/completions with a pre-serialised body, reading the reply raw (the SDK's typed
        `chat.completions.create` runs a recursive TypedDict transform over the params and a pydantic
        parse of the reply, for fields we already build and read ourselves). Raises the SDK's error
        types on HTTP and transport errors, ValueError on a reply that is not a completion (retried)."""
        # X-PMC-Template lets a fake server pick a canned answer per template; real servers ignore it.
        raw = await self.pool.client(ep).post(
            "/chat/completions", content, {"X-PMC-Template": f"{req.template.name}/{req.template.version}"})
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
            usage = data.get("usage") or {}
            finish = choice.get("finish_reason")  # "length": max_tokens cut the answer short
            return (text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0),
                    str(finish) if finish else None)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ValueError(f"reply is not a chat completion: {raw[:200].decode(errors='replace')!r}") from exc

    async def _create(self, ep: Endpoint, messages: list[dict[str, Any]], req: ChatRequest) -> tuple[str, int, int, str | None]:
        s = req.sampling
        body: dict[str, Any] = {
            "model": self.model_id,
            "messages": messages,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": min(s.max_tokens, self.role.max_tokens_cap),
        }
        if s.seed is not None:
            body["seed"] = s.seed
        model = req.output_model
        if model is not None and ep.json_schema_ok:
            try:
                return await self._post(ep, self._encode(body, response_format_json(model)), req)
            except openai.BadRequestError as exc:
                if not any(w in str(exc).lower() for w in _FORMAT_WORDS):
                    raise
                ep.json_schema_ok = False  # remembered for this endpoint: prompt + parse from now on
                log.info("endpoint %s rejects response_format; falling back to prompt + parse", ep.base_url)
        if model is not None:
            body["messages"] = self._with_instructions(messages, model)
        return await self._post(ep, self._encode(body), req)

    async def _call(self, messages: list[dict[str, Any]], req: ChatRequest,
                    stats: StatsCounter) -> tuple[str, int, int, int, str | None]:
        """One logical call with retries/failover: (text, tokens_in, tokens_out, attempts, finish_reason)."""
        attempts = 0
        avoid: Endpoint | None = None
        retrying = AsyncRetrying(stop=stop_after_attempt(self.role.max_attempts), wait=self._wait,
                                 retry=retry_if_exception(_retryable), reraise=True)
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    ep = self.pool.pick(avoid=avoid)
                    ep.in_flight += 1
                    try:
                        resp = await self._create(ep, messages, req)
                    except Exception as exc:
                        if _endpoint_fault(exc):
                            self.pool.mark_failed(ep)
                        avoid = ep if len(self.pool.endpoints) > 1 else None
                        exc.pmc_attempts = attempts  # type: ignore[attr-defined]
                        exc.pmc_endpoint = ep.base_url  # type: ignore[attr-defined]
                        raise
                    finally:
                        ep.in_flight -= 1
                    self.pool.mark_ok(ep)
                    text, tokens_in, tokens_out, finish = resp
                    return text, tokens_in, tokens_out, attempts, finish
        finally:
            stats.add(model_calls=attempts, retries=max(0, attempts - 1))
        raise AssertionError("unreachable: tenacity either returns or reraises")

    async def _one(self, job: Job, stats: StatsCounter) -> Outcome:
        req = job.req
        start = time.perf_counter()
        out = Outcome(job=job)
        try:
            messages = await self._messages(req)
        except ImageError as exc:
            out.error, out.error_kind = f"{req.key}: {exc}", ErrorKind(exc.kind)
            return out
        try:
            text, t_in, t_out, n, finish = await self._call(messages, req, stats)
            out.attempts, out.tokens_in, out.tokens_out, out.text, out.finish_reason = n, t_in, t_out, text, finish
            if req.output_model is not None:
                out.parsed, why = parse_output(text, req.output_model)
                if out.parsed is None:  # one repair call showing the model its answer and the error
                    stats.add(repairs=1)
                    repair = [*messages, {"role": "assistant", "content": text},
                              {"role": "user", "content": f"That answer is invalid ({why}). Reply again with "
                               "only the corrected JSON object."}]
                    text2, t_in2, t_out2, n2, out.finish_reason = await self._call(repair, req, stats)
                    out.attempts += n2
                    out.tokens_in += t_in2
                    out.tokens_out += t_out2
                    out.text = text2
                    out.parsed, why2 = parse_output(text2, req.output_model)
                    if out.parsed is None:
                        out.error = f"{req.key}: answer did not validate against {req.output_model.__name__} " \
                                    f"after one repair: {why2}"
                        out.error_kind = ErrorKind.UNPARSEABLE
        except Exception as exc:  # retries exhausted or a fatal status: an error result, never a raise
            n = getattr(exc, "pmc_attempts", 1)
            out.attempts += n
            where = getattr(exc, "pmc_endpoint", "?")
            out.error = redact(f"{req.key}: {type(exc).__name__} after {out.attempts} attempt(s) "
                               f"(last endpoint {where}): {exc}")
            out.error_kind = ErrorKind.MODEL_ERROR
        finally:
            out.latency_s = time.perf_counter() - start
        return out

    async def run(self, jobs: list[Job], stats: StatsCounter) -> AsyncIterator[Outcome]:
        """At most `concurrency` calls in flight, over this and every concurrent run; outcomes in
        completion order."""
        pending = deque(jobs)
        done: asyncio.Queue[Outcome] = asyncio.Queue()

        async def worker() -> None:
            while pending:
                job = pending.popleft()
                try:
                    async with self.slots:
                        outcome = await self._one(job, stats)
                except Exception as exc:  # defensive: a bug here still yields an error result
                    outcome = Outcome(job=job, error=redact(f"{job.req.key}: internal error {exc!r}"),
                                      error_kind=ErrorKind.MODEL_ERROR)
                done.put_nowait(outcome)

        async with self.pool.session():
            workers = [asyncio.create_task(worker()) for _ in range(min(self.role.concurrency, len(jobs)))]
            try:
                for _ in range(len(jobs)):
                    yield await done.get()
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)  # none may still use a client

    async def aclose(self) -> None:
        await self.pool.aclose()

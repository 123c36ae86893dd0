"""The engine stages use: routes each request to the backend of its role, answers from the cache,
calls each distinct request once per submission, and wraps every answer in a ChatResult with
provenance. Never raises per item."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import AsyncIterator, Iterable

from pipeline.engine.backend import Backend, Job, Outcome
from pipeline.engine.cache import CachedResponse, ResponseCache
from pipeline.engine.hashing import request_hash
from pipeline.engine.images import ImageError
from pipeline.engine.redact import redact
from pipeline.engine.schema_tools import parse_output
from pipeline.engine.shutdown import ShuttingDown, stop_requested
from pipeline.engine.stats import EngineStats, StatsCounter
from pipeline.engine.types import ChatRequest, ChatResult, ErrorKind
from schemas.provenance import Method, Provenance

log = logging.getLogger(__name__)

_STOP = object()  # queued when the process is stopping: the stream abandons its work
_STOP_POLL_S = 0.25


class ModelEngine:
    def __init__(
        self,
        backends: dict[str, Backend | None],
        cache: ResponseCache | None = None,
        no_cache: bool = False,
        missing_reason: dict[str, str] | None = None,
    ) -> None:
        self.backends = backends
        self.cache = None if no_cache else cache
        self._missing = missing_reason or {}
        self._counter = StatsCounter()

    @property
    def stats(self) -> EngineStats:
        return self._counter.snapshot()

    # -- results -------------------------------------------------------------------------------
    def _result(self, req: ChatRequest, backend: Backend | None, rhash: str | None, out: Outcome | None,
                *, error: str | None = None, kind: ErrorKind | None = None, cache_hit: bool = False,
                cached: CachedResponse | None = None, parsed=None) -> ChatResult:
        has_images = any(m.images for m in req.messages)
        vision = bool(backend is not None and backend.vision and has_images)
        text = None
        counts: dict = {}
        if cached is not None:
            counts = dict(latency_s=cached.latency_s, tokens_in=cached.tokens_in, tokens_out=cached.tokens_out,
                          finish_reason=cached.finish_reason)
            text = cached.text
        elif out is not None:
            counts = dict(latency_s=out.latency_s, tokens_in=out.tokens_in, tokens_out=out.tokens_out,
                          attempts=out.attempts, finish_reason=out.finish_reason)
            text, parsed, error, kind = out.text, out.parsed, out.error, out.error_kind
        prov = Provenance(  # built in one go: assigning fields one by one costs a validation each
            method=Method.VISION_MODEL if vision else Method.TEXT_MODEL,
            model_id=backend.model_id if backend else None,
            backend=backend.name if backend else "none",
            template_name=req.template.name,
            template_version=req.template.version,
            request_hash=rhash,
            cache_hit=cache_hit,
            **counts,
        )
        if error is not None:
            self._counter.add(errors=1)
            error = redact(error)
        return ChatResult(key=req.key, text=text, parsed=parsed, error=error, error_kind=kind, provenance=prov)

    def _backend_for(self, req: ChatRequest) -> tuple[Backend | None, str | None]:
        backend = self.backends.get(req.role)
        if backend is None:
            return None, self._missing.get(req.role, f"no backend configured for role {req.role!r}")
        if any(m.images for m in req.messages) and not backend.vision:
            return None, (
                f"request {req.key} carries images but the {req.role} backend ({backend.name}:"
                f"{backend.model_id}) cannot see images; configure a vision endpoint"
            )
        return backend, None

    def _from_cache(self, req: ChatRequest, backend: Backend, rhash: str, hit: CachedResponse) -> ChatResult | None:
        parsed = None
        if req.output_model is not None:
            parsed, why = parse_output(hit.text, req.output_model)
            if parsed is None:  # the output model changed shape under the same schema text: call again
                log.warning("cache entry %s no longer validates (%s); calling the model", rhash[:12], why)
                return None
        self._counter.add(cache_hits=1)
        return self._result(req, backend, rhash, None, cache_hit=True, cached=hit, parsed=parsed)

    # -- the Engine protocol -------------------------------------------------------------------
    async def stream(self, requests: Iterable[ChatRequest]) -> AsyncIterator[ChatResult]:
        """Yield one result per request, in completion order. Raises ShuttingDown (and abandons the
        calls in flight) once the process is stopping; see pipeline.engine.shutdown."""
        if stop_requested():
            raise ShuttingDown("the process is stopping; no new model work is started")
        routed: list[tuple[ChatRequest, Backend, str]] = []
        refused: list[ChatResult] = []
        n_requests = 0
        for req in requests:
            n_requests += 1
            backend, missing = self._backend_for(req)
            if backend is None:
                refused.append(self._result(req, None, None, None, error=missing, kind=ErrorKind.MODEL_ERROR))
                continue
            try:
                rhash = request_hash(req, backend.model_id, backend.image_variant)
            except ImageError as exc:
                refused.append(self._result(req, backend, None, None, error=f"{req.key}: {exc}",
                                            kind=ErrorKind(exc.kind)))
                continue
            routed.append((req, backend, rhash))
        self._counter.add(requests=n_requests)
        for result in refused:
            yield result
        # One lookup for the whole submission rather than a query per request.
        cached = self.cache.get_many([h for _, _, h in routed]) if self.cache is not None and routed else {}

        groups: dict[int, tuple[Backend, list[Job]]] = {}
        followers: dict[str, list[ChatRequest]] = {}
        for req, backend, rhash in routed:
            hit = cached.get(rhash)
            if hit is not None and (result := self._from_cache(req, backend, rhash, hit)) is not None:
                yield result
                continue
            if rhash in followers:  # same call already queued in this submission: pay once
                followers[rhash].append(req)
                self._counter.add(deduplicated=1)
                continue
            followers[rhash] = []
            groups.setdefault(id(backend), (backend, []))[1].append(Job(req, rhash))

        if not groups:
            return
        queue: asyncio.Queue[Outcome] = asyncio.Queue()
        remaining = sum(len(jobs) for _, jobs in groups.values())

        async def drain(backend: Backend, jobs: list[Job]) -> None:
            sent: set[str] = set()
            try:
                async for outcome in backend.run(jobs, self._counter):
                    sent.add(outcome.job.request_hash)
                    queue.put_nowait(outcome)
            except ShuttingDown:
                queue.put_nowait(_STOP)  # type: ignore[arg-type]
            except Exception as exc:  # a backend bug must not lose items: each unanswered job gets an error
                log.error("backend %s failed: %s", backend.name, redact(exc))
                for job in jobs:
                    if job.request_hash not in sent:
                        queue.put_nowait(Outcome(job=job, error=f"{job.req.key}: backend failure: {exc!r}",
                                                 error_kind=ErrorKind.MODEL_ERROR))

        by_hash = {job.request_hash: backend for backend, jobs in groups.values() for job in jobs}

        async def watch_stop() -> None:
            while not stop_requested():
                await asyncio.sleep(_STOP_POLL_S)
            queue.put_nowait(_STOP)  # type: ignore[arg-type]

        tasks = [asyncio.create_task(drain(b, jobs)) for b, jobs in groups.values()]
        tasks.append(asyncio.create_task(watch_stop()))
        answered: set[str] = set()
        try:
            while remaining > 0:
                item = await queue.get()
                if item is _STOP:
                    log.warning("process is stopping: %d model request(s) abandoned", remaining)
                    raise ShuttingDown(f"the process is stopping; {remaining} model request(s) abandoned")
                if item.job.request_hash in answered:  # a backend answered twice: keep the first
                    continue
                answered.add(item.job.request_hash)
                remaining -= 1
                for res in self._fan_out(by_hash[item.job.request_hash], item.job, item, followers):
                    yield res
        finally:
            for task in tasks:
                task.cancel()
            if self.cache is not None:  # the answers of this stream reach the cache file now
                self.cache.flush()

    def _fan_out(self, backend: Backend, job: Job, out: Outcome,
                 followers: dict[str, list[ChatRequest]]) -> list[ChatResult]:
        if out.error is None:
            self._counter.add(tokens_in=out.tokens_in, tokens_out=out.tokens_out)
            if self.cache is not None and out.text is not None:
                self.cache.put(CachedResponse(request_hash=job.request_hash, model_id=backend.model_id,
                                              text=out.text, tokens_in=out.tokens_in,
                                              tokens_out=out.tokens_out, latency_s=out.latency_s,
                                              finish_reason=out.finish_reason))
        results = [self._result(job.req, backend, job.request_hash, out)]
        for twin in followers.get(job.request_hash, []):
            twin_out = Outcome(job=Job(twin, job.request_hash), text=out.text, parsed=out.parsed, error=out.error,
                               error_kind=out.error_kind, tokens_in=out.tokens_in, tokens_out=out.tokens_out,
                               latency_s=out.latency_s, attempts=0, finish_reason=out.finish_reason)
            results.append(self._result(twin, backend, job.request_hash, twin_out))
        return results

    def run(self, requests: Iterable[ChatRequest]) -> list[ChatResult]:
        """Blocking helper: all results, in request order (works inside or outside a running loop)."""
        reqs = list(requests)

        async def collect() -> list[ChatResult]:
            return [r async for r in self.stream(reqs)]

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            results = asyncio.run(collect())
        else:  # called from async code: run on a private loop in a thread
            box: list = []

            def in_thread() -> None:
                try:
                    box.append(asyncio.run(collect()))
                except BaseException as exc:  # e.g. ShuttingDown: raised again in the caller's thread
                    box.append(exc)

            # the caller's context goes along (e.g. the per-shard counter of stats.counting_into)
            worker = threading.Thread(target=contextvars.copy_context().run, args=(in_thread,))
            worker.start()
            worker.join()
            if isinstance(box[0], BaseException):
                raise box[0]
            results = box[0]
        by_key: dict[str, list[ChatResult]] = {}
        for res in results:
            by_key.setdefault(res.key, []).append(res)
        ordered = []
        for req in reqs:
            ordered.append(by_key[req.key].pop(0))
        return ordered

    async def aclose(self) -> None:
        seen = set()
        for backend in self.backends.values():
            if backend is not None and id(backend) not in seen:
                seen.add(id(backend))
                await backend.aclose()
        if self.cache is not None:
            self.cache.close()

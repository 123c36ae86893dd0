"""A fake OpenAI-compatible chat server for tests and benches (a process boundary fake).

Start it in a background thread (`FakeOpenAIServer(...).start()`, or as a context manager) or in a
subprocess (`spawn(...)` / `python -m fakes.openai_server`), on 127.0.0.1 with a random port. It serves
POST /v1/chat/completions, POST /v1/embeddings (hashed word features: fakes.hashed_embeddings) and
GET /v1/models, records every call, and can inject latency, a capacity of
C concurrent requests, 429/503 with Retry-After, 500, timeouts, malformed bodies, truncated bodies,
non-JSON and schema-invalid answers, either scripted (`script([...])`, in order) or by rate with a
seeded RNG. Answers come from a pluggable responder; the default one produces a valid instance of the
requested json_schema (or of the schema quoted in the prompt when response_format is refused), or a
canned answer registered for the request's template name (sent by the engine as X-PMC-Template).
"echo_auth" answers 401 quoting the API key it received (for secret-leak tests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from fakes.hashed_embeddings import embedding_reply

FAULTS = ("429", "503", "500", "timeout", "malformed", "truncated", "bad_json", "schema_invalid", "echo_auth")


@dataclass
class CallRecord:
    index: int
    at: float  # time.monotonic() when the request arrived
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    fault: str | None
    template: str | None


Responder = Callable[[dict[str, Any], CallRecord], str]


# -- a minimal JSON-schema instance generator (enough for pydantic-made schemas) ------------------
def instance_for(schema: dict[str, Any], root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        return instance_for(root.get("$defs", {}).get(name, {}), root, depth + 1)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return instance_for(options[0], root, depth + 1)
    if "allOf" in schema:
        return instance_for(schema["allOf"][0], root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: instance_for(v, root, depth + 1) for k, v in props.items()}
    if kind == "array":
        count = max(1, schema.get("minItems", 1)) if depth < 6 else schema.get("minItems", 0)
        return [instance_for(schema.get("items", {"type": "string"}), root, depth + 1) for _ in range(count)]
    if kind == "string":
        return "x" * max(4, schema.get("minLength", 0))
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 0.5))
    if kind == "boolean":
        return True
    return None


def _schema_from_prompt(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, str) and "JSON schema:\n" in content:
            try:
                return json.loads(content.split("JSON schema:\n", 1)[1].strip())
            except ValueError:
                return None
    return None


_WORD = re.compile(r"[A-Za-z][a-z]{3,}")
_COMMON = frozenset("this that with from into were have been which their there these those figure panel "
                    "image caption summary answer question context json schema reply only object".split())


def varied_responder(body: dict[str, Any], record: CallRecord) -> str:
    """A valid instance of the requested schema whose text comes from the request itself: each
    figure gets its own question, answer and description (so near-duplicate gates keep them),
    questions are real questions and answers are short sentences. For benches that need every
    task to produce rows; deterministic per request."""
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
    schema = schema or _schema_from_prompt(body.get("messages", []))
    text = " ".join(m["content"] if isinstance(m.get("content"), str) else
                    " ".join(p.get("text", "") for p in m.get("content") or [] if isinstance(p, dict))
                    for m in body.get("messages", [])[1:])
    words = [w.lower() for w in _WORD.findall(text) if w.lower() not in _COMMON] or ["signal", "sample", "region"]
    rng = random.Random(json.dumps(body.get("messages", []), sort_keys=True))

    def pick(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    def value(name: str, sub: dict[str, Any], depth: int = 0) -> Any:
        while "$ref" in sub:  # pydantic puts nested models under $defs
            sub = (schema or {}).get("$defs", {}).get(sub["$ref"].split("/")[-1], {})
        kind = sub.get("type", "object" if "properties" in sub else "string")
        if kind == "object" and depth < 6:
            return {k: value(k, v, depth + 1) for k, v in sub.get("properties", {}).items()}
        if kind == "array" and depth < 6:
            return [value(name, sub.get("items", {"type": "string"}), depth + 1) for _ in range(2)]
        if kind != "string" or "enum" in sub or "const" in sub or "anyOf" in sub:
            return instance_for(sub, schema)
        if name == "question":
            return f"What does the {pick(2)} show about {pick(3)}?"
        if name == "answer":
            return f"It shows {pick(3)} in the {pick(2)}."
        if name in ("description", "term", "name"):
            return f"{pick(2)} of {pick(2)}"
        return f"The {pick(3)} was compared with {pick(4)} across {pick(2)} samples."

    if schema is None:
        return f"The {pick(6)}."
    return json.dumps(value("", schema))


RESPONDERS = {"default": None, "varied": varied_responder}


class FakeOpenAIServer:
    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        capacity: int | None = None,
        fault_rates: dict[str, float] | None = None,
        seed: int = 0,
        no_response_format: bool = False,
        retry_after: str | None = "1",
        timeout_sleep_s: float = 30.0,
        models: tuple[str, ...] = ("fake-model",),
        responder: Responder | None = None,
        record_bodies: bool = True,
        fault_for: Callable[[dict[str, Any], str | None], str | None] | None = None,
    ) -> None:
        self.latency_s = latency_s
        self.capacity = capacity
        self.fault_rates = dict(fault_rates or {})
        self.rng = random.Random(seed)
        self.no_response_format = no_response_format
        self.retry_after = retry_after
        self.timeout_sleep_s = timeout_sleep_s
        self.models = models
        self.responder = responder or self.default_responder
        self.record_bodies = record_bodies
        # per-request fault choice (body, template name) -> fault or None; consulted before script/rates
        self.fault_for = fault_for
        self.canned: dict[str, str] = {}
        self.calls: list[CallRecord] = []
        self.in_flight = 0
        self.max_in_flight = 0
        # capacity use, for benches: seconds requests spent holding a slot, and the span they cover
        self.busy_s = 0.0
        self.first_start: float | None = None
        self.last_end = 0.0
        self._script: list[str | None] = []
        self._lock = threading.Lock()
        self._sem: asyncio.Semaphore | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self.app = self._build_app()

    # -- control --------------------------------------------------------------------------------
    def script(self, faults: list[str | None]) -> None:
        """Faults for the next calls, in order (None = answer normally); then the rates apply."""
        with self._lock:
            self._script.extend(faults)

    def register(self, template_name: str, answer: str | dict[str, Any]) -> None:
        self.canned[template_name] = answer if isinstance(answer, str) else json.dumps(answer)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._script.clear()
            self.max_in_flight = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def chat_calls(self) -> list[CallRecord]:
        return [c for c in self.calls if c.path.endswith("/chat/completions")]

    def embedding_calls(self) -> list[CallRecord]:
        return [c for c in self.calls if c.path.endswith("/embeddings")]

    # -- answers ---------------------------------------------------------------------------------
    def default_responder(self, body: dict[str, Any], record: CallRecord) -> str:
        if record.template and record.template.split("/")[0] in self.canned:
            return self.canned[record.template.split("/")[0]]
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
        schema = schema or _schema_from_prompt(body.get("messages", []))
        if schema is not None:
            return json.dumps(instance_for(schema))
        last = body.get("messages", [{}])[-1].get("content")
        text = last if isinstance(last, str) else json.dumps(last)[:200]
        return f"echo: {text[:200]}"

    def _pick_fault(self) -> str | None:
        with self._lock:
            if self._script:
                return self._script.pop(0)
            roll = self.rng.random()
        acc = 0.0
        for name, rate in self.fault_rates.items():
            acc += rate
            if roll < acc:
                return name
        return None

    @staticmethod
    def _completion(body: dict[str, Any], content: str, finish: str = "stop") -> dict[str, Any]:
        prompt_chars = len(json.dumps(body.get("messages", [])))
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_chars // 4, "completion_tokens": max(1, len(content) // 4),
                      "total_tokens": prompt_chars // 4 + max(1, len(content) // 4)},
        }

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/models")
        async def models(request: Request) -> dict[str, Any]:
            with self._lock:
                self.calls.append(CallRecord(len(self.calls), time.monotonic(), request.url.path, {},
                                             dict(request.headers), None, None))
            return {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models]}

        @app.get("/_admin/stats")
        async def stats() -> dict[str, Any]:
            return {"calls": len(self.chat_calls()), "embedding_calls": len(self.embedding_calls()),
                    "max_in_flight": self.max_in_flight,
                    "busy_s": self.busy_s, "first_start": self.first_start or 0.0, "last_end": self.last_end}

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Response:
            return await self._admitted(request, await request.json(), self._answer)

        @app.post("/v1/embeddings")
        async def embeddings(request: Request) -> Response:
            # latency, capacity and faults as for chat calls (one slot per request, whatever its inputs)
            return await self._admitted(request, await request.json(), self._embedding_answer)

        return app

    async def _admitted(self, request: Request, body: dict[str, Any], answer) -> Response:
        template = request.headers.get("x-pmc-template")
        fault = (self.fault_for(body, template) if self.fault_for else None) or self._pick_fault()
        with self._lock:
            record = CallRecord(len(self.calls), time.monotonic(), request.url.path,
                                body if self.record_bodies else {}, dict(request.headers), fault,
                                request.headers.get("x-pmc-template"))
            self.calls.append(record)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self._sem is None and self.capacity:
                self._sem = asyncio.Semaphore(self.capacity)
            if self._sem is not None:
                async with self._sem:
                    return await self._timed_answer(body, record, fault, answer)
            return await self._timed_answer(body, record, fault, answer)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _timed_answer(self, body: dict[str, Any], record: CallRecord, fault: str | None, answer) -> Response:
        start = time.time()
        try:
            return await answer(body, record, fault)
        finally:
            end = time.time()
            with self._lock:
                self.busy_s += end - start
                self.first_start = start if self.first_start is None else min(self.first_start, start)
                self.last_end = max(self.last_end, end)

    async def _answer(self, body: dict[str, Any], record: CallRecord, fault: str | None) -> Response:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.no_response_format and body.get("response_format"):
            return JSONResponse({"error": {"message": "response_format is not supported by this server",
                                           "type": "invalid_request_error", "code": None}}, status_code=400)
        retry = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
        if fault in ("429", "503"):
            return JSONResponse({"error": {"message": "slow down", "type": "rate_limit"}},
                                status_code=int(fault), headers=retry)
        if fault == "echo_auth":  # like a real 401: the server quotes the key it was given
            token = (record.headers.get("authorization") or "").split(" ")[-1]
            return JSONResponse({"error": {"message": f"Incorrect API key provided: {token}", "type": "auth"}},
                                status_code=401)
        if fault == "500":
            return JSONResponse({"error": {"message": "internal error", "type": "server_error"}}, status_code=500)
        if fault == "timeout":
            await asyncio.sleep(self.timeout_sleep_s)
        if fault == "malformed":
            return Response('{"id": "chatcmpl-fake", "choices": [{"message": ', media_type="application/json")
        if fault == "truncated":
            full = json.dumps(self._completion(body, "{}")).encode()
            return Response(full[: len(full) // 2], media_type="application/json",
                            headers={"content-length": str(len(full))})
        if fault == "bad_json":
            return JSONResponse(self._completion(body, "Sure! Here is the answer you wanted: {oops"))
        if fault == "schema_invalid":
            return JSONResponse(self._completion(body, json.dumps({"unexpected": 1, "summary": 5})))
        if fault == "length":  # the normal answer, reported as cut short by max_tokens
            return JSONResponse(self._completion(body, self.responder(body, record), finish="length"))
        return JSONResponse(self._completion(body, self.responder(body, record)))

    async def _embedding_answer(self, body: dict[str, Any], record: CallRecord, fault: str | None) -> Response:
        """Transport faults as for chat (429/503/500/timeout/echo_auth/malformed/truncated); a model it
        does not list answers 404, as vLLM does."""
        if fault in ("429", "503", "500", "timeout", "echo_auth", "malformed", "truncated"):
            return await self._answer(body, record, fault)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if body.get("model") not in self.models:
            return JSONResponse({"error": {"message": f"The model `{body.get('model')}` does not exist.",
                                           "type": "NotFoundError", "code": 404}}, status_code=404)
        return JSONResponse(embedding_reply(body))

    # -- lifecycle (thread) -------------------------------------------------------------------
    def start(self) -> FakeOpenAIServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="critical", access_log=False, lifespan="off",
                                timeout_keep_alive=30, backlog=4096)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def dead_base_url() -> str:
    """A base URL nothing listens on (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/v1"


# -- subprocess mode (keeps the server's CPU out of a client benchmark) ---------------------------
def spawn(latency_s: float = 0.0, capacity: int | None = None, seed: int = 0,
          answers: str = "default", models: tuple[str, ...] = ("fake-model",)) -> tuple[subprocess.Popen, str]:
    """`answers`: "default" (schema instances, canned per template) or "varied" (varied_responder);
    `models`: the ids GET /v1/models lists (a build's preflight checks its models are served)."""
    args = [sys.executable, "-m", "fakes.openai_server", "--latency", str(latency_s), "--seed", str(seed),
            "--answers", answers, "--models", ",".join(models)]
    if capacity:
        args += ["--capacity", str(capacity)]
    from pathlib import Path

    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=str(Path(__file__).resolve().parents[1]))
    line = proc.stdout.readline().strip() if proc.stdout else ""
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"fake server failed to start: {line!r}")
    return proc, line.split()[1]


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--capacity", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--answers", choices=sorted(RESPONDERS), default="default")
    parser.add_argument("--models", default="fake-model", help="comma-separated model ids to list")
    args = parser.parse_args()
    server = FakeOpenAIServer(latency_s=args.latency, capacity=args.capacity, seed=args.seed,
                              models=tuple(m for m in args.models.split(",") if m),
                              record_bodies=False, responder=RESPONDERS[args.answers]).start()
    print(f"READY {server.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    _main()

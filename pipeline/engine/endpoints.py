"""Several base URLs behind one role: pick the healthy one with the fewest calls in flight, and keep a
failed one out of rotation for a cooldown (doubling while it keeps failing)."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field

import httpx
import openai
from pydantic import SecretStr

from pipeline.engine.redact import register_secret


_CONNECTIONS_PER_CLIENT = 8


@dataclass
class Endpoint:
    base_url: str
    in_flight: int = 0
    failures: int = 0
    down_until: float = 0.0
    json_schema_ok: bool = True  # False once the server rejected response_format (remembered)
    clients: dict[int, list[openai.AsyncOpenAI]] = field(default_factory=dict)  # per event loop
    turn: int = 0


class EndpointPool:
    def __init__(self, base_urls: list[str], api_key: SecretStr | None, timeout_s: float, cooldown_s: float,
                 max_connections: int) -> None:
        if not base_urls:
            raise ValueError("an openai backend needs at least one base URL")
        self.endpoints = [Endpoint(url.rstrip("/")) for url in base_urls]
        # Servers such as `vllm serve` accept any key; the client library insists on a non-empty one.
        self._key = api_key.get_secret_value() if api_key else "EMPTY"
        register_secret(api_key.get_secret_value() if api_key else None)
        self._timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))
        self._cooldown = cooldown_s
        # httpcore's pool scans all its connections for every queued request (quadratic at high
        # concurrency), so connections are spread over several small clients.
        self._shards = max(1, -(-max_connections // _CONNECTIONS_PER_CLIENT))
        per = -(-max_connections // self._shards)
        self._limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
        self._rr = 0
        self._ssl = ssl.create_default_context()  # built once: loading CA certs costs ~30 ms a client

    def client(self, ep: Endpoint) -> openai.AsyncOpenAI:
        """Clients per endpoint per event loop (httpx connections belong to the loop that made them)."""
        loop_id = id(asyncio.get_running_loop())
        shards = ep.clients.get(loop_id)
        if shards is None:
            shards = [
                openai.AsyncOpenAI(
                    base_url=ep.base_url,
                    api_key=self._key,
                    max_retries=0,  # tenacity is the single retry layer
                    timeout=self._timeout,
                    http_client=httpx.AsyncClient(timeout=self._timeout, limits=self._limits, verify=self._ssl),
                )
                for _ in range(self._shards)
            ]
            ep.clients = {loop_id: shards}  # clients of finished loops are dropped
        ep.turn += 1
        return shards[ep.turn % len(shards)]

    def pick(self, avoid: Endpoint | None = None) -> Endpoint:
        now = time.monotonic()
        healthy = [ep for ep in self.endpoints if ep.down_until <= now and ep is not avoid]
        if not healthy:  # all cooling down: try the one that comes back first (never block forever)
            healthy = [min((ep for ep in self.endpoints if ep is not avoid or len(self.endpoints) == 1),
                           key=lambda ep: ep.down_until)]
        self._rr += 1
        # Fewest in flight; round-robin offset breaks ties so equal endpoints share the load.
        n = len(healthy)
        return min((healthy[(self._rr + i) % n] for i in range(n)), key=lambda ep: ep.in_flight)

    def mark_failed(self, ep: Endpoint) -> None:
        ep.failures += 1
        ep.down_until = time.monotonic() + min(self._cooldown * 2 ** (ep.failures - 1), 300.0)

    def mark_ok(self, ep: Endpoint) -> None:
        ep.failures = 0
        ep.down_until = 0.0

    async def aclose(self) -> None:
        loop_id = id(asyncio.get_running_loop())
        for ep in self.endpoints:
            for client in ep.clients.pop(loop_id, []):
                await client.close()

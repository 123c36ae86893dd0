"""Several base URLs behind one role: pick the healthy one with the fewest calls in flight, and keep a
failed one out of rotation for a cooldown (doubling while it keeps failing).

Each endpoint gets one HTTP client (a pipeline.engine.posters.Poster) per event loop: connections
belong to the loop that opened them. By default it is an aiohttp session; `http_transport="httpx"`
goes through `openai.AsyncOpenAI` on the SDK's httpx2 client instead (bench/engine.py prints the
client CPU ratio of the two)."""

from __future__ import annotations

import asyncio
import ssl
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator

from pydantic import SecretStr

from pipeline.engine.posters import AiohttpPoster, Poster, SdkPoster
from pipeline.engine.redact import register_secret
from pipeline.engine.settings import HttpTransport


@dataclass
class Endpoint:
    base_url: str
    in_flight: int = 0
    failures: int = 0
    down_until: float = 0.0
    json_schema_ok: bool = True  # False once the server rejected response_format (remembered)


@dataclass
class _LoopClients:
    loop: asyncio.AbstractEventLoop  # held so its id cannot be reused by a new loop while we map it
    clients: dict[str, Poster] = field(default_factory=dict)
    users: int = 0


class EndpointPool:
    def __init__(self, base_urls: list[str], api_key: SecretStr | None, timeout_s: float, cooldown_s: float,
                 max_connections: int, transport: HttpTransport = "aiohttp") -> None:
        if not base_urls:
            raise ValueError("an openai backend needs at least one base URL")
        self.endpoints = [Endpoint(url.rstrip("/")) for url in base_urls]
        # Servers such as `vllm serve` accept any key; the client library insists on a non-empty one.
        self._key = api_key.get_secret_value() if api_key else "EMPTY"
        register_secret(api_key.get_secret_value() if api_key else None)
        self._timeout_s = timeout_s
        self._max_connections = max_connections
        self._cooldown = cooldown_s
        self._transport = transport
        self._rr = 0
        self._ssl = ssl.create_default_context()  # built once: loading CA certs costs ~30 ms a client
        self._loops: dict[int, _LoopClients] = {}

    # -- clients ----------------------------------------------------------------------------------
    def _make_client(self, base_url: str) -> Poster:
        poster = AiohttpPoster if self._transport == "aiohttp" else SdkPoster
        return poster(base_url, self._key, self._timeout_s, self._max_connections, self._ssl)

    def _entry(self) -> _LoopClients:
        loop = asyncio.get_running_loop()
        entry = self._loops.get(id(loop))
        if entry is None or entry.loop is not loop:
            entry = self._loops[id(loop)] = _LoopClients(loop)
        return entry

    def client(self, ep: Endpoint) -> Poster:
        clients = self._entry().clients
        found = clients.get(ep.base_url)
        if found is None:
            found = clients[ep.base_url] = self._make_client(ep.base_url)
        return found

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Keeps this loop's clients open while any caller in the loop is inside; the last one out
        closes them (an aiohttp session must be closed in the loop that opened it)."""
        entry = self._entry()
        entry.users += 1
        try:
            yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                await self._close(entry)

    async def _close(self, entry: _LoopClients) -> None:
        if self._loops.get(id(entry.loop)) is entry:
            del self._loops[id(entry.loop)]
        clients, entry.clients = list(entry.clients.values()), {}
        for client in clients:
            await client.close()

    async def aclose(self) -> None:
        entry = self._loops.get(id(asyncio.get_running_loop()))
        if entry is not None:
            await self._close(entry)

    # -- routing ----------------------------------------------------------------------------------
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

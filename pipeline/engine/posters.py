"""POST a pre-serialised chat-completion body to one base URL and return the raw reply body, raising
the `openai` SDK's exception types (status errors with the response and its headers, connection and
timeout errors), so retry, failover and Retry-After handling read the same whichever client sent it.

- `AiohttpPoster` (transport "aiohttp", the default) sends through one aiohttp session. The SDK's
  own request path (options model, URL merge, header merge, an httpx2 request and response wrapped
  around the aiohttp ones) cost more client CPU per call than the whole rest of the engine:
  bench/engine.py prints the ratio.
- `SdkPoster` (transport "httpx") goes through `openai.AsyncOpenAI` on the SDK's httpx2 client, for
  setups that only work there (e.g. proxies from the environment).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from typing import Protocol

import aiohttp
import httpx2
import openai

# The SDK's telemetry headers (client platform, retry count, read timeout). Inference servers ignore
# them; leaving them out trims each request's header building. openai.Omit() is the SDK's way to drop one.
_PLATFORM_HEADERS = ("X-Stainless-Lang", "X-Stainless-Package-Version", "X-Stainless-OS", "X-Stainless-Arch",
                     "X-Stainless-Runtime", "X-Stainless-Runtime-Version", "X-Stainless-Async")
_PER_CALL_OMITTED = {"x-stainless-retry-count": openai.Omit(), "x-stainless-read-timeout": openai.Omit()}

_STATUS_ERRORS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError, 401: openai.AuthenticationError, 403: openai.PermissionDeniedError,
    404: openai.NotFoundError, 409: openai.ConflictError, 422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}
_BODY_FRAMING = ("content-encoding", "content-length", "transfer-encoding")


class Poster(Protocol):
    async def post(self, path: str, content: bytes, headers: dict[str, str]) -> bytes: ...

    async def close(self) -> None: ...


def status_error(request: httpx2.Request, status: int, headers, body: bytes) -> openai.APIStatusError:
    """The SDK's exception for an HTTP error status. As the SDK does, its message adds the server's
    error message when the body is JSON (a server refusing response_format says so there); a plain
    text body is added as it is."""
    kept = [(k, v) for k, v in headers.items() if k.lower() not in _BODY_FRAMING]  # body is decoded already
    response = httpx2.Response(status, headers=kept, content=body, request=request)
    text = response.text.strip()
    message, data = f"Error code: {status}", text or None
    try:
        data = json.loads(text)
    except ValueError:
        message += f" - {text[:500]}" if text else ""
    else:
        if isinstance(data, dict):
            data = data.get("error", data)
        detail = data.get("message") if isinstance(data, dict) else None
        if isinstance(detail, str) and detail:
            message += f" - {detail}"
    cls = _STATUS_ERRORS.get(status) or (openai.InternalServerError if status >= 500 else openai.APIStatusError)
    return cls(message, response=response, body=data)


def _identity_headers(api_key: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
               "Accept": "application/json", "User-Agent": f"pmc-instruct aiohttp/{aiohttp.__version__}"}
    # The SDK sends these when its environment variables are set; so do we.
    for env, name in (("OPENAI_ORG_ID", "OpenAI-Organization"), ("OPENAI_PROJECT_ID", "OpenAI-Project")):
        if os.environ.get(env):
            headers[name] = os.environ[env]
    return headers


class AiohttpPoster:
    def __init__(self, base_url: str, api_key: str, timeout_s: float, max_connections: int,
                 ssl_context: ssl.SSLContext) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = _identity_headers(api_key)
        # As the SDK's aiohttp transport maps httpx2.Timeout(timeout_s, connect=...): per socket read,
        # per connect, and for a free pooled connection; no bound on the whole call.
        self._timeout = aiohttp.ClientTimeout(sock_connect=min(10.0, timeout_s), sock_read=timeout_s,
                                              connect=timeout_s)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, ssl=ssl_context), timeout=self._timeout)

    async def post(self, path: str, content: bytes, headers: dict[str, str]) -> bytes:
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            async with self._session.post(url, data=content, headers={**self._headers, **headers},
                                          allow_redirects=False) as resp:
                body = await resp.read()
                status, reply_headers = resp.status, resp.headers
        except asyncio.TimeoutError as exc:  # aiohttp's socket timeouts are TimeoutErrors too
            raise openai.APITimeoutError(request=httpx2.Request("POST", url)) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise openai.APIConnectionError(message=f"Connection error: {exc!r}",
                                            request=httpx2.Request("POST", url)) from exc
        if status >= 400:
            raise status_error(httpx2.Request("POST", url), status, reply_headers, body)
        return body

    async def close(self) -> None:
        await self._session.close()


class SdkPoster:
    def __init__(self, base_url: str, api_key: str, timeout_s: float, max_connections: int,
                 ssl_context: ssl.SSLContext) -> None:
        timeout = httpx2.Timeout(timeout_s, connect=min(10.0, timeout_s))
        limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key,
            max_retries=0,  # tenacity is the single retry layer
            timeout=timeout,
            default_headers={name: openai.Omit() for name in _PLATFORM_HEADERS},
            http_client=openai.DefaultAsyncHttpxClient(timeout=timeout, limits=limits, verify=ssl_context),
        )

    async def post(self, path: str, content: bytes, headers: dict[str, str]) -> bytes:
        # The SDK's generic post with a raw body: its auth, timeouts and status errors, no typed parse.
        response = await self._client.post(path, cast_to=httpx2.Response, content=content,
                                           options={"headers": {**headers, **_PER_CALL_OMITTED}})
        return response.content

    async def close(self) -> None:
        await self._client.close()

"""HTTP error statuses become the openai SDK's exception types, so retry, failover and Retry-After
handling read the same whichever client posted the call."""

from __future__ import annotations

import httpx2
import openai

from pipeline.engine.openai_backend import _endpoint_fault, _retryable, retry_after_s
from pipeline.engine.posters import status_error

REQUEST = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def test_statuses_map_to_the_sdk_errors_the_retry_policy_reads():
    busy = status_error(REQUEST, 429, {"Retry-After": "7", "Content-Type": "application/json"},
                        b'{"error": {"message": "slow down", "type": "rate_limit"}}')
    assert isinstance(busy, openai.RateLimitError) and _retryable(busy) and not _endpoint_fault(busy)
    assert 7.0 <= retry_after_s(busy) and str(busy) == "Error code: 429 - slow down"
    assert busy.body == {"message": "slow down", "type": "rate_limit"}

    down = status_error(REQUEST, 503, {"retry-after-ms": "1500"}, b"upstream unavailable")
    assert isinstance(down, openai.InternalServerError) and _endpoint_fault(down)
    assert retry_after_s(down) == 1.5 and "upstream unavailable" in str(down)

    # the words the backend looks for to fall back to prompt + parse reach the message
    refused = status_error(REQUEST, 400, {}, b'{"error": {"message": "response_format is not supported"}}')
    assert isinstance(refused, openai.BadRequestError) and not _retryable(refused)
    assert "response_format" in str(refused).lower()

    gz = status_error(REQUEST, 401, {"Content-Encoding": "gzip", "Content-Length": "99"}, b"bad key")
    assert isinstance(gz, openai.AuthenticationError) and "bad key" in str(gz)  # body already decoded
    other = status_error(REQUEST, 418, {}, b"")
    assert type(other) is openai.APIStatusError and str(other) == "Error code: 418"

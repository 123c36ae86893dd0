"""Keep API keys out of logs and error strings. Secrets are registered when a client is built; a
logging filter rewrites records of the loggers that could carry them, and `redact` cleans any string
we store or show (error details, reprs)."""

from __future__ import annotations

import logging
import re
import threading

_LOCK = threading.Lock()
_SECRETS: set[str] = set()
_MASK = "***REDACTED***"
# Bearer tokens and sk-style keys are masked even when not registered (e.g. a key from another tool).
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
]
_LOGGERS = ("pipeline", "openai", "httpx", "httpx2", "httpcore", "httpcore2", "aiohttp", "tenacity", "flows")


def register_secret(value: str | None) -> None:
    if value and len(value) >= 4:
        with _LOCK:
            _SECRETS.add(value)


def redact(text: object) -> str:
    out = str(text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in out:
            out = out.replace(secret, _MASK)
    for pattern in _PATTERNS:
        out = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + _MASK, out)
    return out


class RedactingFilter(logging.Filter):
    """Renders the message with its args, redacts it, and drops the args so nothing re-renders them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw text
            message = str(record.msg)
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact(exc_text), None
        return True


_FILTER = RedactingFilter()
_INSTALLED = False


def install_log_redaction() -> None:
    """Attach the filter to the loggers that may see keys and to every root handler (idempotent)."""
    global _INSTALLED
    with _LOCK:
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
        for handler in logging.getLogger().handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
        _INSTALLED = True

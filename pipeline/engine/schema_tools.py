"""JSON-schema helpers for structured output: the strict schema sent to servers, a bounded variant for
the small embedded model, the prompt-side instructions for servers without response_format, and
parse + validate of an answer."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError


@lru_cache(maxsize=256)
def _schema_json(model: type[BaseModel]) -> str:
    # Property order is kept (not sorted): a grammar makes the model write fields in schema order, and
    # the model's own order (e.g. summary before key_findings) reads better.
    return json.dumps(model.model_json_schema())


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    return json.loads(_schema_json(model))


def schema_key(model: type[BaseModel] | None) -> str:
    """Stable text of a model's JSON schema (part of the cache key)."""
    return "" if model is None else _schema_json(model)


def _walk(node: Any, fn) -> Any:
    if isinstance(node, dict):
        node = {k: _walk(v, fn) for k, v in node.items()}
        return fn(node)
    if isinstance(node, list):
        return [_walk(v, fn) for v in node]
    return node


@lru_cache(maxsize=256)
def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAI strict form: every object closed and every property required; no defaults.
    Cached per model: callers must treat the returned dict as read-only."""

    def close(node: dict[str, Any]) -> dict[str, Any]:
        node.pop("default", None)
        if node.get("type") == "object" and "properties" in node:
            node["additionalProperties"] = False
            node["required"] = list(node["properties"])
        return node

    return _walk(copy.deepcopy(output_schema(model)), close)


@lru_cache(maxsize=256)
def response_format_json(model: type[BaseModel]) -> str:
    """The serialised `response_format` for a model (json_schema, strict), built once per model: it is
    the largest part of every request body."""
    return json.dumps({"type": "json_schema", "json_schema": {
        "name": model.__name__, "schema": strict_schema(model), "strict": True}}, separators=(",", ":"))


def bounded_schema(model: type[BaseModel], max_string: int, max_items: int) -> dict[str, Any]:
    """Strict schema plus length bounds, so a small model's constrained answer ends inside max_tokens."""

    def bound(node: dict[str, Any]) -> dict[str, Any]:
        if node.get("type") == "string" and "enum" not in node and "const" not in node:
            node["maxLength"] = min(node.get("maxLength", max_string), max_string)
            node.setdefault("minLength", 1)
        if node.get("type") == "array":
            node["maxItems"] = min(node.get("maxItems", max_items), max_items)
        return node

    return _walk(copy.deepcopy(strict_schema(model)), bound)


def schema_instructions(model: type[BaseModel]) -> str:
    """Appended to the prompt when a server cannot enforce the schema itself."""
    return (
        "Answer with one JSON object only (no prose, no code fences) that validates against this "
        f"JSON schema:\n{json.dumps(strict_schema(model), separators=(',', ':'))}"
    )


def _strip_fences(text: str) -> str:
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else body[3:]
        if body.rstrip().endswith("```"):
            body = body.rstrip()[:-3]
    return body.strip()


def parse_output(text: str | None, model: type[BaseModel]) -> tuple[BaseModel | None, str | None]:
    """(instance, None) when the text validates, else (None, a short reason)."""
    if text is None or not text.strip():
        return None, "empty answer"
    body = _strip_fences(text)
    try:
        return model.model_validate_json(body), None
    except ValidationError as exc:
        # A JSON object embedded in prose is accepted when it alone validates.
        start, end = body.find("{"), body.rfind("}")
        if start > 0 or (end != -1 and end < len(body) - 1):
            try:
                return model.model_validate_json(body[start : end + 1]), None
            except ValidationError:
                pass
        errors = exc.errors(include_url=False)[:3]
        return None, "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in errors)

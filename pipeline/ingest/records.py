"""JSON / JSONL record files (M3LLM and LLaVA-Med styles): lenient loading, field aliases, and
format detection by keys."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.ingest.errors import IngestError
from pipeline.ingest.figures import reject
from schemas.reject import Reject, RejectReason

# Keys typical of one format only (shared keys such as image, caption, fig_label decide nothing).
LLAVA_MED_KEYS = {"pair_id", "fig_caption", "in_text_mention", "in_text_mentions"}
M3LLM_KEYS = {"inline_context", "inline_contexts", "context", "label_file", "yolo", "image_path", "img_path"}
CONTAINER_KEYS = ("records", "data", "items", "figures", "annotations")


def load_records(path: Path, rel: str) -> tuple[list[tuple[str, dict]], list[Reject]]:
    """[(item name, record dict)] of a .json (list, or an object holding a list) or .jsonl file."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(RejectReason.ENCODING, f"{rel}: byte {exc.start} is not valid UTF-8 ({exc.reason})") from exc
    rejects: list[Reject] = []
    out: list[tuple[str, dict]] = []
    if path.suffix.lower() == ".jsonl":
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            item = f"{rel}:{n}"
            try:
                rec = json.loads(line)
            except ValueError as exc:
                rejects.append(reject(item, RejectReason.INPUT_INVALID, f"{item}: not valid JSON ({exc})", raw=line))
                continue
            if isinstance(rec, dict):
                out.append((item, rec))
            else:
                rejects.append(reject(item, RejectReason.INPUT_INVALID, f"{item}: record is {type(rec).__name__}, expected an object"))
        return out, rejects
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise IngestError(RejectReason.INPUT_INVALID, f"{rel}: not valid JSON ({exc})") from exc
    if isinstance(doc, dict):
        inner = next((doc[k] for k in CONTAINER_KEYS if isinstance(doc.get(k), list)), None)
        doc = inner if inner is not None else [doc]
    if not isinstance(doc, list):
        raise IngestError(RejectReason.INPUT_INVALID, f"{rel}: expected a list of records")
    for n, rec in enumerate(doc):
        item = f"{rel}[{n}]"
        if isinstance(rec, dict):
            out.append((item, rec))
        else:
            rejects.append(reject(item, RejectReason.INPUT_INVALID, f"{item}: record is {type(rec).__name__}, expected an object"))
    return out, rejects


def detect_format(records: Iterable[dict]) -> str | None:
    """'llava-med' or 'm3llm' from the keys of the first 20 records; None when neither fits.

    The format whose specific keys occur more often wins (ties go to m3llm); records with only
    shared keys (image + caption) are read as m3llm, whose aliases are a superset for those fields.
    """
    keys: set[str] = set()
    for i, rec in enumerate(records):
        keys |= set(rec)
        if i >= 20:
            break
    llava, m3 = len(keys & LLAVA_MED_KEYS), len(keys & M3LLM_KEYS)
    if llava or m3:
        return "llava-med" if llava > m3 else "m3llm"
    if "image" in keys and keys & {"caption", "fig_label", "pmid"}:
        return "m3llm"
    return None


def pick(record: dict, aliases: tuple[str, ...]) -> Any:
    """The first alias present with a non-empty value."""
    for key in aliases:
        value = record.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def as_texts(value: Any) -> list[str]:
    """Mentions/context given as a string, a list of strings, or a list of {"tokens"|"text": ...}."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("tokens") or item.get("text") or item.get("sentence") or ""
            if isinstance(item, list):
                item = " ".join(str(t) for t in item)
        text = " ".join(str(item).split())
        if text and text not in out:
            out.append(text)
    return out

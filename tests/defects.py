"""The defects found by reading a demo build's final rows, as plain checks written apart from the gates
(so a test of the gates' output does not grade the gates with themselves).

`defects(rows)` -> {qa_id: [defect, ...]} for rows that show one of them."""

from __future__ import annotations

import re
from collections import defaultdict

ECHOES = ("2-3 sentences of knowledge", "empty list if none", "image or plot types", "key_findings",
          "background knowledge a reader needs", "main results shown")
SELF_REFERENCE = re.compile(r"answer to the question|image'?s title|figure'?s title", re.I)
BROKEN_STEM = re.compile(r"which image shows (this|the) image shows", re.I)
MASKS = re.compile(r"(\[\.\.\.\][\s\w]{0,4}){3,}")


def defects(rows) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    seen: dict[tuple[str, str], str] = {}
    for row in rows:
        text = f"{row.question}\n{row.answer}\n{row.context}"
        if any(e in text.lower() for e in ECHOES) or row.answer.strip() in ("{", "}", "[]", "]["):
            found[row.qa_id].append("prompt echo")
        if SELF_REFERENCE.search(row.question) or BROKEN_STEM.search(row.question):
            found[row.qa_id].append("generic or broken question")
        if row.provenance.finish_reason == "length":
            found[row.qa_id].append("answer cut at max_tokens")
        if not row.image_paths and not row.context.replace("[...]", "").strip():
            found[row.qa_id].append("text-only row without context")
        if MASKS.search(row.context):
            found[row.qa_id].append("context redacted into masks")
        key = (row.figure_id, " ".join(f"{row.question} {row.answer}".lower().split()))
        if key in seen and seen[key] != row.task:
            found[row.qa_id].append(f"same question and answer as in {seen[key]}")
        seen.setdefault(key, row.task)
    return dict(found)

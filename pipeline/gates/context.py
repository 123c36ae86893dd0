"""Context gate: a row must show enough to be answered.

A row without images is answered from its context alone, so an empty context, or one that
de-leakage redacted into masks ("[...] [...] in [...] [...]"), leaves nothing to answer from.
A row with images may have no context, but a context left mostly masks is noise to a reader and
is dropped too (the de-leak stage now blanks such contexts; older outputs still hold them).
"""

from __future__ import annotations

from typing import ClassVar

from pipeline.deleak.leakage import content_words
from pipeline.deleak.redact import MASK, readable_words, unreadable
from pipeline.gates.base import Flag, RowGate
from schemas import QARow, RejectReason


class ContextGate(RowGate):
    name: ClassVar[str] = "context"

    def __init__(self, min_words: int = 3) -> None:
        self.min_words = min_words

    def check(self, row: QARow) -> Flag | None:
        context = row.context.strip()
        if not row.image_paths and not content_words(context.replace(MASK, " ")):
            was = "after de-leakage" if (row.context_original or "").strip() else "and the task shows no image"
            return Flag(RejectReason.CONTEXT_EMPTY, f"no image and the context is empty {was}: nothing to answer from")
        if context and unreadable(context, self.min_words):
            return Flag(RejectReason.CONTEXT_EMPTY,
                        f"the context is mostly redaction masks ({readable_words(context)} readable word(s)): {context[:60]!r}")
        return None

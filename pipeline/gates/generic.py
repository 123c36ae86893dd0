"""Generic-question gate: questions no row content can answer, or whose stem is broken.

Dropped when the question
  - refers to itself or to a title nobody shows ("What is the answer to the question?", "What is
    the image's title?");
  - is a selection stem wrapped around a description that is itself a sentence ("Which image shows
    this image shows a mockup of ...");
  - has no word of its own beyond the generic vocabulary of figure questions ("What does this
    image show?"), once markup and panel/image names are removed.
Rows whose answer the geometry computes (bbox_qa) name panels by design and are not judged here.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pipeline.deleak.leakage import content_words
from pipeline.gates.base import Flag, RowGate
from schemas import QARow, RejectReason

SELF_REFERENCE = re.compile(
    r"\b(answer|response) to (the|this) question\b|\bthe question (above|below|asked)\b"
    r"|\bwhat is the (question|answer)\b|\b(image|figure|picture|panel|paper|article)(['’]s)? title\b"
    r"|\btitle of (the|this) (image|figure|picture|panel)\b",
    re.I,
)
BROKEN_STEM = re.compile(
    r"\bwhich (image|panel|picture) shows,? (this|the|an?|that) (image|figure|panel|picture|photo)s?"
    r" (shows?|is|depicts?|displays?|contains?)\b",
    re.I,
)
NAMES = re.compile(r"<ref>.*?</ref>|<box>.*?</box>|\b(panel|image|figure|fig)[-\s]*[a-z0-9]{1,2}\b", re.I)
GENERIC = frozenset(
    """question answer title caption picture photo photograph depicted depict depicts illustrate illustrated
    illustrates represent represents represented see seen visible main key important describe described
    description type kind thing things part parts one ones displayed display displays presented present
    presents contain contains contained purpose look looks like overall information result results
    data given following above below""".split()
)


class GenericQuestionGate(RowGate):
    name: ClassVar[str] = "generic"

    def check(self, row: QARow) -> Flag | None:
        if row.relation is not None or row.task == "bbox_qa":
            return None
        q = row.question
        if m := SELF_REFERENCE.search(q):
            return Flag(RejectReason.QUESTION_GENERIC, f"the question asks about {m.group(0)!r}, which no row content answers")
        if m := BROKEN_STEM.search(q):
            return Flag(RejectReason.QUESTION_GENERIC, f"broken stem: {m.group(0)!r}")
        own = content_words(NAMES.sub(" ", q)) - GENERIC
        if not own:
            return Flag(RejectReason.QUESTION_GENERIC, f"the question has no specific content: {q[:80]!r}")
        return None

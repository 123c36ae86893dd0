"""Grounding gate: a model-written answer must be supported by what the row shows or was built from.

Support for a row with images: its context plus its figure's caption, sub-captions, citing
paragraphs, summary, knowledge and perception text (pipeline.gates.support), since the images it
shows are what those describe. A row without images shows only its context, so that context is
its whole support: a text-only row whose answer de-leakage removed from the context (or whose
context never held it) cannot be answered by a reader and is dropped.
An answer is grounded when at least `min_share` of its content words (stop words dropped, a crude
suffix stem so "tumours" meets "tumour") occur in that support. Answers the code computed (MCQ
letters, geometry relations, rule phrasing) and answers with no content word are not judged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

from pipeline.deleak.leakage import content_words
from pipeline.gates.base import Flag, RowGate
from schemas import Method, QARow, RejectReason

SUFFIX = re.compile(r"(ies|es|s|ed|ing|ly)$")


def stem(word: str) -> str:
    return SUFFIX.sub("", word) if len(word) > 4 else word


def stems(text: str) -> set[str]:
    return {stem(w) for w in content_words(text)}


class GroundedGate(RowGate):
    name: ClassVar[str] = "grounded"

    def __init__(self, support: Mapping[str, str] | None = None, min_share: float = 0.5) -> None:
        self.support = support or {}
        self.min_share = min_share

    def check(self, row: QARow) -> Flag | None:
        if row.answer_letter or row.relation is not None or row.provenance.method in (Method.RULE, Method.GEOMETRY):
            return None
        answer = stems(row.answer)
        if not answer:
            return None
        figure = self.support.get(row.figure_id, "") if row.image_paths else ""
        shown = stems(f"{row.context}\n{figure}")
        found = answer & shown
        share = len(found) / len(answer)
        if share < self.min_share:
            missing = sorted(answer - shown)[:6]
            return Flag(RejectReason.ANSWER_UNGROUNDED,
                        f"only {share:.0%} of the answer's content words have support in the row's context, "
                        f"caption, knowledge or perception (unsupported: {', '.join(missing)})")
        return None

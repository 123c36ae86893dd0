"""Generic-question gate: questions no row content can answer, or whose stem is broken.

Dropped when the question
  - refers to itself or to a title nobody shows ("What is the answer to the question?", "What is
    the image's title?");
  - is a selection stem wrapped around a description that is itself a sentence ("Which image shows
    this image shows a mockup of ...");
  - asks about the image file rather than its content ("What does the figure show about size
    600x310 pixels, landscape?", "... about grayscale image?": measured facts used as a topic);
  - is cut off: it ends on a word that cannot end a question ("... mRNA in the?", "... and?");
  - has no word of its own beyond the generic vocabulary of figure questions ("What does the
    figure show about the panels?", "What is the image's purpose?", "What was the study's
    purpose?": a figure shows results, not why the study was done), once markup, panel/image names
    and possessive 's are removed;
  - or its answer only restates it (every content word of the answer is already in the question:
    "What does the figure show about Simulated radiographs?" - "Simulated radiographs.").
"What does this image show?" with a specific answer is a fair captioning question and is kept.
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
    r"\bwhich (image|panel|picture) shows,? ((this|the|an?|that) (image|figure|panel|picture|photo)s?"
    r" (shows?|is|depicts?|displays?|contains?)|based on|according to|as|of|for|with|from|in)\b",
    re.I,
)
FILE_FACTS = re.compile(r"\b\d+ ?x ?\d+ pixels\b|\baspect ratio\b|\b(grayscale|greyscale|colou?r) image\b"
                        r"|\bedge density\b|\btext[- ]likeness\b", re.I)
THIS_IMAGE = re.compile(r"\b(this|the) (image|picture|photo|panel|micrograph)\b", re.I)
DANGLING = frozenset("the a an of in on at to for and or with from by each than as its their".split())
CAPTIONING = re.compile(r"^(what|which) (does|do) (this|the) (image|figure|picture|panel)s? show\??$", re.I)
NAMES = re.compile(r"<ref>.*?</ref>|<box>.*?</box>|\b(panel|image|figure|fig)[-\s]*[a-z0-9]{1,2}\b", re.I)
GENERIC = frozenset(
    """question answer title caption picture photo photograph depicted depict depicts illustrate illustrated
    illustrates represent represents represented see seen visible main key important describe described
    description type kind thing things part parts one ones displayed display displays presented present
    presents contain contains contained purpose look looks like overall information result results
    data given following above below panels images figures reported report study studies paper article
    research work authors""".split()
)
POSSESSIVE = re.compile(r"['’]s\b", re.I)


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
        if not row.image_paths and (m := THIS_IMAGE.search(q)):
            return Flag(RejectReason.QUESTION_GENERIC, f"the question asks about {m.group(0)!r} but the row shows no image")
        if m := FILE_FACTS.search(q):
            return Flag(RejectReason.QUESTION_GENERIC, f"the question asks about the image file ({m.group(0)!r}), not its content")
        words = re.findall(r"[a-z]+", q.lower())
        if words and words[-1] in DANGLING:
            return Flag(RejectReason.QUESTION_GENERIC, f"the question is cut off: it ends {' '.join(words[-3:])!r}")
        own = content_words(POSSESSIVE.sub("", NAMES.sub(" ", q))) - GENERIC
        if not own and not CAPTIONING.match(q.strip()):
            return Flag(RejectReason.QUESTION_GENERIC, f"the question has no specific content: {q[:80]!r}")
        answer = content_words(row.answer)
        if not row.answer_letter and answer and answer <= content_words(q):
            return Flag(RejectReason.QUESTION_GENERIC, "the answer only restates the question")
        return None

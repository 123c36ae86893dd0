"""Deterministic redaction of answer spans from a context (the fallback when a rewrite still leaks).

1. Sentences that carry half or more of the answer's content words (or contain the whole answer)
   are dropped.
2. In the sentences left, every remaining answer content word is replaced by "[...]".
The result may be empty when every sentence gave the answer away; that is the honest outcome.
"""

from __future__ import annotations

import re

from pipeline.deleak.leakage import WORD, content_words, sentences

MASK = "[...]"
ANY_CASE_WORD = re.compile(WORD.pattern, re.IGNORECASE)


def redact(context: str, answer: str, drop_share: float = 0.5) -> str:
    answer_words = content_words(answer)
    whole = answer.strip().lower().rstrip(".")
    kept = []
    for sent in sentences(context):
        words = content_words(sent)
        share = len(words & answer_words) / len(answer_words) if answer_words else 0.0
        if share >= drop_share or (len(whole) > 3 and whole in sent.lower()):
            continue
        kept.append(sent)
    text = " ".join(kept)
    return ANY_CASE_WORD.sub(lambda m: MASK if m.group(0).lower() in answer_words else m.group(0), text)


def readable_words(text: str) -> int:
    """Content words left once masks are removed: what a reader can still use."""
    return len(content_words(text.replace(MASK, " ")))


def unreadable(text: str, min_words: int = 3) -> bool:
    """Redaction left masks rather than text: fewer than `min_words` readable words, or as many
    masks as readable words ("[...] [...] in [...] [...]")."""
    if MASK not in text:
        return False
    readable = readable_words(text)
    return readable < min_words or text.count(MASK) >= readable

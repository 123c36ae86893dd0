"""Scoring functions for predictions: token F1, ROUGE-L, MCQ letters, bbox relations, embeddings.

Normalisation follows the usual VQA habit (lower case, drop punctuation and articles, collapse
whitespace) except that a lone "a" is kept: in figure QA it is usually panel label A, not an article."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation})
_GROUNDING = re.compile(r"<ref>(.*?)</ref>|<box>.*?</box>", re.S)


def normalize(text: str) -> str:
    text = _GROUNDING.sub(lambda m: m.group(1) or " ", text.lower())
    text = _ARTICLES.sub(" ", text.translate(_PUNCT))
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    return normalize(text).split()


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall over the multiset of shared tokens."""
    pred, ref = tokens(prediction), tokens(reference)
    if not pred and not ref:
        return 1.0
    if not pred or not ref:
        return 0.0
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1: longest common token subsequence against both lengths."""
    pred, ref = tokens(prediction), tokens(reference)
    if not pred and not ref:
        return 1.0
    lcs = _lcs(pred, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize(prediction) == normalize(reference))


# A letter A-D standing alone at the start ("B", "B.", "(B)", "B)", "B:") or after "answer is/:".
_LETTER_START = re.compile(r"^\s*[\(\[]?([A-Da-d])(?:[\)\]\.:,]|\s|$)")
_LETTER_ANSWER = re.compile(r"\b(?:answer|option|choice)\s*(?:is|:)?\s*[\(\[]?([A-D])\b", re.I)


def parse_mcq_letter(text: str, options: Sequence[str] = ()) -> str | None:
    """The option letter a prediction chooses, or None; falls back to quoting an option's text."""
    m = _LETTER_START.match(text)
    if m:
        return m.group(1).upper()
    m = _LETTER_ANSWER.search(text)
    if m:
        return m.group(1).upper()
    norm = normalize(text)
    hits = [chr(ord("A") + i) for i, opt in enumerate(options) if normalize(opt) and normalize(opt) in norm]
    return hits[0] if len(hits) == 1 else None


def parse_mcq_options(question: str) -> list[str]:
    """Option texts from lines "A. ...", "B. ..." in a question, in letter order."""
    found = dict(re.findall(r"^\s*([A-D])[\.\)]\s*(.+?)\s*$", question, re.M))
    return [found[k] for k in "ABCD" if k in found]


# Bbox relations have one component per axis, as pipeline.geometry states them and QARow.relation
# stores them: "<left_of|right_of|same_column>,<above|below|same_row>", e.g. "right_of,below" for
# "Panel D is below and to the right of Panel A". An axis a text does not state is "?".
HORIZONTAL = ("left_of", "right_of", "same_column")
VERTICAL = ("above", "below", "same_row")
UNKNOWN = "?"
_SAME_PLACE = r"same\s+(?:position|place|location)"
# Explicit phrases per axis; the earliest in the text wins ("above B, not below it" -> above).
_HORIZONTAL_PATTERNS = [
    ("same_column", r"same\s+column|vertically\s+aligned"),
    ("left_of", r"(?:to|on)\s+the\s+left\s+of|\bleft\s+(?:of|side\s+of)"),
    ("right_of", r"(?:to|on)\s+the\s+right\s+of|\bright\s+(?:of|side\s+of)"),
]
_VERTICAL_PATTERNS = [
    ("same_row", r"same\s+(?:row|horizontal\s+level|line)|horizontally\s+aligned"),
    ("above", r"\babove\b|\bover\b|\bon\s+top\s+of\b"),
    ("below", r"\bbelow\b|\bbeneath\b|\bunder(?:neath)?\b"),
]
# Looser wording, read only when an axis has no explicit phrase ("A sits on the left").
_HORIZONTAL_FALLBACKS = [("left_of", r"\bleft\b"), ("right_of", r"\bright\b")]
_VERTICAL_FALLBACKS = [("above", r"\b(?:top|upper|higher)\b"), ("below", r"\b(?:bottom|lower)\b")]


def _first_match(text: str, patterns: list[tuple[str, str]]) -> str | None:
    best: tuple[int, str] | None = None
    for name, pattern in patterns:
        m = re.search(pattern, text)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), name)
    return best[1] if best else None


def parse_relation(text: str) -> str | None:
    """The relation a text states as "<horizontal>,<vertical>" ("?" for an unstated axis), or None."""
    plain = _GROUNDING.sub(" ", text.lower())
    if re.search(_SAME_PLACE, plain):
        return "same_column,same_row"
    h = _first_match(plain, _HORIZONTAL_PATTERNS) or _first_match(plain, _HORIZONTAL_FALLBACKS)
    v = _first_match(plain, _VERTICAL_PATTERNS) or _first_match(plain, _VERTICAL_FALLBACKS)
    if h is None and v is None:
        return None
    return f"{h or UNKNOWN},{v or UNKNOWN}"


def relation_axes_matched(predicted: str | None, expected: str | None) -> tuple[int, int]:
    """(axes that match, axes the reference states): only stated reference axes are compared."""
    if expected is None:
        return 0, 0
    want = expected.split(",")
    got = predicted.split(",") if predicted else [UNKNOWN, UNKNOWN]
    known = [(g, w) for g, w in zip(got, want, strict=True) if w != UNKNOWN]
    return sum(g == w for g, w in known), len(known)


def accuracy(predicted: Sequence[object | None], expected: Sequence[object | None]) -> float:
    """Share of positions where the prediction equals a known expected value (None predicted = wrong)."""
    pairs = [(p, e) for p, e in zip(predicted, expected, strict=True) if e is not None]
    if not pairs:
        return 0.0
    return sum(p is not None and p == e for p, e in pairs) / len(pairs)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


YES_NO = {"yes", "no"}


def closed_answer(text: str) -> str | None:
    """"yes"/"no" when an answer starts with one (closed VQA questions)."""
    words = tokens(text)
    return words[0] if words and words[0] in YES_NO else None

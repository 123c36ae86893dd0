"""Split a figure caption into per-panel sub-captions.

Recognised panel markers (letters must run A, B, C... or a, b, c... in order, starting at A/a):
  "(A) text"  "(a) text"  "(A-C) text" / "(A–C)"  "(A and B) text"  "(A, B) text"
  "A, Text"  "A. Text"  "A: Text"  "a) text"
A marker counts only at the start of the caption, after a sentence or clause end (. ; : ! ?), or
where the source marked the letter as bold/italic (`strong_offsets`, from <bold>A</bold> in JATS).
Unparenthesised markers ("A. ...") additionally need a capitalised next word unless marked bold,
which keeps "A. fumigatus", "a 5-fold increase" and "showed (a) weak binding" from splitting.
A marker that does not continue the sequence (e.g. a back-reference "(A)" inside B's text) is
treated as ordinary text. At least two panels must be found, otherwise nothing is split.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from schemas.figure import SubCaption

_L = r"[A-Za-z]"
_DASH = r"\s*[-–—]\s*"
_LIST_SEP = r"\s*(?:,|and|&)\s*"
_GROUP = rf"(?P<labels>{_L}(?:{_DASH}{_L}|(?:{_LIST_SEP}{_L})+)?)"
_PAREN = re.compile(rf"\(\s*{_GROUP}\s*\)")
_HALF = re.compile(rf"(?<![\w(]){_GROUP}\)")
_PLAIN = re.compile(rf"(?<![\w(]){_GROUP}(?P<punct>[.,:])(?=\s)")
_BOUNDARY = re.compile(r"[.;:!?]['\")\]]?\s*$")


def _expand(labels: str) -> list[str] | None:
    """'A-C' -> [A, B, C]; 'A and B' -> [A, B]; None when mixed case or decreasing."""
    parts = [p for p in re.split(r"[^A-Za-z]+", labels.replace("and", " ")) if p]
    if not parts or any(len(p) != 1 for p in parts):
        return None
    if not (all(p.isupper() for p in parts) or all(p.islower() for p in parts)):
        return None
    if re.search(_DASH, labels) and len(parts) == 2:
        lo, hi = ord(parts[0]), ord(parts[1])
        if hi <= lo or hi - lo > 12:
            return None
        return [chr(c) for c in range(lo, hi + 1)]
    codes = [ord(p) for p in parts]
    if codes != sorted(set(codes)):
        return None
    return parts


def _at_boundary(text: str, start: int) -> bool:
    before = text[:start]
    return not before.strip() or bool(_BOUNDARY.search(before))


def _candidates(text: str, strong: set[int]) -> list[tuple[int, int, list[str], bool]]:
    """(start, end, labels, weak): `weak` markers ("A. lowercase") may continue a sequence, not start one."""
    found: dict[int, tuple[int, int, list[str], bool]] = {}
    for kind, pattern in (("paren", _PAREN), ("half", _HALF), ("plain", _PLAIN)):
        for m in pattern.finditer(text):
            start, end = m.start(), m.end()
            labels = _expand(m.group("labels"))
            if labels is None or start in found:
                continue
            is_strong = start in strong or m.start("labels") in strong
            if not (is_strong or _at_boundary(text, start)):
                continue
            weak = False
            if kind == "plain" and not is_strong:
                nxt = text[end:].lstrip()[:1]
                weak = not (nxt.isupper() or nxt.isdigit())
            found[start] = (start, end, labels, weak)
    return [found[k] for k in sorted(found)]


def split_subcaptions(text: str, strong_offsets: Iterable[int] = ()) -> list[SubCaption]:
    """Per-panel sub-captions of `text`, in panel order; [] when the caption is not split."""
    if not text:
        return []
    strong = set(strong_offsets)
    chain: list[tuple[int, int, list[str]]] = []
    expected: str | None = None
    for start, end, labels, weak in _candidates(text, strong):
        if expected is None:
            if labels[0] not in "Aa" or weak:
                continue
        elif labels[0] != expected:
            continue
        if chain and text[chain[-1][1] : start].strip() == "":
            continue  # two markers back to back: not a panel with text of its own
        chain.append((start, end, labels))
        expected = chr(ord(labels[-1]) + 1)
    if sum(len(c[2]) for c in chain) < 2:
        return []
    out: list[SubCaption] = []
    for i, (_, end, labels) in enumerate(chain):
        stop = chain[i + 1][0] if i + 1 < len(chain) else len(text)
        segment = text[end:stop].strip().strip(";,").strip()
        if not segment:
            continue
        for label in labels:
            out.append(SubCaption(label=label.upper(), text=segment))
    return out if len(out) >= 2 else []

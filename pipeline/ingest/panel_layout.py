"""Decide which OCR readings are panel labels, and let the labels fix the panels.

A reading is accepted as a panel label only as part of a set that looks like one:
- letter-like text ("A", "(b)", "c)", "D.", "b1") read with score >= MIN_SCORE;
- a consecutive run of letters starting at a/A, one case (letters whose two cases look alike,
  such as c/C or o/O, count for either), sub-panels b1, b2, ... numbered from 1;
- labels of similar height (within HEIGHT_RATIO of the run's first letter);
- printed in reading order, by rows or by columns (see `_in_order`);
- at least two labels.
Anything else (letters inside a gene map, residue names like "H6", numbers, "CI"/"CII") leaves
the figure unlabelled, and its panels keep reading-order names that claim nothing.

With labels, each label owns the cell that starts at it and runs right to the next label on its
row and down to the next label below it; the panel is the ink inside that cell. So a lettered
panel holding a blot and a bar chart is one panel, and b1-b4 stay panels of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from pipeline.ingest.panel_labels import Reading

MIN_SCORE = 0.5
HEIGHT_RATIO = 1.6
ALIKE = set("cosuvwxzkp")  # lower and upper case look the same at panel-letter sizes
BLOCKER_RE = re.compile(r"^[(\[]?[A-Za-z]?[0-9]?[)\].:]?$")  # label-shaped text, even if read as "()"


@dataclass(frozen=True)
class Label:
    reading: Reading
    letter: str  # lower case
    sub: str  # "" or the sub-panel number as printed

    @property
    def key(self) -> tuple[str, int]:
        return self.letter, int(self.sub or 0)

    def printed(self, upper: bool) -> str:
        return (self.letter.upper() if upper else self.letter) + self.sub


def _candidates(readings: list[Reading]) -> list[tuple[Label, str]]:
    """(label, case) with case "U", "l" or "?" (look-alike letters)."""
    out = []
    for r in readings:
        parsed = r.parsed() if r.score >= MIN_SCORE else None
        if parsed:
            letter, sub = parsed
            case = "?" if letter.lower() in ALIKE else ("U" if letter.isupper() else "l")
            out.append((Label(r, letter.lower(), sub), case))
    return out


def _run(cands: list[tuple[Label, str]], anchor: Label, case: str) -> list[Label]:
    """The consecutive a, b, c... run (with sub-panels) built around `anchor`'s height and case."""
    h = anchor.reading.height
    pool = [lab for lab, c in cands if c in (case, "?") and h / HEIGHT_RATIO <= lab.reading.height <= h * HEIGHT_RATIO]
    best: dict[tuple[str, int], Label] = {}
    for lab in pool:  # one reading per label: the one closest in height to the anchor, then the surest
        old = best.get(lab.key)
        rank = (abs(lab.reading.height - h), -lab.reading.score)
        if old is None or rank < (abs(old.reading.height - h), -old.reading.score):
            best[lab.key] = lab
    run: list[Label] = []
    letter, missed = "a", 0
    while True:
        subs = sorted(k[1] for k in best if k[0] == letter)
        if not subs:  # one letter may be unreadable (printed over an image); two in a row end the run
            nxt = chr(ord(letter) + 1)
            if missed or letter == "a" or not any(k[0] == nxt for k in best):
                break
            missed, letter = 1, nxt
            continue
        numbered: list[int] = []
        for s in (x for x in subs if x):  # sub-panels must count 1, 2, 3...
            if s != len(numbered) + 1:
                break
            numbered.append(s)
        if 0 not in subs and not numbered:
            break
        run += [best[(letter, s)] for s in ([0] if 0 in subs else []) + numbered]
        letter = chr(ord(letter) + 1)
    return run if not missed or len(run) >= 4 else []


def _in_order(labels: list[Label]) -> bool:
    """Each next letter sits to the right on the same row, on a lower row, or at the top of the
    next column to the right (column-wise lettering). A next letter to the left on the same row
    or up and to the left is not how panels are lettered (e.g. gene names A-F inside a map)."""
    h = float(np.median([lab.reading.height for lab in labels]))
    for cur, nxt in zip(labels, labels[1:]):
        dx, dy = nxt.reading.x0 - cur.reading.x0, nxt.reading.y0 - cur.reading.y0
        same_row = abs(dy) < 1.5 * h
        if not ((same_row and dx > 0) or (not same_row and dy > 0) or (dy < 0 and dx > h)):
            return False
    return True


def select_labels(readings: list[Reading]) -> tuple[list[Label], bool, str]:
    """(labels in alphabetical order, printed upper case?, why not) for the best consistent run."""
    cands = _candidates(readings)
    best: list[Label] = []
    upper = True
    for anchor, case in cands:
        if anchor.letter != "a":
            continue
        for c in ([case] if case != "?" else ["U", "l"]):
            run = _run(cands, anchor, c)
            if len(run) > len(best) and _in_order(run):
                best, upper = run, c == "U"
    if len(best) < 2:
        found = ", ".join(sorted({r.text for r in readings if r.parsed() and r.score >= MIN_SCORE})) or "none"
        return [], True, f"no consistent run of printed panel letters (letter-like marks: {found})"
    return best, upper, ""


def blockers(readings: list[Reading], labels: list[Label]) -> list[Reading]:
    """Short marks of the labels' size that are not in the run: most likely letters the recogniser
    could not read ("(I)" read as "()"). They own no panel, but they stop the cells of the labels
    around them, so a missed letter never lets its neighbour swallow its panel."""
    if not labels:
        return []
    used = {id(lab.reading) for lab in labels}
    h = float(np.median([lab.reading.height for lab in labels]))

    def aligned(r: Reading) -> bool:  # on a label's row and in a label's column, as grid letters are
        return (any(abs(r.y0 - lab.reading.y0) < h / 2 for lab in labels)
                and any(abs(r.x0 - lab.reading.x0) < h / 2 for lab in labels))

    return [r for r in readings if id(r) not in used and 0.8 * h <= r.height <= 1.25 * h
            and BLOCKER_RE.match(r.text.strip()) and aligned(r)]


def label_cells(labels: list[Label], size: tuple[int, int], stops: list[Reading] = ()
                ) -> list[tuple[int, int, int, int]]:
    """Cell (x0, y0, x1, y1) owned by each label: right to the next label (or blocker) on its row,
    down to the next one below whose cell reaches into its columns, starting half a letter above
    and left of the label. Sub-panels (b3, b4) also end where their siblings above end: they share
    their letter's columns."""
    w, h = size
    marks = [lab.reading for lab in labels] + list(stops)
    rights = [min([o.x0 for o in marks if o.x0 > lab.reading.x1 and abs(o.y0 - lab.reading.y0) < 2 * lab.reading.height]
                  + [w]) for lab in labels]
    for i, lab in enumerate(labels):
        if lab.sub:
            above = [rights[j] for j, o in enumerate(labels) if o.letter == lab.letter and o.sub
                     and o.reading.y0 < lab.reading.y0 - lab.reading.height]
            rights[i] = min([rights[i]] + ([max(above)] if above else []))
    ends = [(lab.reading, rights[i]) for i, lab in enumerate(labels)] + [(o, w) for o in stops]
    cells = []
    for lab, right in zip(labels, rights):
        r = lab.reading
        pad = max(2, r.height // 2)
        down = min([o.y0 for o, o_right in ends if o.y0 > r.y1 and o.x0 < right and o_right > r.x0] + [h])
        cells.append((max(0, r.x0 - pad), max(0, r.y0 - pad), right, down))
    return cells


def ink_box(mask: np.ndarray, factor: float, cell: tuple[int, int, int, int], label: Reading
            ) -> tuple[int, int, int, int]:
    """Bounding box (full pixels) of the ink inside `cell`, always including the label itself."""
    x0, y0, x1, y1 = (int(v / factor) for v in cell)
    sub = mask[y0 : max(y0 + 1, y1), x0 : max(x0 + 1, x1)]
    rows, cols = np.flatnonzero(sub.any(axis=1)), np.flatnonzero(sub.any(axis=0))
    if not len(rows):
        return label.x0, label.y0, label.x1, label.y1
    bx0, by0 = (x0 + cols[0]) * factor, (y0 + rows[0]) * factor
    bx1, by1 = (x0 + cols[-1] + 1) * factor, (y0 + rows[-1] + 1) * factor
    return (int(min(bx0, label.x0)), int(min(by0, label.y0)),
            int(min(cell[2], max(bx1, label.x1))), int(min(cell[3], max(by1, label.y1))))

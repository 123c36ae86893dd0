"""Panels grounded on their printed letters: XY-cut + label reading + label cells.

`ground_panels` is what ingest runs on a figure image:
1. The XY-cut (panels.py) separates the figure and gives the ink mask.
2. Letter-like marks are read (panel_labels.py), nearest the panels' corners first, until the
   letters read settle every XY-cut panel (`_settled`); a consistent run of labels is chosen
   (panel_layout.py).
3. With labels, each label's cell gives one panel (label source "printed"); without, the XY-cut
   panels keep reading-order names (label source "reading_order"), which never pair with a
   sub-caption.
`letter_panels` gives supplied boxes (YOLO files) their printed letters the same way.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from pipeline.ingest.panel_labels import STAGE_REACH, Reading, read_labels
from pipeline.ingest.panel_layout import MIN_SCORE, Label, blockers, ink_box, label_cells, select_labels
from pipeline.ingest.panels import Separation, detect_panels, panel_label, separate
from schemas.figure import Box, LabelSource, Panel, PanelSource


def _box_fields(box: tuple[float, float, float, float], size: tuple[int, int]) -> dict:
    w, h = size
    x0, y0, x1, y1 = box
    return {"box": Box(x0=x0, y0=y0, x1=x1, y1=y1), "box_norm": Box(x0=x0 / w, y0=y0 / h, x1=x1 / w, y1=y1 / h)}


def _printed(panel_fields: dict, lab: Label, upper: bool) -> Panel:
    printed = lab.printed(upper)
    return Panel(label=printed.upper(), printed_label=printed, label_confidence=round(lab.reading.score, 3),
                 label_source=LabelSource.PRINTED, **panel_fields)


MIN_COVERAGE = 0.8  # share of the figure's ink that the label cells must hold


def _coverage(sep: Separation, cells: list[tuple[int, int, int, int]]) -> float:
    held = np.zeros_like(sep.mask)
    for x0, y0, x1, y1 in cells:
        held[int(y0 / sep.factor) : int(np.ceil(y1 / sep.factor)), int(x0 / sep.factor) : int(np.ceil(x1 / sep.factor))] = True
    total = int(sep.mask.sum())
    return float((sep.mask & held).sum() / total) if total else 0.0


CELL_SPREAD = 1.8  # letters' cells this unequal in width or height: read every candidate


def _settled(sep: Separation, size: tuple[int, int], readings: list[Reading], only_far_left: bool) -> bool:
    """Whether reading more candidates could not change the labels: the run read so far puts at
    most one letter on each of the XY-cut's panels (more would mean sub-panels or panels printed
    without gutters, whose letters may sit away from any corner), and either every panel has its
    letter, or, once only candidates away from every corner are unread, each unlettered panel lies
    inside a letter's cell (a plot's axis cut off from its plot by a gutter). Sub-panel letters
    (b1, b2...) and letter cells of unequal sizes are never settled early. With no run, the
    figure is settled as unlettered once the marks near every corner hold nothing letter-like."""
    labels, _, _ = select_labels(readings)
    if not labels:  # no letter-like mark near any corner: a figure without panel letters
        return only_far_left and not any(r.parsed() and r.score >= MIN_SCORE for r in readings)
    boxes = [tuple(v * sep.factor for v in (leaf.x0, leaf.y0, leaf.x1, leaf.y1)) for leaf in sep.panels]
    count = [0] * len(boxes)
    for r in (lab.reading for lab in labels):  # a letter belongs to the panel it is in or beside
        cx, cy, m = (r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2, r.height
        corner = [max(abs(x0 - r.x0), abs(y0 - r.y0)) / m for x0, y0, _, _ in boxes]
        holding = [k for k, (x0, y0, x1, y1) in enumerate(boxes)
                   if (x0 - m <= cx <= x1 + m and y0 - m <= cy <= y1 + m) or corner[k] <= STAGE_REACH[1]]
        if not holding:
            return False
        count[min(holding, key=lambda k: corner[k])] += 1
    if max(count) > 1 or any(lab.sub for lab in labels):
        return False
    cells = label_cells(labels, size, blockers(readings, labels))
    widths, heights = [c[2] - c[0] for c in cells], [c[3] - c[1] for c in cells]
    if max(widths) > CELL_SPREAD * min(widths) or max(heights) > CELL_SPREAD * min(heights):
        return False  # one letter's cell may hold two panels printed without a gutter, one letter unread
    if min(count) == 1:
        return True
    if not only_far_left:
        return False
    return all(any(_share_inside(box, cell) >= 0.8 for cell in cells) for box, n in zip(boxes, count) if not n)


def _share_inside(box: tuple[float, ...], cell: tuple[float, ...]) -> float:
    ix = max(0.0, min(box[2], cell[2]) - max(box[0], cell[0]))
    iy = max(0.0, min(box[3], cell[3]) - max(box[1], cell[1]))
    return ix * iy / max(1e-9, (box[2] - box[0]) * (box[3] - box[1]))


def read_figure_labels(img: Image.Image, sep: Separation, early_exit: bool = True
                       ) -> tuple[list[Label], bool, list, str]:
    """(labels, printed upper case?, blockers, why no labels). With `early_exit`, candidates are
    read nearest the panels' corners first, and the rest only while the letters are not settled."""
    regions = [(leaf.y0, leaf.x0, leaf.y1, leaf.x1) for leaf in sep.leaves + sep.panels]
    enough = (lambda readings, far: _settled(sep, img.size, readings, far)) if early_exit else None
    readings = read_labels(img, sep.mask, sep.factor, regions, enough)
    labels, upper, why = select_labels(readings)
    return labels, upper, blockers(readings, labels), why


def ground_panels(img: Image.Image, early_exit: bool = True) -> list[Panel]:
    """Panels of `img`: one per printed label when a consistent set is printed, else the XY-cut's."""
    sep = separate(img)
    labels, upper, stops, _why = read_figure_labels(img, sep, early_exit)
    if not labels:
        return detect_panels(img, sep)
    cells = label_cells(labels, img.size, stops)
    if _coverage(sep, cells) < MIN_COVERAGE:  # the letters do not explain the layout (e.g. printed below panels)
        return detect_panels(img, sep)
    panels = []
    for lab, cell in zip(labels, cells):
        box = ink_box(sep.mask, sep.factor, cell, lab.reading)
        fields = _box_fields(box, img.size) | {"confidence": round(lab.reading.score, 3),
                                               "source": PanelSource.DETECTED, "method": "printed-labels"}
        panels.append(_printed(fields, lab, upper))
    return panels + _leftovers(sep, panels, img.size)


def _leftovers(sep: Separation, panels: list[Panel], size: tuple[int, int]) -> list[Panel]:
    """XY-cut panels lying mostly outside every lettered panel (a panel whose letter could not be
    read): kept as panels with reading-order names that claim no letter."""
    out: list[Panel] = []
    taken = {p.label for p in panels}
    names = (panel_label(n) for n in range(10_000))
    for leaf in sep.panels:
        x0, y0, x1, y1 = (v * sep.factor for v in (leaf.x0, leaf.y0, leaf.x1, leaf.y1))
        area = max(1.0, (x1 - x0) * (y1 - y0))
        covered = sum(max(0.0, min(x1, p.box.x1) - max(x0, p.box.x0)) * max(0.0, min(y1, p.box.y1) - max(y0, p.box.y0))
                      for p in panels)
        if covered / area < 0.4:
            name = next(n for n in names if n not in taken)
            out.append(Panel(label=name, confidence=0.5, source=PanelSource.DETECTED, method="xy-cut",
                             **_box_fields((int(x0), int(y0), min(size[0], int(x1)), min(size[1], int(y1))), size)))
    return out


def letter_panels(img: Image.Image, panels: list[Panel]) -> list[Panel]:
    """Supplied boxes with the printed letter found at their top-left; boxes without one (or
    sharing one) keep a reading-order name that does not collide with a printed label."""
    if len(panels) < 2:
        return panels
    labels, upper, _stops, _why = read_figure_labels(img, separate(img))
    owner: dict[int, Label] = {}
    for lab in labels:
        r = lab.reading
        cx, cy, m = (r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2, r.height
        inside = [i for i, p in enumerate(panels)
                  if p.box.x0 - m <= cx <= p.box.x1 + m and p.box.y0 - m <= cy <= p.box.y1 + m]
        if inside:  # the box whose top-left corner is nearest the label
            i = min(inside, key=lambda k: abs(panels[k].box.x0 - r.x0) + abs(panels[k].box.y0 - r.y0))
            if i not in owner:
                owner[i] = lab
    out = []
    taken = {owner[i].printed(upper).upper() for i in owner}
    names = (panel_label(n) for n in range(10_000))
    for i, p in enumerate(panels):
        if i in owner:
            out.append(_printed(p.model_dump(exclude={"label", "printed_label", "label_confidence", "label_source"}),
                                owner[i], upper))
        else:
            name = next(n for n in names if n not in taken)
            out.append(p.model_copy(update={"label": name, "label_source": LabelSource.READING_ORDER}))
    return out

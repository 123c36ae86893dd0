"""Panels grounded on their printed letters: XY-cut + label reading + label cells.

`ground_panels` is what ingest runs on a figure image:
1. The XY-cut (panels.py) separates the figure and gives the ink mask.
2. Letter-like marks are read (panel_labels.py) and a consistent run of labels is chosen
   (panel_layout.py).
3. With labels, each label's cell gives one panel (label source "printed"); without, the XY-cut
   panels keep reading-order names (label source "reading_order"), which never pair with a
   sub-caption.
`letter_panels` gives supplied boxes (YOLO files) their printed letters the same way.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from pipeline.ingest.panel_labels import read_labels
from pipeline.ingest.panel_layout import Label, blockers, ink_box, label_cells, select_labels
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


def read_figure_labels(img: Image.Image, sep: Separation) -> tuple[list[Label], bool, list, str]:
    """(labels, printed upper case?, blockers, why no labels)."""
    regions = [(leaf.y0, leaf.x0, leaf.y1, leaf.x1) for leaf in sep.leaves + sep.panels]
    readings = read_labels(img, sep.mask, sep.factor, regions)
    labels, upper, why = select_labels(readings)
    return labels, upper, blockers(readings, labels), why


def ground_panels(img: Image.Image) -> list[Panel]:
    """Panels of `img`: one per printed label when a consistent set is printed, else the XY-cut's."""
    sep = separate(img)
    labels, upper, stops, _why = read_figure_labels(img, sep)
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

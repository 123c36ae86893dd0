"""Compound-figure separation by recursive XY-cut on background gutters.

1. Downscale (long side <= DETECT_MAX_SIDE) so detection cost does not grow with resolution.
2. Estimate the background colour from the image border (works for white and black figures) and
   mark every pixel that differs from it by more than a tolerance as ink.
3. Recursively cut the ink mask along full-length rows/columns free of ink (gutters), always in
   the direction with the widest gutter, until no gutter is left.
4. Leaves that are tiny or thin (panel letters, axis titles, column headers) are merged into the
   nearest large leaf, so they never become panels of their own.
5. Panels are ordered in reading order (rows top to bottom, then left to right) and labelled A, B, C...
One or zero large leaves means a single-panel figure: one PanelSource.WHOLE panel.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops

from schemas.figure import Box, Panel, PanelSource

DETECT_MAX_SIDE = 1024
INK_TOLERANCE = 28  # max per-channel difference from the background still counted as background
MIN_GUTTER_FRAC = 0.004  # gutter at least this share of the side (and >= 1 px at detection scale)
MINOR_AREA_FRAC = 0.12  # leaves below this share of the largest leaf's area are fragments...
MINOR_SIDE_FRAC = 0.06  # ...as are leaves thinner than this share of the image side
MAX_LEAVES = 200


@dataclass
class _Leaf:
    y0: int
    x0: int
    y1: int
    x1: int
    gutter: int  # width of the gutter that separated this leaf from its sibling (detection px)

    @property
    def area(self) -> int:
        return (self.y1 - self.y0) * (self.x1 - self.x0)

    def union(self, other: _Leaf) -> _Leaf:
        return _Leaf(min(self.y0, other.y0), min(self.x0, other.x0), max(self.y1, other.y1),
                     max(self.x1, other.x1), min(self.gutter, other.gutter))

    def gap(self, other: _Leaf) -> float:
        dy = max(0, max(self.y0, other.y0) - min(self.y1, other.y1))
        dx = max(0, max(self.x0, other.x0) - min(self.x1, other.x1))
        return float(np.hypot(dx, dy))


def panel_label(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA (spreadsheet style, for figures with more than 26 panels)."""
    label = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        label = chr(65 + rem) + label
    return label


def ink_mask(img: Image.Image) -> tuple[np.ndarray, float]:
    """Boolean ink mask at detection scale and the scale factor back to full resolution."""
    w, h = img.size
    factor = max(1, int(np.ceil(max(w, h) / DETECT_MAX_SIDE)))
    small = img.reduce(factor) if factor > 1 else img
    small = small.convert("RGB")
    sw, sh = small.size
    border = np.concatenate([np.asarray(small.crop(box)).reshape(-1, 3) for box in
                             ((0, 0, sw, 1), (0, sh - 1, sw, sh), (0, 0, 1, sh), (sw - 1, 0, sw, sh))])
    background = np.median(border, axis=0).astype(int)
    # Per channel, a 256-entry lookup marks values far from the background; OR-ing the three
    # bands gives "max channel distance > tolerance". All of it runs in Pillow's C code.
    bands = [band.point([255 if abs(v - int(bg)) > INK_TOLERANCE else 0 for v in range(256)])
             for band, bg in zip(small.split(), background)]
    ink = ImageChops.lighter(ImageChops.lighter(bands[0], bands[1]), bands[2])
    mask = np.asarray(ink) > 0
    return mask, float(factor)


def _runs(free: np.ndarray) -> list[tuple[int, int]]:
    """Start/stop of runs of True in a 1-D bool array."""
    padded = np.concatenate([[False], free, [False]])
    diff = np.diff(padded.astype(np.int8))
    return list(zip(np.flatnonzero(diff == 1).tolist(), np.flatnonzero(diff == -1).tolist()))


def _xy_cut(mask: np.ndarray, min_gap: int) -> tuple[list[_Leaf], list[_Leaf]]:
    """Cut breadth-first (so a text-heavy region cannot use up the leaf budget before the big
    gutters are cut). Returns (leaves, fragments): pieces thinner than MINOR_SIDE_FRAC of the image
    along the cut axis are set aside as fragments instead of being cut further."""
    h_img, w_img = mask.shape
    leaves: list[_Leaf] = []
    fragments: list[_Leaf] = []
    queue = deque([(0, 0, mask.shape[0], mask.shape[1], 10**6)])
    while queue:
        y0, x0, y1, x1, gutter = queue.popleft()
        sub = mask[y0:y1, x0:x1]
        rows = sub.any(axis=1)
        if not rows.any():
            continue
        ry = np.flatnonzero(rows)
        cx = np.flatnonzero(sub.any(axis=0))
        y0, y1, x0, x1 = y0 + ry[0], y0 + ry[-1] + 1, x0 + cx[0], x0 + cx[-1] + 1
        sub = mask[y0:y1, x0:x1]
        best = None
        for axis in (0, 1):  # axis 0: horizontal gutters (rows free of ink)
            free = ~sub.any(axis=1 - axis)
            gaps = [(a, b) for a, b in _runs(free) if b - a >= min_gap]
            if gaps and (best is None or max(b - a for a, b in gaps) > best[2]):
                best = (axis, gaps, max(b - a for a, b in gaps))
        if best is None or len(leaves) + len(queue) >= MAX_LEAVES:
            leaves.append(_Leaf(y0, x0, y1, x1, gutter))
            continue
        axis, gaps, _ = best
        edges = [0] + [v for a, b in gaps for v in (a, b)] + [sub.shape[axis]]
        widths = [b - a for a, b in gaps]
        thin_limit = MINOR_SIDE_FRAC * (h_img if axis == 0 else w_img)
        for k, (start, stop) in enumerate(zip(edges[::2], edges[1::2])):
            around = [widths[i] for i in (k - 1, k) if 0 <= i < len(widths)]
            width = min(min(around), gutter)
            piece = (y0 + start, x0, y0 + stop, x1, width) if axis == 0 else (y0, x0 + start, y1, x0 + stop, width)
            if stop - start < thin_limit:
                fragments.append(_Leaf(*piece))
            else:
                queue.append(piece)
    return leaves, fragments


def _overlaps(a: _Leaf, b: _Leaf) -> bool:
    return min(a.y1, b.y1) > max(a.y0, b.y0) and min(a.x1, b.x1) > max(a.x0, b.x0)


def _gaps(boxes: np.ndarray) -> np.ndarray:
    """Pairwise gap (pixels between box edges, 0 when touching/overlapping) for boxes (n, 4) y0 x0 y1 x1."""
    y0, x0, y1, x1 = (boxes[:, i][:, None] for i in range(4))
    dy = np.maximum(0, np.maximum(y0, y0.T) - np.minimum(y1, y1.T))
    dx = np.maximum(0, np.maximum(x0, x0.T) - np.minimum(x1, x1.T))
    return np.hypot(dx, dy)


def _clusters(pieces: list[_Leaf], near: float) -> list[_Leaf]:
    """Single-linkage groups of pieces closer than `near`, each returned as its union box."""
    if not pieces:
        return []
    boxes = np.array([[p.y0, p.x0, p.y1, p.x1] for p in pieces], dtype=float)
    adjacent = _gaps(boxes) <= near
    group = np.arange(len(pieces))
    changed = True
    while changed:  # label propagation: every piece takes the smallest label among its neighbours
        new = np.where(adjacent, group[None, :], len(pieces)).min(axis=1)
        changed = bool((new != group).any())
        group = new
    out: dict[int, _Leaf] = {}
    for g, piece in zip(group.tolist(), pieces):
        out[g] = out[g].union(piece) if g in out else piece
    return list(out.values())


def _merge_fragments(leaves: list[_Leaf], fragments: list[_Leaf], shape: tuple[int, int]) -> tuple[list[_Leaf], int]:
    """Fold small or thin pieces into panels; returns (panels, fragments seen).

    1. A fragment close to a large leaf (panel letter, axis title) is merged into it, unless the
       union would overlap another panel (a row header or an arrow spanning several panels).
    2. The remaining fragments are grouped by proximity; a group as large as a panel (a text
       block such as a sequence alignment, cut into lines and letter columns) becomes a panel.
    3. Anything else (stray labels far from every panel) is dropped.
    """
    h, w = shape
    largest = max((leaf.area for leaf in leaves), default=0)
    near = 0.03 * max(h, w)

    def minor(leaf: _Leaf) -> bool:
        thin = (leaf.y1 - leaf.y0) < MINOR_SIDE_FRAC * h or (leaf.x1 - leaf.x0) < MINOR_SIDE_FRAC * w
        return leaf.area < MINOR_AREA_FRAC * largest or thin

    major = [leaf for leaf in leaves if not minor(leaf)]
    minors = [leaf for leaf in leaves if minor(leaf)] + fragments
    pool = []
    for frag in sorted(minors, key=lambda f: -f.area):
        if major:
            gaps = [m.gap(frag) for m in major]
            i = min(range(len(major)), key=lambda k: (gaps[k], -major[k].area))
            if gaps[i] <= near:
                grown = major[i].union(frag)
                if not any(_overlaps(grown, major[j]) for j in range(len(major)) if j != i):
                    major[i] = grown
                    continue
        pool.append(frag)
    largest = max((m.area for m in major), default=0)
    for group in _clusters(pool, near):
        if not minor(group) and not any(_overlaps(group, m) for m in major):
            major.append(group)
    return major, len(minors)


def reading_order(boxes: list[_Leaf]) -> list[_Leaf]:
    """Rows top to bottom (boxes overlapping vertically by half share a row), left to right inside."""
    rows: list[list[_Leaf]] = []
    for leaf in sorted(boxes, key=lambda b: (b.y0, b.x0)):
        for row in rows:
            top, bottom = min(r.y0 for r in row), max(r.y1 for r in row)
            overlap = min(bottom, leaf.y1) - max(top, leaf.y0)
            if overlap > 0.5 * min(leaf.y1 - leaf.y0, bottom - top):
                row.append(leaf)
                break
        else:
            rows.append([leaf])
    rows.sort(key=lambda row: min(r.y0 for r in row))
    return [leaf for row in rows for leaf in sorted(row, key=lambda b: b.x0)]


def _panel(label: str, leaf: _Leaf, factor: float, size: tuple[int, int], conf: float, source: PanelSource,
           method: str) -> Panel:
    w, h = size
    x0, y0 = max(0, int(leaf.x0 * factor)), max(0, int(leaf.y0 * factor))
    x1, y1 = min(w, int(np.ceil(leaf.x1 * factor))), min(h, int(np.ceil(leaf.y1 * factor)))
    return Panel(label=label, box=Box(x0=x0, y0=y0, x1=x1, y1=y1),
                 box_norm=Box(x0=x0 / w, y0=y0 / h, x1=x1 / w, y1=y1 / h),
                 confidence=round(conf, 3), source=source, method=method)


def whole_panel(size: tuple[int, int], confidence: float = 1.0) -> Panel:
    w, h = size
    return _panel("A", _Leaf(0, 0, h, w, 0), 1.0, size, confidence, PanelSource.WHOLE, "whole-image")


@dataclass
class Separation:
    """What the XY-cut saw: the ink mask (detection scale), its scale factor, the raw leaves
    (before fragments were merged) and the merged panel boxes."""

    mask: np.ndarray
    factor: float
    leaves: list[_Leaf]
    panels: list[_Leaf]
    n_fragments: int
    min_gap: int


def separate(img: Image.Image) -> Separation:
    mask, factor = ink_mask(img)
    h, w = mask.shape
    min_gap = max(1, int(round(MIN_GUTTER_FRAC * min(h, w))))
    leaves, fragments = _xy_cut(mask, min_gap)
    panels, n_fragments = _merge_fragments(leaves, fragments, (h, w))
    return Separation(mask, factor, leaves, panels, n_fragments, min_gap)


def detect_panels(img: Image.Image, sep: Separation | None = None) -> list[Panel]:
    """Panels of `img` in reading order; a single WHOLE panel when no separation is found.
    Labels are reading-order letters: names for the crops, not the letters printed on them."""
    sep = sep or separate(img)
    leaves, panels, n_fragments, min_gap, factor = sep.leaves, sep.panels, sep.n_fragments, sep.min_gap, sep.factor
    if len(panels) <= 1:
        # Confident when there was nothing to cut at all; less so when fragments were folded away.
        return [whole_panel(img.size, 0.95 if len(leaves) <= 1 else 0.7)]
    ordered = reading_order(panels)
    areas = np.array([p.area for p in ordered], dtype=float)
    uniformity = float(areas.min() / areas.max())
    narrowest = min(p.gutter for p in ordered)
    conf = 0.55 + 0.2 * min(1.0, narrowest / (3 * min_gap)) + 0.15 * min(1.0, uniformity / 0.3)
    conf -= 0.1 * min(1.0, n_fragments / (2 * len(ordered)))
    conf = float(np.clip(conf, 0.05, 0.99))
    return [_panel(panel_label(i), leaf, factor, img.size, conf, PanelSource.DETECTED, "xy-cut")
            for i, leaf in enumerate(ordered)]


def boxes_to_panels(boxes: list[tuple[float, float, float, float, float]], size: tuple[int, int],
                    source: PanelSource, method: str) -> list[Panel]:
    """Pixel boxes (x0, y0, x1, y1, confidence) from elsewhere, clamped, ordered and labelled."""
    w, h = size
    leaves = []
    for x0, y0, x1, y1, conf in boxes:
        x0, x1 = sorted((min(max(x0, 0), w), min(max(x1, 0), w)))
        y0, y1 = sorted((min(max(y0, 0), h), min(max(y1, 0), h)))
        if round(x1) - round(x0) >= 1 and round(y1) - round(y0) >= 1:
            leaf = _Leaf(round(y0), round(x0), round(y1), round(x1), 0)
            leaves.append((leaf, conf))
    confs = {id(leaf): conf for leaf, conf in leaves}
    ordered = reading_order([leaf for leaf, _ in leaves])
    return [_panel(panel_label(i), leaf, 1.0, size, float(np.clip(confs[id(leaf)], 0, 1)), source, method)
            for i, leaf in enumerate(ordered)]

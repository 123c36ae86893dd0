"""Pure panel geometry: where one box sits relative to another, and InternVL's box notation.

Relations compare boxes in coordinates normalised by the image size, so they do not change when the
image is rescaled. On each axis two boxes count as the same row (or column) when their centres are
closer than `tol` (a fraction of the image height, or width), or when their extents overlap by at
least half of the shorter one: a full-height panel beside two stacked ones is neither above nor
below either of them, whatever its centre says. Otherwise the centres decide the side.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schemas import Box


class Horizontal(StrEnum):
    LEFT_OF = "left_of"
    RIGHT_OF = "right_of"
    SAME_COLUMN = "same_column"


class Vertical(StrEnum):
    ABOVE = "above"
    BELOW = "below"
    SAME_ROW = "same_row"


_H_INVERSE = {Horizontal.LEFT_OF: Horizontal.RIGHT_OF, Horizontal.RIGHT_OF: Horizontal.LEFT_OF}
_V_INVERSE = {Vertical.ABOVE: Vertical.BELOW, Vertical.BELOW: Vertical.ABOVE}


@dataclass(frozen=True)
class Relation:
    """Where box a lies relative to box b, one component per axis."""

    horizontal: Horizontal
    vertical: Vertical

    @property
    def code(self) -> str:
        """Stable string stored in QARow.relation, e.g. "left_of,same_row"."""
        return f"{self.horizontal.value},{self.vertical.value}"

    @classmethod
    def from_code(cls, code: str) -> Relation:
        h, _, v = code.partition(",")
        return cls(Horizontal(h), Vertical(v))

    @property
    def coincident(self) -> bool:
        """Both centres within tolerance: no usable relation."""
        return self.horizontal is Horizontal.SAME_COLUMN and self.vertical is Vertical.SAME_ROW

    def inverse(self) -> Relation:
        return Relation(_H_INVERSE.get(self.horizontal, self.horizontal), _V_INVERSE.get(self.vertical, self.vertical))

    def describe(self, a: str, b: str) -> str:
        """One plain sentence stating the relation of a to b (the answer text of a bbox QA)."""
        h, v = self.horizontal, self.vertical
        if self.coincident:
            return f"{a} and {b} occupy the same position."
        if v is Vertical.SAME_ROW:
            side = "left" if h is Horizontal.LEFT_OF else "right"
            return f"{a} is to the {side} of {b}, in the same row."
        if h is Horizontal.SAME_COLUMN:
            where = "above" if v is Vertical.ABOVE else "below"
            return f"{a} is {where} {b}, in the same column."
        where = "above" if v is Vertical.ABOVE else "below"
        side = "left" if h is Horizontal.LEFT_OF else "right"
        return f"{a} is {where} and to the {side} of {b}."


def centre(box: Box) -> tuple[float, float]:
    return (box.x0 + box.x1) / 2.0, (box.y0 + box.y1) / 2.0


def normalise(box: Box, width: float, height: float) -> Box:
    """Pixel box -> 0-1 box."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    return Box(x0=box.x0 / width, y0=box.y0 / height, x1=box.x1 / width, y1=box.y1 / height)


def relation(a: Box, b: Box, tol: float = 0.05) -> Relation:
    """Relation of normalised box a to normalised box b (y grows downwards, as in images)."""
    if tol < 0:
        raise ValueError("tolerance must be >= 0")
    (ax, ay), (bx, by) = centre(a), centre(b)
    dx, dy = ax - bx, ay - by
    if abs(dx) <= tol or side_by_side(a.x0, a.x1, b.x0, b.x1):
        h = Horizontal.SAME_COLUMN
    else:
        h = Horizontal.LEFT_OF if dx < 0 else Horizontal.RIGHT_OF
    if abs(dy) <= tol or side_by_side(a.y0, a.y1, b.y0, b.y1):
        v = Vertical.SAME_ROW
    else:
        v = Vertical.ABOVE if dy < 0 else Vertical.BELOW
    return Relation(h, v)


def side_by_side(a0: float, a1: float, b0: float, b1: float) -> bool:
    """The two extents on one axis overlap by at least half of the shorter one."""
    shorter = min(a1 - a0, b1 - b0)
    return shorter > 0 and min(a1, b1) - max(a0, b0) >= 0.5 * shorter


def relation_px(a: Box, b: Box, width: float, height: float, tol: float = 0.05) -> Relation:
    """Relation of two pixel boxes in an image of the given size (tolerance relative to that size)."""
    return relation(normalise(a, width, height), normalise(b, width, height), tol)


def _to_1000(v: float) -> int:
    return max(0, min(1000, round(v * 1000)))


def internvl_box(box: Box) -> list[int]:
    """Normalised box -> InternVL's integer 0-1000 coordinates [x0, y0, x1, y1]."""
    return [_to_1000(box.x0), _to_1000(box.y0), _to_1000(box.x1), _to_1000(box.y1)]


def internvl_ref(label: str, box: Box) -> str:
    """InternVL grounding markup: <ref>label</ref><box>[[x0, y0, x1, y1]]</box>."""
    x0, y0, x1, y1 = internvl_box(box)
    return f"<ref>{label}</ref><box>[[{x0}, {y0}, {x1}, {y1}]]</box>"

"""Panel grid from panel boxes: rows are groups of boxes that overlap vertically."""

from __future__ import annotations

from collections.abc import Sequence

from schemas import Box


def _rows(boxes: Sequence[Box]) -> list[list[Box]]:
    # Sort by top edge; a box joins the current row when it overlaps the row's vertical span by
    # at least half of the smaller height (tolerates slightly ragged panel edges).
    rows: list[list[Box]] = []
    span: tuple[float, float] | None = None
    for box in sorted(boxes, key=lambda b: (b.y0, b.x0)):
        if span is not None:
            overlap = min(span[1], box.y1) - max(span[0], box.y0)
            smaller = min(span[1] - span[0], box.y1 - box.y0)
            if smaller > 0 and overlap >= 0.5 * smaller:
                rows[-1].append(box)
                span = (min(span[0], box.y0), max(span[1], box.y1))
                continue
        rows.append([box])
        span = (box.y0, box.y1)
    return rows


def describe_layout(boxes: Sequence[Box]) -> str:
    """'single panel', '1 row x 3 columns', '2 rows x 2 columns' or '3 rows (2, 1, 3 panels)'."""
    if len(boxes) <= 1:
        return "single panel"
    rows = _rows(boxes)
    counts = [len(r) for r in rows]
    if len(set(counts)) == 1:
        r, c = len(rows), counts[0]
        return f"{r} row{'s' if r > 1 else ''} x {c} column{'s' if c > 1 else ''}"
    return f"{len(rows)} rows ({', '.join(map(str, counts))} panels)"

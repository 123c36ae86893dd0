"""Geometry gate: every bbox answer is recomputed from the stored boxes and must match."""

from __future__ import annotations

from typing import ClassVar

from pipeline.gates.base import Gate
from pipeline.geometry import internvl_ref, relation
from schemas import QARow, Reject, RejectReason


class GeometryGate(Gate):
    name: ClassVar[str] = "geometry"

    def __init__(self, tolerance: float = 0.05) -> None:
        self.tolerance = tolerance  # must equal the generators' bbox_tolerance

    def problem(self, row: QARow) -> str | None:
        if len(row.boxes) != 2 or len(row.panel_labels) != 2:
            return f"needs 2 boxes and 2 panel labels, has {len(row.boxes)} and {len(row.panel_labels)}"
        rel = relation(row.boxes[0], row.boxes[1], self.tolerance)
        if rel.code != row.relation:
            return f"stored relation {row.relation!r}, boxes give {rel.code!r}"
        a, b = (f"Panel {label}" for label in row.panel_labels)
        if row.answer != rel.describe(a, b):
            return f"answer {row.answer!r} does not state {rel.code!r}"
        for name, box in ((a, row.boxes[0]), (b, row.boxes[1])):
            if internvl_ref(name, box) not in row.question:
                return f"question lacks the grounded box of {name}"
        return None

    def apply(self, rows: list[QARow]) -> tuple[list[QARow], list[Reject]]:
        kept, rejects = [], []
        for row in rows:
            problem = self.problem(row) if (row.relation is not None or row.task == "bbox_qa") else None
            if problem:
                rejects.append(self.reject(row, RejectReason.GEOMETRY_MISMATCH, problem))
            else:
                kept.append(row)
        return kept, rejects

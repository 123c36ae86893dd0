"""Geometry gate: every bbox answer is recomputed from the stored boxes and must match."""

from __future__ import annotations

from typing import ClassVar

from pipeline.gates.base import Flag, RowGate
from pipeline.geometry import internvl_ref, relation
from schemas import QARow, RejectReason


class GeometryGate(RowGate):
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

    def check(self, row: QARow) -> Flag | None:
        if row.relation is None and row.task != "bbox_qa":
            return None
        problem = self.problem(row)
        return Flag(RejectReason.GEOMETRY_MISMATCH, problem) if problem else None

"""Each quality gate against hand-labelled rows: precision, recall, and the keep-rate.

    python bench/gates.py [bench/gate_labels/rows.jsonl]

rows.jsonl holds QA rows from this project's own builds (embedded model and fake endpoint; see
bench/gate_labels/README.md), each read by a person and labelled keep or drop with a reason. The
gates run in finalize order over all labelled rows at once (the dedup gate needs the whole set);
a row counts as flagged by the first gate that drops it, as in a build.

Per gate: flagged rows, precision = flagged rows labelled drop / flagged rows, and recall = the
share of all drop-labelled rows that this gate catches. Overall: recall of the whole chain
(target >= 0.90) and the keep-rate (rows kept / rows), beside the labelled keep share.
Row-local gates run their own `check`; images need not exist (the schema gate's file check is
the only gate left out: labelled rows come from builds whose images are elsewhere).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.finalize import FinalizeConfig, build_gates  # noqa: E402
from pipeline.gates import RowGate  # noqa: E402
from schemas import QARow  # noqa: E402

LABELS = ROOT / "bench" / "gate_labels" / "rows.jsonl"
TARGET_PRECISION, TARGET_RECALL = 0.9, 0.9


def load(path: Path) -> tuple[list[QARow], dict[str, str], dict[str, str], dict[str, str]]:
    rows, labels, support, knowledge = [], {}, {}, {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        row = QARow.model_validate(rec["row"])
        rows.append(row)
        labels[row.qa_id] = rec["label"]
        support.setdefault(row.figure_id, rec.get("support", ""))
        knowledge.setdefault(row.figure_id, rec.get("knowledge", ""))
    return rows, labels, support, knowledge


def run(path: Path = LABELS) -> dict:
    rows, labels, support, _ = load(path)
    gates = [g for g in build_gates(FinalizeConfig(), support) if g.name not in ("split", "mcq_balance")]
    flagged_by: dict[str, str] = {}
    alive = rows
    for gate in gates:
        if isinstance(gate, RowGate):
            kept = [r for r in alive if gate.check(r) is None]
        else:
            kept, _ = gate.apply(alive)
        kept_ids = {r.qa_id for r in kept}
        for r in alive:
            if r.qa_id not in kept_ids:
                flagged_by[r.qa_id] = gate.name
        alive = [r for r in alive if r.qa_id in kept_ids]
    bad = {q for q, lab in labels.items() if lab == "drop"}
    report = {"rows": len(rows), "labelled_drop": len(bad), "gates": {}}
    for gate in gates:
        hits = {q for q, g in flagged_by.items() if g == gate.name}
        true = hits & bad
        report["gates"][gate.name] = {
            "flagged": len(hits),
            "precision": round(len(true) / len(hits), 3) if hits else None,
            "recall": round(len(true) / len(bad), 3) if bad else None,
        }
    caught = set(flagged_by) & bad
    report["overall_recall"] = round(len(caught) / len(bad), 3) if bad else None
    report["overall_precision"] = round(len(caught) / len(flagged_by), 3) if flagged_by else None
    report["keep_rate"] = round(len(alive) / len(rows), 3) if rows else None
    report["labelled_keep_share"] = round(1 - len(bad) / len(rows), 3) if rows else None
    report["missed"] = sorted(bad - caught)
    report["wrongly_dropped"] = sorted(set(flagged_by) - bad)
    return report


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else LABELS
    r = run(path)
    print(f"labelled rows: {r['rows']} ({r['labelled_drop']} labelled drop) from {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    print(f"{'gate':<12} {'flagged':>7} {'precision':>9} {'recall':>7}")
    ok = True
    for name, g in r["gates"].items():
        p = "-" if g["precision"] is None else f"{g['precision']:.3f}"
        rc = "-" if g["recall"] is None else f"{g['recall']:.3f}"
        ok &= g["precision"] is None or g["precision"] >= TARGET_PRECISION
        print(f"{name:<12} {g['flagged']:>7} {p:>9} {rc:>7}")
    ok &= (r["overall_recall"] or 0) >= TARGET_RECALL
    print(f"overall: recall {r['overall_recall']:.3f} (target >= {TARGET_RECALL}), precision {r['overall_precision']:.3f}")
    print(f"keep-rate: {r['keep_rate']:.3f} of rows kept (labelled keep share {r['labelled_keep_share']:.3f})")
    if r["missed"]:
        print(f"missed drops ({len(r['missed'])}): {', '.join(r['missed'][:10])}")
    if r["wrongly_dropped"]:
        print(f"kept-labelled rows dropped ({len(r['wrongly_dropped'])}): {', '.join(r['wrongly_dropped'][:10])}")
    print("targets met" if ok else "targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())

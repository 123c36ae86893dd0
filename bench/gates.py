"""Each quality gate against hand-labelled rows: precision, recall, and the keep-rate; optionally the
LLM judge's agreement with the labels.

    python bench/gates.py [LABELS] [--judge-base-url URL --judge-model NAME [--judge-threshold 3]]

LABELS (default bench/gate_labels/rows.jsonl) holds QA rows from this project's own builds (embedded
model and fake endpoint; see bench/gate_labels/README.md), each read by a person and labelled keep
or drop with a reason. The gates run in finalize order over all labelled rows at once (the dedup
gate needs the whole set); a row counts as flagged by the first gate that drops it, as in a build.

Scores are printed for all rows, then per source build (`build`: fake endpoint, embedded model), then
for the held-out part (`part: held-out`: rows labelled before the gates were run on them; the other
rows shaped the gates' rules). Per gate: flagged rows, precision = flagged rows labelled drop /
flagged rows, recall = the share of the part's drop-labelled rows this gate catches. Per part: the
recall of the whole chain (target >= 0.90), its precision, and the keep-rate beside the labelled
keep share. Row-local gates run their own `check`; images need not exist (the schema gate's file
check is the only gate left out: labelled rows come from builds whose images are elsewhere).

With --judge-base-url and --judge-model the optional judge gate (pipeline/gates/judge.py) grades the
model-written rows through the engine, and its agreement with the labels is printed: accuracy,
Cohen's kappa and the confusion counts (rows whose verdict never came back are counted apart).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.finalize import FinalizeConfig, build_gates  # noqa: E402
from pipeline.gates import RowGate  # noqa: E402
from schemas import QARow  # noqa: E402

LABELS = ROOT / "bench" / "gate_labels" / "rows.jsonl"
TARGET_PRECISION, TARGET_RECALL = 0.9, 0.9
HELD_OUT = "held-out"


def load(path: Path) -> tuple[list[QARow], list[dict], dict[str, str]]:
    """The rows, their records (label, build, part) in the same order, and support text per figure."""
    rows, records, support = [], [], {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        row = QARow.model_validate(rec["row"])
        rows.append(row)
        records.append(rec)
        support.setdefault(row.figure_id, rec.get("support", ""))
    return rows, records, support


def flag_rows(rows: list[QARow], support: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Run the gates in finalize order: (gate names, qa_id -> name of the gate that dropped it)."""
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
    return [g.name for g in gates], flagged_by


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 3) if den else None


def score(ids: set[str], bad: set[str], gate_names: list[str], flagged_by: dict[str, str]) -> dict:
    """Per-gate and overall scores of the rows `ids` (bad: the drop-labelled ones among all rows)."""
    bad = bad & ids
    flagged = {q: g for q, g in flagged_by.items() if q in ids}
    report = {"rows": len(ids), "labelled_drop": len(bad), "gates": {}}
    for name in gate_names:
        hits = {q for q, g in flagged.items() if g == name}
        report["gates"][name] = {"flagged": len(hits), "precision": _ratio(len(hits & bad), len(hits)),
                                 "recall": _ratio(len(hits & bad), len(bad))}
    caught = set(flagged) & bad
    report["overall_recall"] = _ratio(len(caught), len(bad))
    report["overall_precision"] = _ratio(len(caught), len(flagged))
    report["keep_rate"] = _ratio(len(ids) - len(flagged), len(ids))
    report["labelled_keep_share"] = _ratio(len(ids) - len(bad), len(ids))
    report["missed"] = sorted(bad - caught)
    report["wrongly_dropped"] = sorted(set(flagged) - bad)
    report["met"] = (all(g["precision"] is None or g["precision"] >= TARGET_PRECISION for g in report["gates"].values())
                     and (report["overall_recall"] is None or report["overall_recall"] >= TARGET_RECALL))
    return report


def parts(records: list[dict]) -> dict[str, set[str]]:
    """The labelled subsets scored apart: all rows, each source build, the held-out part."""
    ids = {"all rows": {r["row"]["qa_id"] for r in records}}
    for rec in records:
        ids.setdefault(f"build {rec.get('build', '?')}", set()).add(rec["row"]["qa_id"])
    held = {r["row"]["qa_id"] for r in records if r.get("part") == HELD_OUT}
    if held:
        ids[f"{HELD_OUT} (labelled before the gates saw them)"] = held
    return ids


def run(path: Path = LABELS) -> dict:
    rows, records, support = load(path)
    gate_names, flagged_by = flag_rows(rows, support)
    bad = {r["row"]["qa_id"] for r in records if r["label"] == "drop"}
    return {name: score(ids, bad, gate_names, flagged_by) for name, ids in parts(records).items()}


def agreement(pairs: list[tuple[bool, bool]]) -> dict:
    """(label says drop, judge says drop) pairs -> accuracy, Cohen's kappa and the confusion counts."""
    n = len(pairs)
    both = sum(1 for lab, j in pairs if lab and j)
    neither = sum(1 for lab, j in pairs if not lab and not j)
    label_only = sum(1 for lab, j in pairs if lab and not j)
    judge_only = sum(1 for lab, j in pairs if j and not lab)
    if not n:
        return {"n": 0, "accuracy": None, "kappa": None, "confusion": {}}
    observed = (both + neither) / n
    lab_drop, judge_drop = (both + label_only) / n, (both + judge_only) / n
    expected = lab_drop * judge_drop + (1 - lab_drop) * (1 - judge_drop)
    kappa = (observed - expected) / (1 - expected) if expected < 1 else (1.0 if observed == 1 else 0.0)
    return {"n": n, "accuracy": round(observed, 3), "kappa": round(kappa, 3),
            "confusion": {"drop/drop": both, "drop/keep": label_only, "keep/drop": judge_only, "keep/keep": neither}}


def judge_agreement(path: Path, base_url: str, model: str, threshold: int = 3, cache: Path | None = None) -> dict:
    """The judge gate's verdicts on the labelled rows it grades, against the labels, per source build."""
    from pipeline.engine import ModelRole, build_engine, load_settings
    from pipeline.gates import JudgeConfig, JudgeGate

    rows, records, support = load(path)
    role = ModelRole(backend="openai", base_urls=[base_url], model=model)
    config = JudgeConfig(role=role, threshold=threshold)
    with tempfile.TemporaryDirectory() as tmp:
        gate = JudgeGate(build_engine(load_settings(text=role), cache or Path(tmp) / "cache"), config, support)
        verdicts = gate.verdicts(rows)
    label = {r["row"]["qa_id"]: r["label"] == "drop" for r in records}
    judged = [r for r in rows if gate.judged(r)]
    report = {"model": model, "threshold": threshold, "judged": len(judged),
              "no_verdict": sum(1 for r in judged if r.qa_id not in verdicts)}
    for name, ids in parts(records).items():
        pairs = [(label[r.qa_id], gate.low(verdicts[r.qa_id])) for r in judged if r.qa_id in ids and r.qa_id in verdicts]
        report[name] = agreement(pairs)
    return report


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def print_scores(name: str, r: dict) -> None:
    print(f"\n== {name}: {r['rows']} rows, {r['labelled_drop']} labelled drop ==")
    print(f"{'gate':<12} {'flagged':>7} {'precision':>9} {'recall':>7}")
    for gate, g in r["gates"].items():
        print(f"{gate:<12} {g['flagged']:>7} {_fmt(g['precision']):>9} {_fmt(g['recall']):>7}")
    print(f"overall: recall {_fmt(r['overall_recall'])} (target >= {TARGET_RECALL}), precision {_fmt(r['overall_precision'])}")
    print(f"keep-rate: {_fmt(r['keep_rate'])} of rows kept (labelled keep share {_fmt(r['labelled_keep_share'])})")
    if r["missed"]:
        print(f"missed drops ({len(r['missed'])}): {', '.join(r['missed'][:10])}")
    if r["wrongly_dropped"]:
        print(f"kept-labelled rows dropped ({len(r['wrongly_dropped'])}): {', '.join(r['wrongly_dropped'][:10])}")
    print("targets met" if r["met"] else "targets NOT met")


def print_agreement(a: dict) -> None:
    print(f"\n== judge {a['model']} (drops below {a['threshold']}): {a['judged']} model-written rows graded, "
          f"{a['no_verdict']} without a verdict ==")
    print("confusion as label/judge: drop/drop, drop/keep, keep/drop, keep/keep")
    for name, g in a.items():
        if isinstance(g, dict) and "kappa" in g:
            c = g["confusion"]
            counts = ", ".join(str(c.get(k, 0)) for k in ("drop/drop", "drop/keep", "keep/drop", "keep/keep"))
            print(f"{name:<48} n={g['n']:<4} accuracy {_fmt(g['accuracy'])}  kappa {_fmt(g['kappa'])}  confusion {counts}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labels", type=Path, nargs="?", default=LABELS)
    parser.add_argument("--judge-base-url", help="OpenAI-compatible endpoint of a judge model, e.g. http://host:8000/v1")
    parser.add_argument("--judge-model", help="the judge model's name on that endpoint")
    parser.add_argument("--judge-threshold", type=int, default=3, help="drop rows scoring below this (1-5)")
    args = parser.parse_args(argv)
    if bool(args.judge_base_url) != bool(args.judge_model):
        parser.error("--judge-base-url and --judge-model go together")
    path = args.labels.resolve()
    results = run(path)
    print(f"labelled rows from {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    for name, r in results.items():
        print_scores(name, r)
    if args.judge_base_url:
        print_agreement(judge_agreement(path, args.judge_base_url, args.judge_model, args.judge_threshold))
    else:
        print("\njudge agreement: not measured (give --judge-base-url and --judge-model of a real endpoint)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

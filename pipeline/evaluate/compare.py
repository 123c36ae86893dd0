"""Per-task scores for one model's predictions, and the base-vs-finetuned comparison (JSON + table)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from rich.table import Table

from pipeline.evaluate.metrics import (
    accuracy,
    closed_answer,
    mean,
    parse_mcq_letter,
    parse_mcq_options,
    parse_relation,
    relation_axes_matched,
    rouge_l,
    token_f1,
)
from pipeline.evaluate.predict import Prediction
from pipeline.train.data import Sample

MCQ_TASKS = {"mcq_selection", "pmc_vqa"}
RELATION_TASKS = {"bbox_qa"}
# The metric a task is ranked by in the table's headline column.
HEADLINE = {"mcq": "mcq_accuracy", "relation": "relation_accuracy", "open": "token_f1"}


def task_kind(task: str) -> str:
    return "mcq" if task in MCQ_TASKS else "relation" if task in RELATION_TASKS else "open"


def _options(sample: Sample) -> list[str]:
    if sample.meta.get("options"):
        return list(sample.meta["options"])
    human = next((v for s, v in reversed(sample.turns[:-1]) if s == "human"), "")
    return parse_mcq_options(human)


def score_task(task: str, preds: Sequence[Prediction], samples: dict[str, Sample],
               similarity: dict[str, float] | None = None, judged: dict[str, float | None] | None = None) -> dict:
    kind = task_kind(task)
    metrics: dict[str, float] = {"n": float(len(preds))}
    if kind == "mcq":
        got = [parse_mcq_letter(p.prediction, _options(samples[p.id])) for p in preds]
        want = [samples[p.id].meta.get("answer_letter") or parse_mcq_letter(p.reference) for p in preds]
        metrics["mcq_accuracy"] = accuracy(got, want)
        metrics["parse_rate"] = mean([g is not None for g in got])
    elif kind == "relation":
        got = [parse_relation(p.prediction) for p in preds]
        want = [samples[p.id].meta.get("relation") or parse_relation(p.reference) for p in preds]
        matched = [relation_axes_matched(g, w) for g, w in zip(got, want, strict=True)]
        scored = [(m, n) for m, n in matched if n]
        # Full credit only when every axis the reference states is right; axis accuracy gives part credit.
        metrics["relation_accuracy"] = mean([float(m == n) for m, n in scored])
        metrics["relation_axis_accuracy"] = sum(m for m, _ in scored) / max(sum(n for _, n in scored), 1)
        metrics["parse_rate"] = mean([g is not None for g in got])
    else:
        metrics["token_f1"] = mean([token_f1(p.prediction, p.reference) for p in preds])
        metrics["rouge_l"] = mean([rouge_l(p.prediction, p.reference) for p in preds])
        if similarity is not None:
            metrics["embedding_sim"] = mean([similarity[p.id] for p in preds])
        closed = [(closed_answer(p.prediction), closed_answer(p.reference)) for p in preds]
        closed = [(g, w) for g, w in closed if w is not None]
        if closed:
            metrics["closed_accuracy"] = accuracy([g for g, _ in closed], [w for _, w in closed])
    if judged is not None:
        values = [judged[p.id] for p in preds if judged.get(p.id) is not None]
        if values:
            metrics["judge_score"] = mean(values)
    return metrics


def score_predictions(preds: Sequence[Prediction], samples: Sequence[Sample],
                      similarity: dict[str, float] | None = None,
                      judged: dict[str, float | None] | None = None) -> dict[str, dict[str, float]]:
    by_id = {s.id: s for s in samples}
    by_task: dict[str, list[Prediction]] = defaultdict(list)
    for p in preds:
        by_task[p.task].append(p)
    return {task: score_task(task, items, by_id, similarity, judged) for task, items in sorted(by_task.items())}


def compare(scores: dict[str, dict[str, dict[str, float]]], baseline: str | None = None) -> dict:
    """{"models": [...], "baseline": name, "tasks": {task: {metric: {model: value, "delta:<m>": ...}}}}.

    Deltas are each model minus the baseline (the first model unless named)."""
    models = list(scores)
    baseline = baseline or (models[0] if models else None)
    tasks: dict[str, dict[str, dict[str, float]]] = {}
    for task in sorted({t for per in scores.values() for t in per}):
        metrics = sorted({m for per in scores.values() for m in per.get(task, {})})
        entry: dict[str, dict[str, float]] = {}
        for metric in metrics:
            row = {m: scores[m][task][metric] for m in models if metric in scores[m].get(task, {})}
            if metric != "n" and baseline in row:
                for m in models:
                    if m != baseline and m in row:
                        row[f"delta:{m}"] = row[m] - row[baseline]
            entry[metric] = row
        tasks[task] = entry
    return {"models": models, "baseline": baseline, "tasks": tasks}


def comparison_table(result: dict) -> Table:
    models = result["models"]
    baseline = result["baseline"]
    table = Table(title="Evaluation: " + " vs ".join(models), show_lines=False)
    table.add_column("task")
    table.add_column("metric")
    table.add_column("n", justify="right")
    for m in models:
        table.add_column(m, justify="right")
    others = [m for m in models if m != baseline]
    for m in others:
        table.add_column(f"Δ {m}", justify="right")
    for task, metrics in result["tasks"].items():
        n = metrics.get("n", {})
        count = str(int(max(n.values()))) if n else "-"
        for metric, row in metrics.items():
            if metric == "n":
                continue
            cells = [f"{row[m]:.3f}" if m in row else "-" for m in models]
            deltas = []
            for m in others:
                d = row.get(f"delta:{m}")
                deltas.append("-" if d is None else f"[{'green' if d > 0 else 'red' if d < 0 else 'white'}]{d:+.3f}[/]")
            table.add_row(task, metric, count, *cells, *deltas)
    return table

"""One function per report section: each returns the dict its template block renders.

Every section has a `note` (None when it has content): the reason it is empty, such as a stage
that has not run yet, so a partial build renders as a page of explanations rather than an error.
Per task numbers come from pipeline.report.stats (`stats` is None when they could not be computed).
"""

from __future__ import annotations

from pipeline.report import metrics, plots
from pipeline.report.gallery import examples, select
from pipeline.report.load import ReportData, Table
from pipeline.report.stats import DatasetStats
from schemas import QARow

LEAKAGE_BINS = 10
REJECT_EXAMPLES_PER_KEY = 2


def tasks(data: ReportData, stats: DatasetStats | None, stats_error: str | None) -> dict:
    if not data.tasks:
        return {"note": "not built yet: no qa/, deleaked/ or final/ task tables (stage 4 has not run)"}
    if stats is None:
        return {"note": f"per task statistics unavailable: {stats_error}"}
    rows = []
    for t in stats.tasks:
        # pipeline.report.stats counts a missing table as 0 rows; the page says "not built yet" instead.
        built = {s: t.task in data.tasks and data.qa[s][t.task].built for s in ("qa", "deleaked", "final")}
        rows.append({
            "task": t.task,
            "counts": [t.generated if built["qa"] else None, t.deleaked if built["deleaked"] else None,
                       t.final if built["final"] else None],
            "train": t.train, "eval": t.eval,
            "rejected": sum(t.rejects_by_reason.values()), "reasons": t.rejects_by_reason,
            "duplicate_rate": t.duplicate_rate, "rewritten": t.rewritten,
            "keep_rate": t.keep_rate, "by_gate": t.rejected_by_gate, "models": t.models,
        })
    return {"note": None, "rows": rows, "total_final": stats.total_final, "total_generated": stats.total_generated,
            "keep_rate": stats.keep_rate, "models": stats.models}


def rejects(data: ReportData, stats: DatasetStats | None, stats_error: str | None) -> dict:
    blanked = sorted(stats.blanked_by_stage.items()) if stats else []  # fields blanked in kept rows
    unreadable = [t.note for t in data.rejects.values() if not t.built]
    empty = {"by_reason": [], "unreadable": unreadable, "blanked": blanked}
    if not data.rejects:
        return {**empty, "note": "no rejects/ tables yet"}
    if stats is None:
        return {**empty, "note": f"reject statistics unavailable: {stats_error}"}
    if not stats.total_rejects:
        return {**empty, "note": "no item was rejected"}
    samples, seen = [], {}
    for table in data.rejects.values():  # the first rows of each (stage, reason), parsed alone
        picked = []
        for i, r in enumerate(table.records("stage", "reason")):
            key = (r.stage, str(r.reason))
            if seen.get(key, 0) < REJECT_EXAMPLES_PER_KEY:
                seen[key] = seen.get(key, 0) + 1
                picked.append(i)
        samples += table.rows_at(picked)
    totals = metrics.reason_totals(stats)
    unreadable = [t.note for t in data.rejects.values() if not t.built]  # also those that failed just now
    return {"note": None, "unreadable": unreadable, "blanked": blanked, "by_reason": metrics.reject_rows(stats),
            "total": stats.total_rejects, "samples": samples,
            "plot": plots.hbar([t[0] for t in totals], [t[1] for t in totals], "rejects by reason")}


def _leakage_table(data: ReportData, task: str) -> Table[QARow]:
    # The same rows pipeline.report.stats averages: final when built, else deleaked.
    final = data.qa["final"][task]
    return final if final.built else data.qa["deleaked"][task]


def leakage(data: ReportData, stats: DatasetStats | None) -> dict:
    tables = {t: _leakage_table(data, t) for t in data.tasks}
    tables = {t: table for t, table in tables.items() if table.built}
    if not tables:
        return {"note": "not built yet: no deleaked/<task>/ table (stage 5 has not run)"}
    all_before, all_after = [], []
    for table in tables.values():
        before, after = metrics.leakage_pairs(table.records("leakage_before", "leakage_after"))
        all_before += before
        all_after += after
    per_task = [
        {"task": t.task, "table": tables[t.task].name, "n": len(tables[t.task]), "before": t.leakage_before_mean,
         "after": t.leakage_after_mean, "rewritten": t.rewritten}
        for t in (stats.tasks if stats else []) if t.task in tables
    ]
    if not all_before and not all_after:
        return {"note": "no leakage scores in the de-leaked rows", "per_task": per_task}
    hi = max(1.0, *all_before, *all_after)
    hb = metrics.histogram(all_before, LEAKAGE_BINS, 0.0, hi)
    ha = metrics.histogram(all_after, LEAKAGE_BINS, 0.0, hi)
    return {"note": None, "per_task": per_task, "plot": plots.leakage_histogram(hb, ha, 0.0, hi)}


def letters(data: ReportData, stats: DatasetStats | None, stats_error: str | None) -> dict:
    if not any(data.qa["final"][t].built for t in data.tasks):
        return {"note": "not built yet: no final/<task>/ table (the gates have not run)"}
    if stats is None:
        return {"note": f"MCQ statistics unavailable: {stats_error}"}
    dists = {}
    for t in stats.tasks:
        if t.mcq_letters:
            offered = metrics.offered_letters(data.qa["final"][t.task].records("answer_letter", "options"))
            dists[t.task] = metrics.letter_distribution(t.mcq_letters, offered)
    if not dists:
        return {"note": "no multiple-choice rows in final/ (none has an answer letter)"}
    all_letters = sorted({letter for d in dists.values() for letter in d})
    return {"note": None, "letters": all_letters, "dists": dists, "plot": plots.grouped_letters(dists)}


def panels(stats: DatasetStats | None, stats_error: str | None) -> dict:
    """Share of compound figures grounded on printed letters, and per-panel pairing outcomes."""
    if stats is None:
        return {"note": f"panel statistics unavailable: {stats_error}"}
    st = stats.panels
    if not st.compound_figures:
        return {"note": "no compound figures in figures/ (not ingested yet, or every figure is a single panel)"}
    share = f"{100 * st.grounded_share:.1f}%" if st.grounded_share is not None else "-"
    return {"note": None, "stats": st, "share": share}


def lengths(data: ReportData) -> dict:
    per_task, rows = {}, []
    for task in data.tasks:
        table = data.latest_qa(task)
        records = table.records("question", "answer")
        if not records:
            continue
        q, a = metrics.qa_lengths(records)
        per_task[task] = (q, a)
        rows.append({"task": task, "table": table.name, "question": metrics.length_summary(q),
                     "answer": metrics.length_summary(a)})
    if not per_task:
        return {"note": "not built yet: no QA rows"}
    return {"note": None, "rows": rows, "plot": plots.length_histograms(per_task)}


def modalities(data: ReportData) -> dict:
    if not data.summaries.built:
        return {"note": data.summaries.note}
    dist = metrics.modality_distribution(data.summaries.records("modalities"))
    if not dist:
        return {"note": "no modalities in the summaries"}
    labels, values = zip(*dist, strict=True)
    return {"note": None, "dist": dist, "n": len(data.summaries),
            "plot": plots.hbar(labels, values, "figures per modality", "figures")}


def gallery(data: ReportData, limit: int) -> list[dict]:
    """A few rows per task: picked from their ids, then only those rows and their figures parsed."""
    shown: set[str] = set()  # figures already in the gallery: later tasks prefer others
    out = []
    for task in data.tasks:
        table = data.latest_qa(task)
        picked = select(table.records("qa_id", "figure_id"), limit, shown)
        rows = {r.qa_id: r for r in table.rows_where("qa_id", [p.qa_id for p in picked])}
        figures = {f.figure_id: f for f in data.figures.rows_where("figure_id", [p.figure_id for p in picked])}
        chosen = [rows[p.qa_id] for p in picked if p.qa_id in rows]
        out.append({"task": task, "table": table.name, "note": table.note, "n": len(table),
                    "examples": examples(chosen, figures, data.out_dir)})
    return out

"""Assemble the report context from an output folder and render the single-file HTML page."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipeline.io.atomic import atomic_write_text
from pipeline.io.layout import LayoutMismatch, read_marker
from pipeline.report import metrics, plots
from pipeline.report.gallery import examples
from pipeline.report.load import ReportData, load_report_data
from pipeline.report.thumbs import HIGHLIGHT_COLOUR, PANEL_COLOUR

TEMPLATES = Path(__file__).parent / "templates"
REPORT_NAME = "report.html"
LEAKAGE_BINS = 10
REJECT_EXAMPLES_PER_KEY = 2


def _env() -> Environment:
    # autoescape on for every template: all text shown comes from model output or input files.
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def _leakage(data: ReportData) -> dict:
    source = "deleaked"
    tables = [data.qa["deleaked"][t] for t in data.tasks if data.qa["deleaked"][t].built]
    if not tables:
        return {"note": "not built yet: no deleaked/<task>/ table (stage 5 has not run)"}
    per_task, all_before, all_after = [], [], []
    for table in tables:
        before, after = metrics.leakage_pairs(table.rows or [])
        all_before += before
        all_after += after
        per_task.append({
            "task": table.name.split("/", 1)[1], "n": len(table),
            "before": statistics.fmean(before) if before else None,
            "after": statistics.fmean(after) if after else None,
        })
    if not all_before and not all_after:
        return {"note": f"no leakage scores in {source}/ rows", "per_task": per_task}
    hi = max(1.0, *all_before, *all_after)
    hb = metrics.histogram(all_before, LEAKAGE_BINS, 0.0, hi)
    ha = metrics.histogram(all_after, LEAKAGE_BINS, 0.0, hi)
    return {"note": None, "per_task": per_task, "plot": plots.leakage_histogram(hb, ha, 0.0, hi)}


def _letters(data: ReportData) -> dict:
    dists = {}
    for task in data.tasks:
        dist = metrics.letter_distribution(data.latest_qa(task).rows or [])
        if dist:
            dists[task] = dist
    if not dists:
        built = any(data.latest_qa(t).built for t in data.tasks)
        note = "no multiple-choice rows (none has an answer letter)" if built else "not built yet: no QA tables"
        return {"note": note}
    letters = sorted({letter for d in dists.values() for letter in d})
    return {"note": None, "letters": letters, "dists": dists, "plot": plots.grouped_letters(dists)}


def _lengths(data: ReportData) -> dict:
    lengths, rows = {}, []
    for task in data.tasks:
        table = data.latest_qa(task)
        if not table.built or not table.rows:
            continue
        q, a = metrics.qa_lengths(table.rows)
        lengths[task] = (q, a)
        rows.append({"task": task, "table": table.name, "question": metrics.length_summary(q),
                     "answer": metrics.length_summary(a)})
    if not lengths:
        return {"note": "not built yet: no QA rows"}
    return {"note": None, "rows": rows, "plot": plots.length_histograms(lengths)}


def _modalities(data: ReportData) -> dict:
    if not data.summaries.built:
        return {"note": data.summaries.note}
    dist = metrics.modality_distribution(data.summaries.rows or [])
    if not dist:
        return {"note": "no modalities in the summaries"}
    labels, values = zip(*dist, strict=True)
    return {"note": None, "dist": dist, "n": len(data.summaries),
            "plot": plots.hbar(labels, values, "figures per modality", "figures")}


def _rejects(data: ReportData) -> dict:
    rejects = data.all_rejects()
    unreadable = [t.note for t in data.rejects.values() if not t.built]
    if not data.rejects:
        return {"note": "no rejects/ tables yet", "unreadable": [], "by_reason": []}
    by_reason = metrics.rejects_by_reason(rejects)
    totals = metrics.reason_totals(rejects).most_common()
    samples, seen = [], {}
    for r in rejects:
        key = (r.stage, str(r.reason))
        if seen.get(key, 0) < REJECT_EXAMPLES_PER_KEY:
            seen[key] = seen.get(key, 0) + 1
            samples.append(r)
    plot = plots.hbar([t[0] for t in totals], [t[1] for t in totals], "rejects by reason") if totals else None
    return {"note": None if rejects else "no item was rejected", "by_reason": by_reason, "total": len(rejects),
            "samples": samples, "plot": plot, "unreadable": unreadable}


def _gallery(data: ReportData, limit: int) -> list[dict]:
    figures = {f.figure_id: f for f in data.figures.rows or []}
    out = []
    for task in data.tasks:
        table = data.latest_qa(task)
        out.append({"task": task, "table": table.name, "note": table.note, "n": len(table),
                    "examples": examples(table.rows or [], figures, data.out_dir, limit)})
    return out


def build_context(out_dir: Path, max_examples_per_task: int = 6) -> dict:
    data = load_report_data(out_dir)
    try:
        marker = read_marker(out_dir) or {}
    except LayoutMismatch as exc:
        marker = {"schema_version": f"unreadable layout marker ({exc})"}
    return {
        "out_dir": str(out_dir.resolve()),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "schema_version": marker.get("schema_version", "unknown (no layout marker)"),
        "stage_counts": metrics.stage_counts(data),
        "task_counts": metrics.task_counts(data),
        "tasks": data.tasks,
        "rejects": _rejects(data),
        "leakage": _leakage(data),
        "letters": _letters(data),
        "lengths": _lengths(data),
        "modalities": _modalities(data),
        "gallery": _gallery(data, max_examples_per_task),
        "max_examples": max_examples_per_task,
        "panel_colour": "rgb{}".format(PANEL_COLOUR),
        "highlight_colour": "rgb{}".format(HIGHLIGHT_COLOUR),
    }


def render_html(out_dir: Path, max_examples_per_task: int = 6) -> str:
    context = build_context(Path(out_dir), max_examples_per_task)
    return _env().get_template("report.html.j2").render(**context)


def write_report(out_dir: Path, *, max_examples_per_task: int = 6) -> Path:
    """Write <out_dir>/report.html (one self-contained file) and return its path.

    Tables that are missing (a partial build) show a "not built yet" note in their section.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise FileNotFoundError(f"output folder {out_dir} does not exist or is not a folder")
    if max_examples_per_task < 0:
        raise ValueError(f"max_examples_per_task must be >= 0, got {max_examples_per_task}")
    html = render_html(out_dir, max_examples_per_task)
    return atomic_write_text(out_dir / REPORT_NAME, html)

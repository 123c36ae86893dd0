"""The numbers behind the report, as pure functions of rows so each can be checked by hand.

Distributions are returned raw (value lists, counters) and binned here; plotting lives in plots.py.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.report.load import QA_STAGES, ReportData, Table
from schemas import QARow, Reject, SummaryRow


@dataclass(frozen=True)
class StageCount:
    stage: str  # pipeline stage, e.g. "ingest" or "qa (stage 4)"
    table: str  # table under the output folder
    rows: int | None  # None: table not built
    note: str | None = None


def stage_counts(data: ReportData) -> list[StageCount]:
    """Rows per table in pipeline order; QA tables are summed over tasks."""

    def one(stage: str, table: Table) -> StageCount:
        return StageCount(stage, table.name, len(table) if table.built else None, table.note)

    out = [
        one("ingest", data.articles),
        one("ingest", data.figures),
    ]
    if data.figures.built:
        panels = sum(len(f.panels) for f in data.figures.rows or [])
        out.append(StageCount("ingest", "figures[].panels", panels))
    out += [
        one("summary (stage 1)", data.summaries),
        one("knowledge (stage 2)", data.knowledge),
        one("perception (stage 3)", data.perception),
    ]
    labels = {"qa": "generate (stage 4)", "deleaked": "de-leakage (stage 5)", "final": "gates + split"}
    for stage in QA_STAGES:
        tables = [data.qa[stage][t] for t in data.tasks]
        built = [t for t in tables if t.built]
        rows = sum(len(t) for t in built) if built else None
        note = None if built else f"not built yet: no {stage}/<task>/ table"
        out.append(StageCount(labels[stage], f"{stage}/*", rows, note))
    return out


def reject_task(reject: Reject, tasks: Iterable[str]) -> str | None:
    """The QA task a reject belongs to: its stage is `qa.<task>`, or its item is a `<task>/...` QA id."""
    task_set = set(tasks)
    if reject.stage.startswith("qa."):
        return reject.stage[3:]
    head = reject.item.split("/", 1)[0]
    return head if head in task_set and "/" in reject.item else None


@dataclass(frozen=True)
class TaskCount:
    task: str
    generated: int | None
    deleaked: int | None
    final: int | None
    train: int
    eval: int
    rejected: int


def task_counts(data: ReportData) -> list[TaskCount]:
    rejected = Counter(reject_task(r, data.tasks) for r in data.all_rejects())
    out = []
    for task in data.tasks:
        sizes = {s: (len(data.qa[s][task]) if data.qa[s][task].built else None) for s in QA_STAGES}
        splits = Counter(r.split for r in data.qa["final"][task].rows or [])
        out.append(
            TaskCount(task, sizes["qa"], sizes["deleaked"], sizes["final"], splits["train"], splits["eval"],
                      rejected[task])
        )
    return out


def rejects_by_reason(rejects: Iterable[Reject]) -> list[tuple[str, str, int]]:
    """(stage, reason, count), most frequent first, ties by stage then reason."""
    counts = Counter((r.stage, str(r.reason)) for r in rejects)
    return sorted(((s, reason, n) for (s, reason), n in counts.items()), key=lambda x: (-x[2], x[0], x[1]))


def reason_totals(rejects: Iterable[Reject]) -> Counter[str]:
    return Counter(str(r.reason) for r in rejects)


def leakage_pairs(rows: Iterable[QARow]) -> tuple[list[float], list[float]]:
    """Leakage scores before and after de-leakage (rows without a score are skipped per side)."""
    rows = list(rows)
    before = [r.leakage_before for r in rows if r.leakage_before is not None]
    after = [r.leakage_after for r in rows if r.leakage_after is not None]
    return before, after


def histogram(values: Sequence[float], bins: int, lo: float, hi: float) -> list[int]:
    """Counts in `bins` equal bins over [lo, hi]; the last bin is closed; values outside are clamped."""
    if bins < 1 or hi <= lo:
        raise ValueError(f"need bins >= 1 and hi > lo, got bins={bins}, lo={lo}, hi={hi}")
    counts = [0] * bins
    width = (hi - lo) / bins
    for v in values:
        i = int((min(max(v, lo), hi) - lo) / width)
        counts[min(i, bins - 1)] += 1
    return counts


def letter_distribution(rows: Iterable[QARow]) -> dict[str, int]:
    """Correct-letter counts of MCQ rows, listing every letter offered (zero when never correct)."""
    counts: Counter[str] = Counter()
    letters: set[str] = set()
    for r in rows:
        if r.answer_letter is None:
            continue
        counts[r.answer_letter] += 1
        letters.update(chr(ord("A") + i) for i in range(len(r.options)))
    letters.update(counts)
    return {letter: counts[letter] for letter in sorted(letters)}


def word_count(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True)
class LengthSummary:
    n: int
    min: int
    median: float
    mean: float
    max: int


def length_summary(lengths: Sequence[int]) -> LengthSummary | None:
    if not lengths:
        return None
    return LengthSummary(len(lengths), min(lengths), statistics.median(lengths), statistics.fmean(lengths),
                         max(lengths))


def qa_lengths(rows: Iterable[QARow]) -> tuple[list[int], list[int]]:
    """Question and answer lengths in whitespace-separated words."""
    rows = list(rows)
    return [word_count(r.question) for r in rows], [word_count(r.answer) for r in rows]


def modality_distribution(summaries: Iterable[SummaryRow], top: int = 15) -> list[tuple[str, int]]:
    """Figures per modality (case and surrounding space ignored; a figure counts once per modality).

    The `top` most frequent are listed (ties alphabetically) and the rest folded into "other".
    Each modality is shown with its most common spelling.
    """
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for row in summaries:
        seen = set()
        for raw in row.modalities:
            name = " ".join(raw.split())
            key = name.casefold()
            if not key or key in seen:
                continue
            seen.add(key)
            counts[key] += 1
            spellings.setdefault(key, Counter())[name] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [(spellings[k].most_common(1)[0][0], n) for k, n in ranked[:top]]
    rest = sum(n for _, n in ranked[top:])
    if rest:
        shown.append(("other", rest))
    return shown

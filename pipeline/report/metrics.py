"""The numbers behind the report, as pure functions so each can be checked by hand.

Per task counts, rejects, leakage means, MCQ letters and duplicate rates come from pipeline.report.stats
(shared with `pmc-instruct stats` and stats.json); this module adds what the page needs beyond them:
row counts of every stage, distributions (histograms, lengths, modalities) and small reshapes.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.report.load import QA_STAGES, ReportData, Table
from pipeline.report.stats import DatasetStats
from schemas import QARow, SummaryRow


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
        out.append(StageCount("ingest", "figures[].panels", data.figures.list_lengths("panels")))
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


def reject_rows(stats: DatasetStats) -> list[tuple[str, str, int]]:
    """(stage, reason, count) from pipeline.report.stats, most frequent first, ties by stage then reason."""
    rows = [(stage, reason, n) for stage, reasons in stats.rejects_by_stage.items() for reason, n in reasons.items()]
    return sorted(rows, key=lambda x: (-x[2], x[0], x[1]))


def reason_totals(stats: DatasetStats) -> list[tuple[str, int]]:
    """Rejects per reason over all stages, most frequent first."""
    totals: Counter[str] = Counter()
    for reasons in stats.rejects_by_stage.values():
        totals.update(reasons)
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))


def leakage_pairs(rows: Iterable[QARow]) -> tuple[list[float], list[float]]:
    """Leakage scores before and after de-leakage (rows without a score are skipped per side)."""
    rows = list(rows)
    before = [r.leakage_before for r in rows if r.leakage_before is not None]
    after = [r.leakage_after for r in rows if r.leakage_after is not None]
    return before, after


def histogram(values: Sequence[float], bins: int, lo: float, hi: float) -> list[int]:
    """Counts in `bins` equal bins over [lo, hi]; the last bin is closed; values outside are clamped.

    A value on a bin edge goes to the bin it opens, also when float division lands a hair below the
    edge (0.6 / 0.1 is 5.999...): scores are written rounded, so edges are hit exactly and often.
    """
    if bins < 1 or hi <= lo:
        raise ValueError(f"need bins >= 1 and hi > lo, got bins={bins}, lo={lo}, hi={hi}")
    counts = [0] * bins
    width = (hi - lo) / bins
    for v in values:
        i = math.floor((min(max(v, lo), hi) - lo) / width + 1e-9)
        counts[min(i, bins - 1)] += 1
    return counts


def offered_letters(rows: Iterable[QARow]) -> set[str]:
    """Every option letter MCQ rows offer, so letters that are never correct still show (as zero)."""
    return {chr(ord("A") + i) for r in rows if r.answer_letter is not None for i in range(len(r.options))}


def letter_distribution(counts: dict[str, int], offered: Iterable[str]) -> dict[str, int]:
    """Correct-letter counts (from pipeline.report.stats) completed with zeros for offered letters."""
    letters = set(counts) | set(offered)
    return {letter: counts.get(letter, 0) for letter in sorted(letters)}


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

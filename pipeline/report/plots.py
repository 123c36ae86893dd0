"""Matplotlib charts rendered to self-contained SVG data URIs (Agg backend, no display needed).

Data URIs rather than inline <svg>: matplotlib gives every SVG the same clip-path ids, which clash
when several charts share one page.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: headless, and never opens a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

BEFORE, AFTER = "#d95f02", "#1b9e77"
BAR = "#4c72b0"
PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                     "axes.spines.right": False})


def to_data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> tuple[Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax


def short(label: str, most: int = 40) -> str:
    """Tick labels stay readable: long ones (free model text) are cut with an ellipsis."""
    return label if len(label) <= most else label[: most - 1] + "\u2026"


def hbar(labels: Sequence[str], values: Sequence[int], title: str, xlabel: str = "count") -> str:
    """Horizontal bars, first label on top (for ranked counts such as modalities or reject reasons)."""
    fig, ax = _figure(6.0, 0.6 + 0.28 * max(len(labels), 1))
    ys = range(len(labels))
    ax.barh(list(ys), list(values), color=BAR)
    ax.set_yticks(list(ys), [short(str(label)) for label in labels])
    ax.invert_yaxis()
    for y, v in zip(ys, values, strict=True):
        ax.annotate(str(v), (v, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return to_data_uri(fig)


def leakage_histogram(before: Sequence[int], after: Sequence[int], lo: float, hi: float) -> str:
    """Pre-binned before/after counts side by side in each bin."""
    bins = len(before)
    width = (hi - lo) / bins
    lefts = [lo + i * width for i in range(bins)]
    fig, ax = _figure(6.0, 2.8)
    ax.bar([x + width * 0.05 for x in lefts], before, width=width * 0.45, align="edge", color=BEFORE,
           label="before de-leakage")
    ax.bar([x + width * 0.5 for x in lefts], after, width=width * 0.45, align="edge", color=AFTER,
           label="after de-leakage")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("leakage score (0: the context gives the answer nothing, 1: fully given away)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_ylabel("QA rows")
    ax.legend(frameon=False)
    return to_data_uri(fig)


def grouped_letters(dists: dict[str, dict[str, int]]) -> str:
    """Correct-letter share per MCQ task; a flat profile means no positional bias."""
    letters = sorted({letter for d in dists.values() for letter in d})
    tasks = list(dists)
    fig, ax = _figure(6.0, 2.8)
    width = 0.8 / max(len(tasks), 1)
    for i, task in enumerate(tasks):
        total = sum(dists[task].values()) or 1
        shares = [dists[task].get(letter, 0) / total for letter in letters]
        xs = [j + i * width for j in range(len(letters))]
        ax.bar(xs, shares, width=width, align="edge", color=PALETTE[i % len(PALETTE)], label=task)
    if letters:
        ax.axhline(1 / len(letters), color="#444", linestyle=":", linewidth=1, label="uniform")
    ax.set_xticks([j + 0.4 for j in range(len(letters))], letters)
    ax.set_ylabel("share of correct answers")
    ax.legend(frameon=False, fontsize=8)
    return to_data_uri(fig)


def _int_bins(values: Sequence[int], most: int = 30) -> list[float] | int:
    """Unit-wide bins centred on whole numbers when the range is small, else `most` equal bins."""
    lo, hi = min(values), max(values)
    if hi - lo <= most:
        return [v - 0.5 for v in range(lo, hi + 2)]
    return most


def length_histograms(lengths: dict[str, tuple[list[int], list[int]]]) -> str:
    """One row per task: question and answer length histograms (words)."""
    tasks = list(lengths)
    fig, axes = plt.subplots(len(tasks), 2, figsize=(6.5, 1.6 * len(tasks) + 0.4), squeeze=False)
    for row, task in enumerate(tasks):
        for col, (kind, values) in enumerate(zip(("question", "answer"), lengths[task], strict=True)):
            ax = axes[row][col]
            if values:
                ax.hist(values, bins=_int_bins(values), color=PALETTE[col], edgecolor="white")
            ax.set_title(f"{task}: {kind} length (words)", fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    return to_data_uri(fig)

"""Assemble the report context from an output folder and render the single-file HTML page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipeline.io.atomic import atomic_write_text
from pipeline.io.layout import LayoutMismatch, read_marker
from pipeline.report import metrics, sections
from pipeline.report.load import load_report_data
from pipeline.report.thumbs import HIGHLIGHT_COLOUR, PANEL_COLOUR
from pipeline.report.stats import DatasetStats, compute_stats

TEMPLATES = Path(__file__).parent / "templates"
REPORT_NAME = "report.html"


def _env() -> Environment:
    # autoescape on for every template: all text shown comes from model output or input files.
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def _stats(out_dir: Path) -> tuple[DatasetStats | None, str | None]:
    """The dataset statistics, or None and why: an unreadable shard costs the stats sections (their
    counts would be short), not the page."""
    try:
        stats = compute_stats(out_dir)
    except Exception as exc:  # noqa: BLE001
        return None, f"{type(exc).__name__}: {exc}"
    if stats.unreadable_shards:
        shown = [str(Path(p).relative_to(out_dir)) if Path(p).is_relative_to(out_dir) else p for p in stats.unreadable_shards]
        return None, f"could not read {', '.join(shown[:3])}" + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")
    return stats, None


def build_context(out_dir: Path, max_examples_per_task: int = 6) -> dict:
    data = load_report_data(out_dir)
    stats, stats_error = _stats(out_dir)
    try:
        marker = read_marker(out_dir) or {}
    except LayoutMismatch as exc:
        marker = {"schema_version": f"unreadable layout marker ({exc})"}
    return {
        "out_dir": str(out_dir.resolve()),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "schema_version": marker.get("schema_version", "unknown (no layout marker)"),
        "stage_counts": metrics.stage_counts(data),
        "tasks": sections.tasks(data, stats, stats_error),
        "rejects": sections.rejects(data, stats, stats_error),
        "leakage": sections.leakage(data, stats),
        "letters": sections.letters(data, stats, stats_error),
        "panels": sections.panels(stats, stats_error),
        "lengths": sections.lengths(data),
        "modalities": sections.modalities(data),
        "gallery": sections.gallery(data, max_examples_per_task),
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

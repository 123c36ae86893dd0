"""A single self-contained HTML page that shows what a build produced (counts, rejects, leakage,
distributions and a gallery of examples), and the dataset statistics it shows (`stats`). Reads only
the Parquet tables of an output folder."""

from typing import Any

__all__ = ["REPORT_NAME", "write_report"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: rendering pulls in matplotlib, which `pipeline.report.stats` users
    # (finalize, the stats command) do not need.
    if name in __all__:
        from pipeline.report import render

        return getattr(render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

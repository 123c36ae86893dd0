"""A single self-contained HTML page that shows what a build produced (counts, rejects, leakage,
distributions and a gallery of examples). Reads only the Parquet tables of an output folder."""

from pipeline.report.render import REPORT_NAME, write_report

__all__ = ["REPORT_NAME", "write_report"]

"""Exports of the gated dataset: final Parquet per task and the InternVL training layout."""

from pipeline.exports.final_parquet import write_final
from pipeline.exports.internvl import InternVLConfig, export_internvl

__all__ = ["InternVLConfig", "export_internvl", "write_final"]

"""Ingest settings (one pydantic model, so the CLI, the Prefect flow and tests share the defaults)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from pipeline.ingest.images import DEFAULT_MAX_PIXELS

InputFormat = Literal["auto", "jats", "m3llm", "llava-med"]


class IngestConfig(BaseModel):
    format: InputFormat = Field("auto", description="input format; auto detects by extension and JSON keys")
    shard_size: int = Field(250, ge=1, description="figures per Parquet shard (a file's rows are never split); small enough that a build's first model calls wait for one shard of ingest")
    ramp_shards: bool = Field(True, description="a run's first shards hold 1/8, 1/4, 1/2 of shard_size figures (at least 8), so model calls start sooner")
    panel_threshold: float = Field(0.7, ge=0.0, le=1.0, description="min sub-figure probability kept from a confidence CSV")
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1, description="images with more pixels are rejected before decoding")
    max_caption_chars: int = Field(20_000, ge=1, description="longer captions are rejected (caption-too-long)")
    max_file_bytes: int = Field(256 * 1024 * 1024, ge=1, description="larger input documents (and archive members) are rejected unread")
    archive_max_members: int = Field(2_000_000, ge=1, description="an archive with more members is read only this far")
    archive_max_bytes: int = Field(64 * 1024**3, ge=1, description="cap on the uncompressed XML and image bytes read from one archive")
    limit: int | None = Field(None, ge=1, description="process at most this many new or changed input files")
    workers: int = Field(default_factory=lambda: min(4, os.cpu_count() or 1), ge=1,
                         description="files parsed side by side (panel OCR and image decoding release the GIL); 1: inline")
    worker_processes: bool = Field(True, description="parse in worker processes when there are many files (the build's stages keep this process's core)")
    detect_panels: bool = Field(True, description="run compound-figure separation on images without supplied boxes")
    subfigure_csv: Path | None = Field(None, description="M3LLM sub-figure CSV (filename,prob); default: auto-discovered next to each JSON")
    image_root: Path | None = Field(None, description="M3LLM: folder holding compound/group_<N>/ (or mm_image_files/); default: the JSON's folder")
    labels_root: Path | None = Field(None, description="M3LLM: folder holding the YOLO predict*/labels/ runs; default: the JSON's folder")

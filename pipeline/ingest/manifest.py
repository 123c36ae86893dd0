"""Incremental-ingest state: `<out>/_state/ingest.json` maps each input file (path relative to the
input folder) to its sha256, the shards holding its rows, and the article/figure ids it produced.

Rules (documented in the README): unchanged files are skipped; new files go into new shards (next
part index), so existing shards keep their bytes and content hash; a changed or removed file's old
rows are dropped by rewriting only the shards that held them, and a changed file's new rows go into
new shards like a new file's.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field

from pipeline.io.atomic import atomic_write_text

MANIFEST_VERSION = 1


class FileEntry(BaseModel):
    sha256: str
    shards: list[int] = Field(default_factory=list)
    article_ids: list[str] = Field(default_factory=list)
    figure_ids: list[str] = Field(default_factory=list)


class Manifest(BaseModel):
    version: int = MANIFEST_VERSION
    next_shard: int = 0
    files: dict[str, FileEntry] = Field(default_factory=dict)


def manifest_path(out: Path) -> Path:
    return Path(out) / "_state" / "ingest.json"


def load_manifest(out: Path) -> Manifest:
    path = manifest_path(out)
    if not path.exists():
        return Manifest()
    return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))


def save_manifest(out: Path, manifest: Manifest) -> None:
    atomic_write_text(manifest_path(out), manifest.model_dump_json(indent=1) + "\n")

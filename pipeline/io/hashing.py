"""Content hashes the build's skip decisions rest on: one file's bytes, a set of Parquet folders,
and a JSON-able settings payload."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def json_sha256(payload: Any) -> str:
    """sha256 of a JSON payload with sorted keys (values JSON cannot hold are written with str)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def tables_fingerprint(out_dir: Path, folders: list[str], settings: str, exclude: tuple[str, ...] = ()) -> str:
    """Hash of every Parquet shard's path, size and mtime under `folders`, plus the settings.
    Shards are only ever replaced by atomic rename, so a rewrite always changes the mtime."""
    h = hashlib.sha256(settings.encode())
    for folder in folders:
        root = out_dir / folder
        if not root.is_dir():
            h.update(f"{folder}:absent;".encode())
            continue
        for path in sorted(root.rglob("part-*.parquet")):
            rel = path.relative_to(out_dir).as_posix()
            if rel.startswith(exclude):
                continue
            st = path.stat()
            h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()

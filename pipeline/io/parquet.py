"""Parquet shards of pydantic rows: schema derived from the row model, version in the metadata."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from pipeline.io.atomic import atomic_write
from schemas.arrow import METADATA_MODEL_KEY, METADATA_VERSION_KEY, SCHEMA_VERSION, arrow_schema

M = TypeVar("M", bound=BaseModel)
SHARD_RE = re.compile(r"^part-(\d{5})\.parquet$")


class SchemaVersionMismatch(RuntimeError):
    pass


def shard_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def to_table(rows: Sequence[BaseModel], model: type[BaseModel]) -> pa.Table:
    records = [r.model_dump(mode="json", by_alias=True) for r in rows]
    return pa.Table.from_pylist(records, schema=arrow_schema(model))


def write_rows(path: Path, rows: Sequence[BaseModel], model: type[BaseModel]) -> Path:
    """Write rows to one Parquet file atomically (an empty list writes an empty, typed file)."""
    table = to_table(rows, model)
    return atomic_write(Path(path), lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def list_shards(directory: Path) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if SHARD_RE.match(p.name))


def read_table(path: Path) -> pa.Table:
    """Read one shard, refusing files written with another schema version."""
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    version = meta.get(METADATA_VERSION_KEY, b"?").decode()
    if version != SCHEMA_VERSION:
        raise SchemaVersionMismatch(
            f"{path} was written with schema version {version}, this pmc-instruct uses {SCHEMA_VERSION}"
        )
    return table


def read_rows(path: Path, model: type[M]) -> list[M]:
    return [model.model_validate(r) for r in read_table(path).to_pylist()]


def read_all(directory: Path, model: type[M]) -> list[M]:
    out: list[M] = []
    for shard in list_shards(directory):
        out.extend(read_rows(shard, model))
    return out


def row_model_name(path: Path) -> str | None:
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(METADATA_MODEL_KEY)
    return raw.decode() if raw else None


def chunked(items: Iterable[M], size: int) -> Iterable[list[M]]:
    batch: list[M] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch

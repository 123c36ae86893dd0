"""Writing ingest shards: figures, articles and ingest rejects share one part index, so shard i
of every later stage can be derived from figures shard i alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.io.parquet import read_rows, shard_name, write_rows
from schemas.figure import Article, Figure
from schemas.reject import Reject


@dataclass
class Unit:
    """Rows that must stay together in one shard: one article with its figures (or file-level rejects)."""

    source: str
    articles: list[Article] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


def shard_paths(out: Path, index: int) -> dict[str, Path]:
    name = shard_name(index)
    return {
        "figures": out / "figures" / name,
        "articles": out / "articles" / name,
        "rejects": out / "rejects" / "ingest" / name,
    }


def write_shard(out: Path, index: int, units: list[Unit]) -> Path:
    paths = shard_paths(out, index)
    write_rows(paths["articles"], [a for u in units for a in u.articles], Article)
    write_rows(paths["rejects"], [r for u in units for r in u.rejects], Reject)
    write_rows(paths["figures"], [f for u in units for f in u.figures], Figure)  # last: readers key on figures
    return paths["figures"]


def _belongs(reject: Reject, sources: set[str], article_ids: set[str]) -> bool:
    item = reject.item
    return (item in sources or any(item.startswith(s + ":") or item.startswith(s + "[") for s in sources)
            or (reject.article_id is not None and reject.article_id in article_ids))


def drop_sources(out: Path, index: int, sources: set[str], article_ids: set[str]) -> Path:
    """Rewrite shard `index` without the rows that came from `sources` (changed or removed files)."""
    paths = shard_paths(out, index)
    figures = [f for f in read_rows(paths["figures"], Figure) if f.source_path not in sources] if paths["figures"].exists() else []
    articles = [a for a in read_rows(paths["articles"], Article) if a.source_path not in sources] if paths["articles"].exists() else []
    rejects = [r for r in read_rows(paths["rejects"], Reject) if not _belongs(r, sources, article_ids)] if paths["rejects"].exists() else []
    return write_shard(out, index, [Unit(source="", articles=articles, figures=figures, rejects=rejects)])


RAMP_MIN_FIGURES = 8  # a ramp shard smaller than this would cost more in per-shard overhead than it saves


def ramp_sizes(shard_size: int) -> list[int]:
    """Sizes of a run's first shards: 1/8, 1/4 and 1/2 of `shard_size` (those of at least
    RAMP_MIN_FIGURES figures). The stages start on a shard as soon as ingest writes it, so a small
    first shard gets the first model calls out after a few figures rather than after a full shard."""
    return [size for size in (shard_size // 8, shard_size // 4, shard_size // 2) if size >= RAMP_MIN_FIGURES]


class Packer:
    """Groups units, as they are parsed, into shards of about `shard_size` figures; a unit is
    never split. `add` returns the shard its unit closed (if any), so the caller writes shards as
    it goes and holds at most one shard of rows. `ramp` gives the sizes of the first shards."""

    def __init__(self, shard_size: int, ramp: list[int] | None = None) -> None:
        self.shard_size = shard_size
        self.ramp = list(ramp or [])
        self.current: list[Unit] = []
        self.count = 0

    def _limit(self) -> int:
        return self.ramp[0] if self.ramp else self.shard_size

    def add(self, unit: Unit) -> list[Unit] | None:
        n = len(unit.figures)
        full = None
        if self.current and self.count and self.count + n > self._limit():
            full, self.current, self.count = self.current, [], 0
            if self.ramp:
                self.ramp.pop(0)
        self.current.append(unit)
        self.count += n
        return full

    def flush(self) -> list[Unit] | None:
        rest, self.current, self.count = self.current or None, [], 0
        return rest


def pack(units: list[Unit], shard_size: int, ramp: list[int] | None = None) -> list[list[Unit]]:
    """Group units into shards of about `shard_size` figures (the first ones of `ramp` sizes); a
    unit is never split."""
    packer = Packer(shard_size, ramp)
    shards = [full for unit in units if (full := packer.add(unit)) is not None]
    rest = packer.flush()
    return shards + ([rest] if rest else [])

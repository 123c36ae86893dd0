"""Figure support text (pipeline.gates.support) looked up on demand instead of loaded whole.

load_support holds the text of every figure of the build at once; this mapping first reads only the
figure_id column of each support table to learn which shards hold a figure, then reads a shard's
text columns when one of its figures is asked for, keeping a few recently read shards (rows of one
QA shard come from the same few figure shards). A figure's text is the same string load_support
gives: the tables in the same order, shards in order, rows in order.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.gates.support import TABLES, _texts
from pipeline.io.parquet import list_shards


class SupportIndex(Mapping[str, str]):
    def __init__(self, out_dir: Path, cached_shards: int = 16) -> None:
        self.shards: dict[str, list[Path]] = {t: list_shards(Path(out_dir) / t) for t in TABLES}
        self.where: dict[str, list[tuple[str, int]]] = {}  # figure id -> (table, shard index) holding it
        for table, paths in self.shards.items():
            for n, shard in enumerate(paths):
                try:
                    ids = pq.read_table(shard, columns=["figure_id"]).column(0).to_pylist()
                except Exception:  # an unreadable shard lends no support, as in load_support
                    continue
                for fid in dict.fromkeys(ids):
                    self.where.setdefault(fid, []).append((table, n))
        self._cache: OrderedDict[tuple[str, int], dict[str, list[str]]] = OrderedDict()
        self._size = cached_shards
        self._last: OrderedDict[str, str] = OrderedDict()  # a figure's rows are read together

    def _shard(self, table: str, n: int) -> dict[str, list[str]]:
        key = (table, n)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        texts: dict[str, list[str]] = {}
        shard = self.shards[table][n]
        try:
            present = [c for c in TABLES[table] if c in pq.read_schema(shard).names]
            data = pq.read_table(shard, columns=["figure_id", *present]).to_pydict()
        except Exception:
            data, present = {"figure_id": []}, []
        for i, fid in enumerate(data["figure_id"]):
            texts.setdefault(fid, []).extend(t for c in present for t in _texts(data[c][i]))
        self._cache[key] = texts
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return texts

    def __getitem__(self, figure_id: str) -> str:
        if figure_id not in self.where:
            raise KeyError(figure_id)
        if figure_id not in self._last:
            parts: list[str] = []
            for table, n in sorted(self.where[figure_id], key=lambda tn: (list(TABLES).index(tn[0]), tn[1])):
                parts.extend(self._shard(table, n).get(figure_id, []))
            self._last[figure_id] = "\n".join(parts)
            if len(self._last) > 64:
                self._last.popitem(last=False)
        return self._last[figure_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.where)

    def __len__(self) -> int:
        return len(self.where)

"""What each figure's rows may draw on: the text a reader (and the model) had about the figure.

Per figure id: caption, sub-captions and citing paragraphs (figures/), the stage-1 summary and
findings (summaries/), keywords, background and terms (knowledge/), and every perception
description and observation (perception/). Read column by column from the output folder, so only
text is held, not rows. Missing tables give less support, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.io.parquet import list_shards

TABLES: dict[str, list[str]] = {
    "figures": ["caption", "sub_captions", "mentions"],
    "summaries": ["summary", "key_findings", "modalities", "anatomy"],
    "knowledge": ["keywords", "background", "terms"],
    "perception": ["description", "observations"],
}


def _texts(value) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


def load_support(out_dir: Path, figure_ids: set[str] | None = None,
                 tables: tuple[str, ...] = tuple(TABLES)) -> dict[str, str]:
    """figure_id -> the support text of `tables` joined by newlines (only `figure_ids` when given)."""
    parts: dict[str, list[str]] = {}
    for table in tables:
        columns = TABLES[table]
        for shard in list_shards(Path(out_dir) / table):
            try:
                present = [c for c in columns if c in pq.read_schema(shard).names]
                data = pq.read_table(shard, columns=["figure_id", *present]).to_pydict()
            except Exception:  # an unreadable shard lends no support; the gates say so per row
                continue
            for i, fid in enumerate(data["figure_id"]):
                if figure_ids is None or fid in figure_ids:
                    parts.setdefault(fid, []).extend(t for c in present for t in _texts(data[c][i]))
    return {fid: "\n".join(texts) for fid, texts in parts.items()}

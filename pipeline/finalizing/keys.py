"""Compact per-row keys: what the global gates (dedup, MCQ balance, split) need of a row, without the row.

A QARow costs ~13 KB in memory; its keys ~0.2 KB: the qa_id, interned task/figure/article ids,
a 64-bit hash of its image set, a 64-bit hash of each LSH band of its MinHash signature, its MCQ
letter and option count, and hashes of its selection stem and correct target (ambiguous-stem
check). The bulkier keys go to a file in the spool folder and are read back only for the rows
that need them: the MinHash signature (uint32 values, as datasketch computes them; read for LSH
candidates only) and the word shingles hashed to 64-bit ints (exact Jaccard for the across-task
check, read per figure). 64-bit hashes stand in for exact strings: a collision (~1e-15 per pair)
is the one way the decisions could differ from the whole-list gates. Index i is the i-th row in
read order.
"""

from __future__ import annotations

import os
from array import array
from pathlib import Path
from typing import NamedTuple

import numpy as np
from datasketch import MinHashLSH

from pipeline.gates.dedup import DedupGate, dedup_text, shingles
from schemas import QARow


def hash64(data: str | bytes) -> int:
    """Python's own 64-bit hash: keys are only compared within one run, so its per-process seed
    does not matter, and it is several times faster than a hashlib digest on millions of shingles."""
    return hash(data)


class KeyRow(NamedTuple):
    """Enough of a row to name it in a Reject and to place it in an MCQ balance."""

    qa_id: str
    task: str
    answer_letter: str | None
    article_id: str
    figure_id: str


class Interned:
    """Strings stored once, referred to by index."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, value: str) -> int:
        if value not in self._index:
            self._index[value] = len(self.values)
            self.values.append(value)
        return self._index[value]


class RowKeys:
    def __init__(self, dedup: DedupGate, path: Path) -> None:
        self.dedup = dedup
        self.bands = MinHashLSH(threshold=dedup.config.threshold, num_perm=dedup.config.num_perm).hashranges
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "w+b")  # noqa: SIM115 (closed by close())
        self._end = 0
        self.qa_ids: list[str] = []
        self.tasks, self.figures, self.articles = Interned(), Interned(), Interned()
        self.task = array("I")
        self.figure = array("I")
        self.article = array("I")
        self.images = array("q")  # hash of the sorted image paths
        self.n_images = array("I")
        self.letter = array("b")  # index of the correct option, -1: not an MCQ row (as the gates see it)
        self.n_options = array("I")
        self.stem = array("q")  # hash of (task, figure, normalised question) of MCQ rows
        self.target = array("q")  # hash of the correct image (or answer) of MCQ rows
        self.band = array("q")  # len(self.bands) hashes per row
        self.offset = array("q")  # where the row's signature, then its shingle hashes, start in the file
        self.n_shingles = array("I")

    def __len__(self) -> int:
        return len(self.qa_ids)

    def add(self, rows: list[QARow]) -> None:
        """Append the keys of `rows` (one shard's survivors of the per-row gates)."""
        n = self.dedup.config.shingle_words
        chunks = []
        for row, m in zip(rows, self.dedup.signatures(rows), strict=True):
            sig = np.asarray(m.hashvalues, dtype=np.uint32)
            self.band.extend(hash64(sig[s:e].tobytes()) for s, e in self.bands)
            hashed = np.unique(np.array([hash64(s) for s in shingles(dedup_text(row), n)], dtype=np.int64))
            self.offset.append(self._end)
            self.n_shingles.append(len(hashed))
            chunks += [sig.tobytes(), hashed.tobytes()]
            self._end += sig.nbytes + hashed.nbytes
            self.qa_ids.append(row.qa_id)
            self.task.append(self.tasks(row.task))
            self.figure.append(self.figures(row.figure_id))
            self.article.append(self.articles(row.article_id))
            self.images.append(hash64("\0".join(sorted(row.image_paths))))
            self.n_images.append(len(row.image_paths))
            mcq = bool(row.answer_letter and row.options)
            self.letter.append(ord(row.answer_letter) - 65 if mcq else -1)
            self.n_options.append(len(row.options) if row.options else 0)
            if mcq:
                stem = " ".join(row.question.lower().split())
                target = (row.image_paths[ord(row.answer_letter) - 65] if len(row.image_paths) == len(row.options)
                          else row.answer)
                self.stem.append(hash64(f"{row.task}\0{row.figure_id}\0{stem}"))
                self.target.append(hash64(target))
            else:
                self.stem.append(0)
                self.target.append(0)
        self._file.seek(0, os.SEEK_END)
        self._file.write(b"".join(chunks))
        self._file.flush()  # read back with os.pread

    def task_of(self, i: int) -> str:
        return self.tasks.values[self.task[i]]

    def row(self, i: int) -> KeyRow:
        letter = self.letter[i]
        return KeyRow(self.qa_ids[i], self.task_of(i), chr(65 + letter) if letter >= 0 else None,
                      self.articles.values[self.article[i]], self.figures.values[self.figure[i]])

    def band_keys(self, i: int) -> array:
        k = len(self.bands)
        return self.band[i * k : (i + 1) * k]

    def signature(self, i: int) -> np.ndarray:
        size = 4 * self.dedup.config.num_perm
        return np.frombuffer(os.pread(self._file.fileno(), size, self.offset[i]), dtype=np.uint32)

    def shingle_set(self, i: int) -> np.ndarray:
        at = self.offset[i] + 4 * self.dedup.config.num_perm
        return np.frombuffer(os.pread(self._file.fileno(), 8 * self.n_shingles[i], at), dtype=np.int64)

    def close(self) -> None:
        self._file.close()

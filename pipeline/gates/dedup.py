"""Near-duplicate gate: MinHash (datasketch) over word 3-grams of question + answer.

Two rows are near-duplicates when they belong to the same task, show the same images (text-only
rows all share the empty image set) and the Jaccard estimate of their shingles reaches the
threshold. The same question about different images is a different sample, hence the image key.
Rows are visited in qa_id order and the first of a group is kept, so the result is deterministic.

Across tasks, rows of the same figure are compared too (question + answer, same threshold): the
same question and answer asked by compound_qa with the image and by text_qa without it is one
sample seen twice. The row showing more images is kept (then the first by qa_id).
"""

from __future__ import annotations

import re
from typing import ClassVar

from datasketch import MinHash, MinHashLSH
from pydantic import BaseModel, Field

from pipeline.gates.base import Gate
from schemas import QARow, Reject, RejectReason

MARKUP = re.compile(r"<ref>(.*?)</ref>|<box>.*?</box>")


class DedupConfig(BaseModel):
    threshold: float = Field(0.85, gt=0.0, le=1.0, description="Jaccard similarity counted as a duplicate")
    num_perm: int = Field(128, ge=16)
    shingle_words: int = Field(3, ge=1)


def dedup_text(row: QARow) -> str:
    question = MARKUP.sub(lambda m: m.group(1) or "", row.question)
    return f"{question} {row.answer}".lower()


def shingles(text: str, n: int) -> set[str]:
    words = re.findall(r"\w+", text)
    if len(words) <= n:
        return {" ".join(words)}
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


class DedupGate(Gate):
    name: ClassVar[str] = "dedup"

    def __init__(self, config: DedupConfig | None = None) -> None:
        self.config = config or DedupConfig()

    def minhash(self, row: QARow) -> MinHash:
        return self.signatures([row])[0]

    def signatures(self, rows: list[QARow]) -> list[MinHash]:
        """One MinHash per row, in one batch: the permutations are drawn once (not per row) and each
        row's shingles are hashed together; the values equal per-row MinHash.update calls."""
        tokens = ([s.encode() for s in shingles(dedup_text(r), self.config.shingle_words)] for r in rows)
        return MinHash.bulk(tokens, num_perm=self.config.num_perm, seed=1)

    def apply(self, rows: list[QARow]) -> tuple[list[QARow], list[Reject]]:
        lsh = MinHashLSH(threshold=self.config.threshold, num_perm=self.config.num_perm)
        kept, rejects = [], []
        hashes: dict[str, MinHash] = {}
        group: dict[str, tuple] = {}
        ordered = sorted(rows, key=lambda r: r.qa_id)
        for row, m in zip(ordered, self.signatures(ordered), strict=True):
            key = (row.task, tuple(sorted(row.image_paths)))
            twin = next(
                (
                    other for other in sorted(lsh.query(m))
                    if group[other] == key and hashes[other].jaccard(m) >= self.config.threshold
                ),
                None,
            )
            if twin is not None:
                rejects.append(
                    self.reject(row, RejectReason.NEAR_DUPLICATE,
                                f"near-duplicate of {twin} (Jaccard ~{hashes[twin].jaccard(m):.2f})")
                )
                continue
            lsh.insert(row.qa_id, m)
            hashes[row.qa_id], group[row.qa_id] = m, key
            kept.append(row)
        kept, across = self.across_tasks(kept)
        kept, ambiguous = self.ambiguous_stems(kept)
        return kept, rejects + across + ambiguous

    def ambiguous_stems(self, rows: list[QARow]) -> tuple[list[QARow], list[Reject]]:
        """Selection questions of one figure that share a stem but name different correct images
        cannot each be right: all of them are dropped."""
        groups: dict[tuple[str, str, str], list[QARow]] = {}
        for row in rows:
            if row.answer_letter and row.options:
                groups.setdefault((row.task, row.figure_id, " ".join(row.question.lower().split())), []).append(row)
        dropped: dict[str, Reject] = {}
        for group in groups.values():
            targets = {r.image_paths[ord(r.answer_letter) - 65] if len(r.image_paths) == len(r.options) else r.answer
                       for r in group}
            if len(group) > 1 and len(targets) > 1:
                for row in group:
                    dropped[row.qa_id] = self.reject(
                        row, RejectReason.NEAR_DUPLICATE,
                        f"the same selection stem is asked {len(group)} times in this figure with different correct images")
        return [r for r in rows if r.qa_id not in dropped], list(dropped.values())

    def across_tasks(self, rows: list[QARow]) -> tuple[list[QARow], list[Reject]]:
        by_figure: dict[str, list[QARow]] = {}
        for row in rows:
            by_figure.setdefault(row.figure_id, []).append(row)
        dropped: dict[str, Reject] = {}
        for group in by_figure.values():
            if len({r.task for r in group}) < 2:
                continue
            ordered = sorted(group, key=lambda r: (-len(r.image_paths), r.qa_id))
            texts = {r.qa_id: shingles(dedup_text(r), self.config.shingle_words) for r in ordered}
            for i, row in enumerate(ordered):
                for earlier in ordered[:i]:
                    if earlier.task == row.task or earlier.qa_id in dropped:
                        continue
                    a, b = texts[row.qa_id], texts[earlier.qa_id]
                    score = len(a & b) / len(a | b) if a | b else 0.0
                    if score >= self.config.threshold:
                        dropped[row.qa_id] = self.reject(
                            row, RejectReason.NEAR_DUPLICATE,
                            f"near-duplicate of {earlier.qa_id} in task {earlier.task} (Jaccard {score:.2f})")
                        break
        return [r for r in rows if r.qa_id not in dropped], list(dropped.values())

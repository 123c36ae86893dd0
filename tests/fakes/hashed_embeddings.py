"""Deterministic, cheap sentence vectors for the fake server's /v1/embeddings: each lower-cased word
adds +-1 at a hashed position (a signed feature hash), and the vector is L2-normalised. Texts that
share words get a positive cosine, texts that share none about 0, the same text always the same
vector: enough for de-leak's "does this sentence say the answer" without a model."""

from __future__ import annotations

import base64
import hashlib
import re

import numpy as np

DIM = 384
_WORD = re.compile(r"[a-z0-9]+")


def _feature(word: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, 1.0 if (value >> 63) & 1 else -1.0


def hashed_vectors(texts: list[str], dim: int = DIM) -> np.ndarray:
    """(n, dim) float32, rows of norm 1 (a text without words gets a fixed unit vector)."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in _WORD.findall(text.lower()):
            index, sign = _feature(word, dim)
            out[row, index] += sign
        if not out[row].any():
            out[row, 0] = 1.0
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def embedding_reply(body: dict, dim: int = DIM) -> dict:
    """An OpenAI-style /embeddings answer for `body` (input: a string or a list of strings;
    encoding_format float or base64, as the openai SDK asks by default)."""
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else list(texts or [])
    vectors = hashed_vectors([str(t) for t in texts], dim)
    as_base64 = body.get("encoding_format") == "base64"
    data = [{"object": "embedding", "index": i,
             "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode() if as_base64 else v.tolist()}
            for i, v in enumerate(vectors)]
    tokens = sum(len(_WORD.findall(str(t))) for t in texts)
    return {"object": "list", "data": data, "model": body.get("model", "fake-embed"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

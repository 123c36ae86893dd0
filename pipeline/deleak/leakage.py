"""How much a context gives a QA's answer away: answer-word overlap plus embedding similarity.

    overlap    = share of the answer's content words that occur in the context
    similarity = highest cosine similarity between the answer and any context sentence (MiniLM),
                 clipped to [0, 1]; per sentence, because one telling sentence is enough to leak
    score      = (w_o * overlap + w_e * similarity) / (w_o + w_e)

An empty context, or an answer with no content words and no text, scores 0.

The embedder is the local MiniLM (pipeline.embeddings) or an /embeddings endpoint
(pipeline.embeddings_endpoint). When the endpoint fails, a batch is scored with the `fallback`
(the local MiniLM) and a warning is logged: a run never stops for it, and every row keeps a score.
`scorer_id` names the primary model; it enters the de-leak stage's settings fingerprint.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)
LOCAL_SCORER_ID = "all-MiniLM-L6-v2"
WARN_EVERY_S = 60.0  # an endpoint outage falls back on every batch; say so once a minute, not per batch

WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
STOPWORDS = frozenset(
    """a an the and or but if of in on at to for from by with without into onto over under as is are was were
    be been being this that these those it its it's they them their there here which who whom whose what when
    where why how all any both each few more most other some such no nor not only own same so than too very can
    will just should now do does did done has have had having also may might must shall would could about above
    below after before between through during up down out off again further then once per via vs figure fig
    panel image shows shown show""".split()
)


def content_words(text: str) -> set[str]:
    """Lower-cased words that carry meaning: no stop words, at least 3 letters unless a number."""
    return {w for w in WORD.findall(text.lower()) if w not in STOPWORDS and (len(w) >= 3 or w.isdigit())}


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text or "") if s.strip()]


def overlap(context: str, answer: str) -> float:
    answer_words = content_words(answer)
    if not answer_words:
        return 0.0
    return len(answer_words & content_words(context)) / len(answer_words)


@dataclass(frozen=True)
class Leakage:
    overlap: float
    similarity: float
    score: float


Embedder = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class LocalEmbedder:
    """The bundled MiniLM on this machine (pipeline.embeddings); `threads`: torch threads while it
    encodes (0 or None: torch's default, as EmbedRole.threads defaults to)."""

    threads: int | None = None

    def __call__(self, texts: list[str]) -> np.ndarray:
        from pipeline.embeddings import embed

        return embed(texts, threads=self.threads)


_default_embedder = LocalEmbedder()


class _VectorMemo:
    """Embeddings of recently seen texts (LRU, bounded). A figure's caption and paragraph sentences
    come back as context in every QA task and again when a rewrite is scored; each is embedded
    once. 16k vectors of 384 floats are ~25 MB."""

    def __init__(self, size: int = 16384) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict:
        # Stages travel to Dask worker processes inside the scorer: a cache (and its lock) does not;
        # each process fills its own.
        return {"size": self.size}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["size"])

    def embed(self, embedder: Embedder, texts: list[str]) -> np.ndarray:
        with self._lock:
            known = {t: self._vectors[t] for t in dict.fromkeys(texts) if t in self._vectors}
            for t in known:
                self._vectors.move_to_end(t)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            fresh = embedder(missing)
            with self._lock:
                for t, v in zip(missing, fresh, strict=True):
                    # a copy: a row view would keep its whole batch alive until every row is evicted
                    known[t] = self._vectors[t] = v.copy()
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return np.stack([known[t] for t in texts])


def _is_endpoint_failure(exc: BaseException) -> bool:
    from pipeline.embeddings_endpoint import EmbeddingEndpointError

    return isinstance(exc, EmbeddingEndpointError)


@dataclass
class LeakageScorer:
    overlap_weight: float = 0.5
    embedding_weight: float = 0.5
    embedder: Embedder = _default_embedder
    memo: _VectorMemo = field(default_factory=_VectorMemo, repr=False, compare=False)
    scorer_id: str = LOCAL_SCORER_ID
    # used for a batch the embedder could not embed (an endpoint down); None: the failure propagates
    fallback: Embedder | None = None
    fallback_memo: _VectorMemo = field(default_factory=_VectorMemo, repr=False, compare=False)
    fallbacks: int = field(default=0, repr=False, compare=False)  # batches scored by the fallback
    _warned_at: float = field(default=float("-inf"), repr=False, compare=False)

    @property
    def uses_local_model(self) -> bool:
        """Whether scoring loads the local MiniLM in this process (a build preloads it then)."""
        return self.embedding_weight > 0 and isinstance(self.embedder, LocalEmbedder)

    def _vectors(self, texts: list[str]) -> np.ndarray:
        """Vectors of `texts`, all from one model: the embedder's, or the fallback's for the whole
        batch (their dimensions and scales need not agree, so a batch never mixes them)."""
        try:
            return self.memo.embed(self.embedder, texts)
        except Exception as exc:
            if self.fallback is None or not _is_endpoint_failure(exc):
                raise
            self.fallbacks += 1
            now = time.monotonic()
            if now - self._warned_at >= WARN_EVERY_S:
                self._warned_at = now
                log.warning("de-leak: %s; scoring with the local %s instead (%d batch(es) so far)",
                            exc, LOCAL_SCORER_ID, self.fallbacks)
            return self.fallback_memo.embed(self.fallback, texts)

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[Leakage]:
        """Leakage of each (context, answer) pair; all texts are embedded in one batch."""
        texts: list[str] = []
        spans: list[tuple[int, int, int] | None] = []
        for context, answer in pairs:
            sents = sentences(context)
            if not sents or not answer.strip() or self.embedding_weight == 0:
                spans.append(None)
                continue
            start = len(texts)
            texts.append(answer)
            texts.extend(sents)
            spans.append((start, start + 1, start + 1 + len(sents)))
        vectors = self._vectors(texts) if texts else None  # each distinct text once
        out = []
        total = self.overlap_weight + self.embedding_weight
        for (context, answer), span in zip(pairs, spans, strict=True):
            ov = overlap(context, answer) if context.strip() else 0.0
            sim = 0.0
            if span is not None and vectors is not None:
                a, s0, s1 = span
                sim = float(np.clip((vectors[s0:s1] @ vectors[a]).max(), 0.0, 1.0))
            out.append(Leakage(ov, sim, (self.overlap_weight * ov + self.embedding_weight * sim) / total))
        return out

    def score(self, context: str, answer: str) -> Leakage:
        return self.score_many([(context, answer)])[0]


def make_scorer(overlap_weight: float = 0.5, embedding_weight: float = 0.5, embed_role=None) -> LeakageScorer:
    """The scorer for a build: the local MiniLM, or the endpoint `embed_role` (pipeline.engine.settings
    EmbedRole) configures, with the local MiniLM as its fallback."""
    local = LocalEmbedder(embed_role.threads) if embed_role is not None else _default_embedder
    if embed_role is None or not embed_role.uses_endpoint:
        return LeakageScorer(overlap_weight, embedding_weight, embedder=local)
    from pipeline.embeddings_endpoint import EndpointEmbedder

    endpoint = EndpointEmbedder(embed_role)
    return LeakageScorer(overlap_weight, embedding_weight, embedder=endpoint, scorer_id=endpoint.scorer_id,
                         fallback=local)

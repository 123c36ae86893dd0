"""Leakage scores with the real offline MiniLM model, and the deterministic redaction."""

from __future__ import annotations

import pytest

from pipeline.deleak.leakage import LeakageScorer, content_words, overlap
from pipeline.deleak.redact import MASK, redact
from pipeline.embeddings import embed, model_dir

CONTEXT = (
    "Mice were treated with drug X for four weeks. "
    "Tumour volume fell by half in the treated group. "
    "Control animals received saline."
)
ANSWER = "Tumour volume fell by half."


def test_model_is_found_in_the_installed_package() -> None:
    assert (model_dir() / "modules.json").is_file()
    vectors = embed(["a", "b"])
    assert vectors.shape == (2, 384)
    assert vectors @ vectors[0] == pytest.approx([1.0, float(vectors[1] @ vectors[0])], abs=1e-5)


def test_content_words_and_overlap() -> None:
    assert content_words("The tumour in Figure 2 grew 3-fold") == {"tumour", "grew", "3-fold", "2"}
    assert overlap(CONTEXT, ANSWER) == 1.0
    assert overlap("Nothing related here.", ANSWER) == 0.0
    assert overlap(CONTEXT, "the of and") == 0.0


def test_a_telling_context_scores_higher(scorer: LeakageScorer) -> None:
    leaking, neutral, empty = scorer.score_many(
        [(CONTEXT, ANSWER), ("Mice were housed in standard cages with free access to water.", ANSWER), ("", ANSWER)]
    )
    assert leaking.overlap == 1.0 and leaking.similarity > 0.7 and leaking.score > 0.8
    assert neutral.score < 0.4 < leaking.score
    assert empty.score == 0.0 and empty.similarity == 0.0


def test_weights_are_respected() -> None:
    only_words = LeakageScorer(overlap_weight=1.0, embedding_weight=0.0)
    assert only_words.score(CONTEXT, ANSWER).score == 1.0
    assert only_words.score("unrelated words entirely", ANSWER).score == 0.0


def test_redaction_removes_the_answer(scorer: LeakageScorer) -> None:
    text = redact(CONTEXT, ANSWER)
    assert "Tumour volume fell" not in text and "saline" in text
    assert redact(CONTEXT, ANSWER) == text  # deterministic
    masked = redact("Volume was measured weekly. The drug works.", "tumour volume after dosing")
    assert masked == f"{MASK} was measured weekly. The drug works."
    assert scorer.score(text, ANSWER).score < scorer.score(CONTEXT, ANSWER).score


def test_a_scorer_travels_to_another_process_without_its_cache():
    """Stages hold the scorer, and the Dask runner pickles stages to its worker processes."""
    import pickle

    import numpy as np

    scorer = LeakageScorer(overlap_weight=0.3, embedding_weight=0.7)
    scorer.memo.embed(lambda texts: np.ones((len(texts), 3)), ["seen"])
    copy = pickle.loads(pickle.dumps(scorer))
    assert copy.memo.size == scorer.memo.size and not copy.memo._vectors
    assert copy.overlap_weight == scorer.overlap_weight and copy.embedding_weight == scorer.embedding_weight


def test_the_memo_keeps_its_own_vectors_not_views_of_a_batch():
    """An evicted entry must free its memory: a stored row view would keep its whole batch alive."""
    import numpy as np

    from pipeline.deleak.leakage import _VectorMemo

    batches = []

    def embedder(texts):
        batch = np.random.default_rng(0).random((len(texts), 8), dtype=np.float32)
        batches.append(batch)
        return batch

    memo = _VectorMemo(size=2)
    out = memo.embed(embedder, ["a", "b", "c"])
    assert out.shape == (3, 8) and np.allclose(out, batches[0])
    stored = list(memo._vectors.values())
    assert len(stored) == 2 and not any(np.shares_memory(v, batches[0]) for v in stored)

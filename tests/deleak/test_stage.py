"""The de-leak stage's plan/finish: pass-through, accepted rewrites, redaction fallback, and rows
without images (text_qa), which keep their context: it is all a reader has to answer from."""

from __future__ import annotations

from pathlib import Path

import pytest
from qa_upstream import error_result, hand_result, make_qa, run_by_hand

from pipeline.deleak import DeleakConfig, DeleakStage, LeakageScorer
from pipeline.io.parquet import write_rows
from schemas import Figure, Method, QARow, SourceFormat

LEAKY = "Mice were treated for four weeks. Tumour volume fell by half in the treated group."
ANSWER = "Tumour volume fell by half."
IMAGE = ["/images/f.png"]  # de-leakage is for rows with an image to look at


@pytest.fixture()
def shard(tmp_path: Path) -> Path:
    figures = [
        Figure(figure_id=f"A{i}/f", article_id=f"A{i}", caption="c", source_format=SourceFormat.M3LLM, source_path="x")
        for i in range(6)
    ]
    rows = [
        make_qa("compound_qa/A0/f/0", answer=ANSWER, context=LEAKY, image_paths=IMAGE),
        make_qa("compound_qa/A1/f/0", answer=ANSWER, context=LEAKY, image_paths=IMAGE),
        make_qa("compound_qa/A2/f/0", answer=ANSWER, context=LEAKY, image_paths=IMAGE),
        make_qa("compound_qa/A3/f/0", answer=ANSWER, context="Animals were housed in standard cages.", image_paths=IMAGE),
        make_qa("compound_qa/A4/f/0", answer=ANSWER, context="", image_paths=IMAGE),
        make_qa("compound_qa/A5/f/0", answer=ANSWER, context=LEAKY),  # no image: nothing else to answer from
    ]
    write_rows(tmp_path / "figures" / "part-00000.parquet", figures, Figure)
    write_rows(tmp_path / "qa" / "compound_qa" / "part-00000.parquet", rows, QARow)
    return tmp_path


def test_deleak_stage(shard: Path, scorer: LeakageScorer) -> None:
    stage = DeleakStage("compound_qa", DeleakConfig(threshold=0.4), scorer=scorer)
    assert stage.name == "deleak.compound_qa" and stage.output_table == "deleaked/compound_qa"
    assert stage.input_tables == ("figures", "qa/compound_qa")
    answers = {
        "compound_qa/A0/f/0": lambda r: hand_result(r, context="Mice were treated for four weeks and then measured."),
        "compound_qa/A1/f/0": lambda r: hand_result(r, context=LEAKY),  # the "rewrite" still leaks
        "compound_qa/A2/f/0": error_result,
    }
    rows, rejects, items = run_by_hand(stage, shard, lambda r: answers[r.key](r))
    assert not rejects and len(rows) == 6
    assert [i.request is not None for i in items] == [True, True, True, False, False, False]
    by_id = {r.qa_id: r for r in rows}

    rewritten = by_id["compound_qa/A0/f/0"]
    assert rewritten.context == "Mice were treated for four weeks and then measured."
    assert rewritten.context_original == LEAKY
    assert rewritten.leakage_after < rewritten.leakage_before
    assert rewritten.deleak_provenance.method is Method.TEXT_MODEL
    assert f"Context: {rewritten.context}" in rewritten.conversation[0].value and "fell" not in rewritten.conversation[0].value

    for qa_id in ("compound_qa/A1/f/0", "compound_qa/A2/f/0"):  # still leaking / failed call: redaction
        row = by_id[qa_id]
        assert row.deleak_provenance.template_name == "deleak.redact"
        assert row.context == "Mice were treated for four weeks."
        assert row.leakage_after < row.leakage_before

    for qa_id in ("compound_qa/A3/f/0", "compound_qa/A4/f/0"):  # under the threshold: untouched
        row = by_id[qa_id]
        assert row.leakage_after == row.leakage_before < 0.4 and row.deleak_provenance is None
        assert row.context == row.context_original

    # no image: the leaking context is the row's only source of its answer, so it stays, marked
    text_only = by_id["compound_qa/A5/f/0"]
    assert text_only.context == text_only.context_original == LEAKY
    assert text_only.leakage_after == text_only.leakage_before >= 0.4
    assert text_only.deleak_provenance.method is Method.RULE
    assert text_only.deleak_provenance.template_name == "deleak.text_only"
    assert f"Context: {LEAKY}" in text_only.conversation[0].value


def test_settings_change_the_config_hash(scorer: LeakageScorer) -> None:
    a = DeleakStage("text_qa", DeleakConfig(threshold=0.4), scorer=scorer)
    b = DeleakStage("text_qa", DeleakConfig(threshold=0.5), scorer=scorer)
    c = DeleakStage("bbox_qa", DeleakConfig(threshold=0.4), scorer=scorer)
    assert len({a.config_hash({}), b.config_hash({}), c.config_hash({})}) == 3


def test_batched_scoring_gives_the_per_row_outcome(tmp_path: Path, scorer: LeakageScorer) -> None:
    """prepare() scores a shard's rewrites (then its redactions) in one embedding batch each; the
    rows equal those of scoring every row alone (up to float32 rounding of the embeddings)."""
    from pipeline.stages.base import ShardInputs

    n = 24
    figures = [Figure(figure_id=f"A{i}/f", article_id=f"A{i}", caption="c", source_format=SourceFormat.M3LLM,
                      source_path="x") for i in range(n)]
    rows = [make_qa(f"single_panel_qa/A{i}/f/0", answer=ANSWER, image_paths=IMAGE,
                    context=f"Group {i} was followed for {i + 2} weeks. " + LEAKY) for i in range(n)]
    write_rows(tmp_path / "figures" / "part-00000.parquet", figures, Figure)
    write_rows(tmp_path / "qa" / "single_panel_qa" / "part-00000.parquet", rows, QARow)
    replies = [  # a clean rewrite, a rewrite that still leaks, a failed call, a too-short rewrite
        lambda r, i: hand_result(r, context=f"Cohort {i} was treated for several weeks and then measured."),
        lambda r, i: hand_result(r, context=LEAKY),
        lambda r, i: error_result(r),
        lambda r, i: hand_result(r, context="Short."),
    ]

    def answer(req):
        i = int(req.key.split("/")[1][1:])
        return replies[i % len(replies)](req, i)

    calls: list[list[str]] = []

    def counting(texts):
        calls.append(list(texts))
        return scorer.embedder(texts)

    alone, _, _ = run_by_hand(DeleakStage("single_panel_qa", DeleakConfig(threshold=0.4), scorer=scorer), tmp_path, answer)

    batch_scorer = LeakageScorer(scorer.overlap_weight, scorer.embedding_weight, embedder=counting)
    stage = DeleakStage("single_panel_qa", DeleakConfig(threshold=0.4), scorer=batch_scorer)
    items = list(stage.plan(ShardInputs(tmp_path, "part-00000.parquet")))
    results = {i.key: answer(i.request) for i in items if i.request is not None}
    calls.clear()
    stage.prepare(items, results)
    # one batch of rewrites, one of redactions (none when all its sentences were seen): never per row
    assert 1 <= len(calls) <= 2
    seen = [t for batch in calls for t in batch]
    assert len(seen) == len(set(seen))  # and no text embedded twice
    n_calls = len(calls)
    batched = [row for item in items for row in stage.finish(item, results.get(item.key))]
    assert len(calls) == n_calls  # finish used the prepared scores

    assert len(batched) == len(alone) == n
    methods = set()
    for a, b in zip(alone, batched, strict=True):
        assert (a.qa_id, a.context, a.conversation) == (b.qa_id, b.context, b.conversation)
        assert (a.deleak_provenance is None) == (b.deleak_provenance is None)
        if a.deleak_provenance is not None:
            assert a.deleak_provenance.template_name == b.deleak_provenance.template_name
            methods.add(a.deleak_provenance.method)
        assert a.leakage_before == pytest.approx(b.leakage_before, abs=1e-6)
        assert a.leakage_after == pytest.approx(b.leakage_after, abs=1e-6)
    assert methods == {Method.TEXT_MODEL, Method.RULE}  # both kinds of candidate were exercised


class _Jittered(LeakageScorer):
    """The real scorer, with float noise far below any meaningful difference: +-1e-7 depending on
    the text, as the same sentence scored in matrices of different shapes gets on some CPUs."""

    sign = 1.0

    def score_many(self, pairs):
        out = super().score_many(pairs)
        return [
            type(leak)(leak.overlap, leak.similarity, leak.score + self.sign * (1e-7 if ctx.startswith("Group") else -1e-7))
            for leak, (ctx, _) in zip(out, pairs, strict=True)
        ]


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_float_noise_never_changes_which_context_is_kept(tmp_path: Path, scorer: LeakageScorer, sign: float) -> None:
    """A "rewrite" that drops only a harmless sentence scores the same as the original (its most
    telling sentence is still there). Which side of the tie float noise lands on must not decide
    between keeping the rewrite and redacting: a tie is a tie (CI once kept the rewrite here)."""
    figures = [Figure(figure_id="A1/f", article_id="A1", caption="c", source_format=SourceFormat.M3LLM, source_path="x")]
    original = "Group 1 was followed for 3 weeks. " + LEAKY
    write_rows(tmp_path / "figures" / "part-00000.parquet", figures, Figure)
    write_rows(tmp_path / "qa" / "single_panel_qa" / "part-00000.parquet",
               [make_qa("single_panel_qa/A1/f/0", answer=ANSWER, image_paths=IMAGE, context=original)], QARow)

    def answer(req):
        return hand_result(req, context=LEAKY)

    exact, _, _ = run_by_hand(DeleakStage("single_panel_qa", DeleakConfig(threshold=0.4), scorer=scorer), tmp_path, answer)
    jittered = _Jittered(scorer.overlap_weight, scorer.embedding_weight, embedder=scorer.embedder, memo=scorer.memo)
    jittered.sign = sign
    noisy, _, _ = run_by_hand(DeleakStage("single_panel_qa", DeleakConfig(threshold=0.4), scorer=jittered), tmp_path, answer)
    assert exact[0].context == noisy[0].context == "Group 1 was followed for 3 weeks. Mice were treated for four weeks."
    assert noisy[0].deleak_provenance.template_name == "deleak.redact"

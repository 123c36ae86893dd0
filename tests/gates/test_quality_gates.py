"""The gates for the defects found by reading a demo build row by row: each drops its defect (examples
re-told in our own words from that reading) with its own reason and keeps the sound rows beside it."""

from __future__ import annotations

from qa_upstream import PROV, make_qa

from pipeline.deleak.redact import unreadable
from pipeline.echo import EchoBank
from pipeline.gates import (
    ContextGate, DedupGate, EchoGate, GenericQuestionGate, GroundedGate, RowGate, TruncatedGate,
)
from schemas import Method, Provenance, RejectReason

CAPTION = ("Heat map of CTSZ mRNA in tumour and matching normal tissue; expression is higher in most "
           "tumours, most clearly in blood cancers.")


def verdicts(gate: RowGate, rows) -> dict[str, RejectReason | None]:
    return {r.qa_id: (f.reason if (f := gate.check(r)) else None) for r in rows}


def test_echo_bank_knows_the_templates_and_schemas() -> None:
    bank = EchoBank.from_prompts()
    for echo in ("2-3 sentences of knowledge needed to read", "empty list if none", "image or plot types",
                 "key_findings", "{", "][", "background knowledge a reader needs to interpret the figure"):
        assert bank.echoes(echo), echo
    for real in ("MRI", "bar chart", "histology", "CTSZ is higher in tumours than in normal tissue.",
                 "What does the heat map show about CTSZ in blood cancers?", "Which image shows the lung?"):
        assert bank.echoes(real) is None, real


def test_echo_gate() -> None:
    rows = [
        make_qa("text_qa/f/0", answer="CTSZ is higher in most tumours.", context=CAPTION),
        make_qa("text_qa/f/1", answer="2-3 sentences of knowledge needed to read", context=CAPTION),
        make_qa("compound_qa/f/0", question="What do the modalities image or plot types show?", context=CAPTION),
        make_qa("text_qa/f/2", answer="{", context=CAPTION),
    ]
    assert verdicts(EchoGate(), rows) == {
        "text_qa/f/0": None, "text_qa/f/1": RejectReason.PROMPT_ECHO,
        "compound_qa/f/0": RejectReason.PROMPT_ECHO, "text_qa/f/2": RejectReason.PROMPT_ECHO,
    }


def test_generic_question_gate() -> None:
    rows = [
        make_qa("text_qa/f/0", question="What is the answer to the question?", answer="doses shown"),
        make_qa("compound_qa/f/0", question="What is the image's title?"),
        make_qa("mcq_selection/f/0", question="Which image shows this image shows a mockup of a cell?",
                options=["Image-1", "Image-2"], answer_letter="A", answer="A. Image-1"),
        make_qa("single_panel_qa/f/0", question="What does this image show?"),
        make_qa("single_panel_qa/f/1", question="What does Panel B show about CTSZ in blood cancers?"),
        make_qa("mcq_selection/f/1", question="Which image shows a heat map of CTSZ expression?",
                options=["Image-1", "Image-2"], answer_letter="B", answer="B. Image-2"),
    ]
    found = verdicts(GenericQuestionGate(), rows)
    assert [q for q, v in found.items() if v is RejectReason.QUESTION_GENERIC] == [
        "text_qa/f/0", "compound_qa/f/0", "mcq_selection/f/0", "single_panel_qa/f/0"]
    assert found["single_panel_qa/f/1"] is None and found["mcq_selection/f/1"] is None


def test_truncated_gate_reads_finish_reason() -> None:
    cut = PROV.model_copy(update={"finish_reason": "length", "tokens_out": 48})
    rows = [
        make_qa("text_qa/f/0", answer="The edge-d").model_copy(update={"provenance": cut}),
        make_qa("text_qa/f/1", answer="It uses a dye.").model_copy(
            update={"provenance": PROV.model_copy(update={"finish_reason": "stop"})}),
        make_qa("text_qa/f/2", answer="Tumour growth in treated mice."),  # no finish reason recorded
    ]
    assert verdicts(TruncatedGate(), rows) == {
        "text_qa/f/0": RejectReason.ANSWER_TRUNCATED, "text_qa/f/1": None, "text_qa/f/2": None}


def test_context_gate() -> None:
    rows = [
        make_qa("text_qa/f/0", context="", context_original=CAPTION),  # de-leakage left nothing
        make_qa("text_qa/f/1", context="[...] [...] in [...] [...].", context_original=CAPTION),
        make_qa("compound_qa/f/0", context="", image_paths=["x.png"]),  # the image carries it
        make_qa("compound_qa/f/1", context="[...] of [...] in [...] [...].", image_paths=["x.png"]),
        make_qa("text_qa/f/2", context=CAPTION),
    ]
    assert verdicts(ContextGate(), rows) == {
        "text_qa/f/0": RejectReason.CONTEXT_EMPTY, "text_qa/f/1": RejectReason.CONTEXT_EMPTY,
        "compound_qa/f/0": None, "compound_qa/f/1": RejectReason.CONTEXT_EMPTY, "text_qa/f/2": None,
    }
    assert unreadable("[...] [...] in [...] [...]") and not unreadable(CAPTION)


def test_grounded_gate_uses_the_figure_support() -> None:
    support = {"f": CAPTION + "\nPerception: a red and blue grid of coloured cells.\nKnowledge: CTSZ is a cathepsin."}
    rows = [
        make_qa("text_qa/f/0", answer="Higher CTSZ in tumours, clearest in blood cancers.", context=CAPTION),
        # text-only and de-leaked: the caption held the answer, the shown context does not
        make_qa("text_qa/f/2", answer="Higher CTSZ in tumours, clearest in blood cancers.",
                context="This figure comes from a biomedical study.", context_original=CAPTION),
        make_qa("compound_qa/f/0", answer="A grid of coloured cells.", image_paths=["x.png"]),
        make_qa("text_qa/f/1", answer="Doubled survival in elderly patients after therapy.", context=CAPTION),
        make_qa("mcq_selection/f/0", options=["Image-1", "Image-2"], answer_letter="A", answer="A. Image-1"),
        make_qa("bbox_qa/f/0", answer="Panel A is left of Panel B.").model_copy(
            update={"provenance": Provenance(method=Method.GEOMETRY, backend="none")}),
    ]
    assert verdicts(GroundedGate(support), rows) == {
        "text_qa/f/0": None, "text_qa/f/2": RejectReason.ANSWER_UNGROUNDED, "compound_qa/f/0": None,
        "text_qa/f/1": RejectReason.ANSWER_UNGROUNDED, "mcq_selection/f/0": None, "bbox_qa/f/0": None,
    }
    assert GroundedGate({}).check(rows[2]) is not None  # an image row without support: nothing grounds it


def test_grounded_gate_checks_the_numbers_an_answer_states() -> None:
    """A number the row never showed is invented, even when the words around it are all supported."""
    context = "Tracer uptake in synthetic spheroids. (C) Uptake over 48 hours for two dose levels."
    support = {"g": "Circular maps of the large and small chromosomes. The genome has 4,627,366 base pairs (Figure 1)."}
    rows = [
        make_qa("text_qa/f/0", question="What is the average uptake of the tracer within 48 hours?",
                answer="The average uptake of the tracer within 48 hours is 1.5%.", context=context),
        make_qa("text_qa/f/1", question="How long was tracer uptake followed?",
                answer="Uptake was followed over 48 hours.", context=context),
        make_qa("compound_qa/g/0", question="How large is the genome?", answer="4627366 base pairs in large and small chromosomes.",
                image_paths=["x.png"]),
        make_qa("compound_qa/g/1", question="How large is the genome?", answer="About 12.5 million base pairs.",
                image_paths=["x.png"]),
        make_qa("multi_panel_qa/g/0", question="How do the maps differ?",
                answer="Image-1 shows the large chromosome and Image-2 the small one.", image_paths=["a.png", "b.png"]),
    ]
    found = verdicts(GroundedGate(support), rows)
    assert found == {"text_qa/f/0": RejectReason.ANSWER_UNGROUNDED, "text_qa/f/1": None, "compound_qa/g/0": None,
                     "compound_qa/g/1": RejectReason.ANSWER_UNGROUNDED, "multi_panel_qa/g/0": None}
    assert "1.5" in GroundedGate(support).check(rows[0]).detail


def test_grounded_gate_keeps_each_figures_support_apart() -> None:
    """One gate judges a whole build: each figure's parsed support is reused for its rows and never
    lends words or numbers to another figure's rows, also after it was evicted and parsed again."""
    n = GroundedGate.RECENT_FIGURES + 6
    support = {f"g{k}": f"Figure {k}: uptake of tracer {k} rose to {k + 100} counts in liver lobe {k}." for k in range(n)}
    rows = []
    for k in list(range(n)) + [0, n - 1, 3]:  # back to early figures once they have left the cache
        other = (k + 1) % n
        rows += [make_qa(f"compound_qa/g{k}/own{len(rows)}", answer=f"Tracer {k} uptake rose to {k + 100} counts.",
                         image_paths=["x.png"]),
                 make_qa(f"compound_qa/g{k}/other{len(rows)}", answer=f"Tracer {other} uptake rose to {other + 100} counts.",
                         image_paths=["x.png"])]
    shared = GroundedGate(support)
    for row in rows:
        alone = GroundedGate(support).check(row)
        verdict = shared.check(row)
        assert (verdict is None) == (alone is None) == ("/own" in row.qa_id), row.qa_id
        assert verdict is None or verdict.detail == alone.detail


def test_generic_gate_reads_past_possessives() -> None:
    """"image's" is the image: a question about the image's or the study's purpose names nothing shown."""
    rows = [
        make_qa("single_panel_qa/f/0", question="What is the image's purpose?", image_paths=["x.png"]),
        make_qa("single_panel_qa/f/1", question="What was the study's purpose?", image_paths=["x.png"]),
        make_qa("single_panel_qa/f/2", question="What does the study's knockout liver section show?",
                image_paths=["x.png"], answer="Denser nuclei after treatment."),
    ]
    assert verdicts(GenericQuestionGate(), rows) == {
        "single_panel_qa/f/0": RejectReason.QUESTION_GENERIC, "single_panel_qa/f/1": RejectReason.QUESTION_GENERIC,
        "single_panel_qa/f/2": None}


def test_dedup_drops_the_same_qa_across_tasks_of_one_figure() -> None:
    q, a = "What does the heat map show about CTSZ?", "CTSZ is higher in most tumours than in normal tissue."
    rows = [
        make_qa("text_qa/fig1/0", question=q, answer=a, context=CAPTION),
        make_qa("compound_qa/fig1/0", question=q, answer=a, context=CAPTION, image_paths=["x.png"]),
        # another figure's image: its own sample, whatever the wording
        make_qa("compound_qa/fig2/0", question=q, answer=a, context=CAPTION, image_paths=["y.png"]),
    ]
    kept, rejects = DedupGate().apply(rows)
    assert sorted(r.qa_id for r in kept) == ["compound_qa/fig1/0", "compound_qa/fig2/0"]
    assert [(r.item, r.reason) for r in rejects] == [("text_qa/fig1/0", RejectReason.NEAR_DUPLICATE)]
    assert "compound_qa/fig1/0" in rejects[0].detail

"""The embedded backend for real: the shipped SmolLM2-135M, batched, with grammar-constrained JSON."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from pipeline.engine import ChatMessage, ChatRequest, Sampling, TemplateRef
from schemas.provenance import Method

pytestmark = pytest.mark.slow


class Finding(BaseModel):
    modality: str
    organ: str
    abnormal: bool


CAPTIONS = [
    "Axial T2-weighted MRI of the brain showing a hyperintense lesion in the left temporal lobe.",
    "Chest radiograph showing a right lower lobe consolidation.",
    "H&E stained liver biopsy with macrovesicular steatosis.",
]


def _req(i: int, caption: str, model=Finding, max_tokens=48) -> ChatRequest:
    return ChatRequest(key=f"emb-{i}", output_model=model, sampling=Sampling(max_tokens=max_tokens),
                       messages=[ChatMessage(role="system", text="Extract facts from a figure caption."),
                                 ChatMessage(role="user", text=f"Caption: {caption}")],
                       template=TemplateRef(name="test-finding", version="1"))


def test_embedded_batch_constrained_json_validates(embedded_engine):
    reqs = [_req(i, c) for i, c in enumerate(CAPTIONS)]
    reqs.append(ChatRequest(key="free-text", messages=[ChatMessage(role="user", text="Name one imaging method.")],
                            template=TemplateRef(name="test-free", version="1"), sampling=Sampling(max_tokens=12)))
    before = embedded_engine.stats
    results = embedded_engine.run(reqs)
    assert [r.key for r in results] == [r.key for r in reqs]
    for res in results[:3]:
        assert res.ok, res.error
        assert isinstance(res.parsed, Finding) and res.parsed.modality and res.parsed.organ
        assert Finding.model_validate_json(res.text) == res.parsed
        prov = res.provenance
        assert prov.backend == "embedded" and "SmolLM2-135M" in prov.model_id
        assert prov.method == Method.TEXT_MODEL and 0 < prov.tokens_out <= 48 and prov.tokens_in > 10
    assert results[3].ok and results[3].parsed is None and results[3].text.strip()
    after = embedded_engine.stats
    # three structured requests share one schema and sampling: one generate() call for them
    assert after.batches - before.batches == 2 and after.model_calls - before.model_calls == 4


def test_embedded_is_deterministic_at_temperature_zero(embedded_engine):
    first = embedded_engine.run([_req(0, CAPTIONS[1])])[0]
    second = embedded_engine.run([_req(0, CAPTIONS[1])])[0]
    assert first.ok and first.text == second.text


def test_embedded_refuses_images_instead_of_ignoring_them(embedded_engine, tmp_path):
    from PIL import Image

    img = tmp_path / "x.png"
    Image.new("RGB", (8, 8)).save(img)
    req = ChatRequest(key="img", messages=[ChatMessage(role="user", text="What is shown?", images=[str(img)])],
                      template=TemplateRef(name="t", version="1"))
    [res] = embedded_engine.run([req])
    assert not res.ok and "cannot see images" in res.error


def test_batched_answers_equal_one_at_a_time(embedded_engine):
    """The batch shares its prompt prefix and drops answers once they end (pipeline.engine.decode);
    neither may change an answer: greedy decoding gives each prompt the answer it gets alone."""
    from pipeline.engine.decode import shared_prefix

    captions = CAPTIONS + ["Fluorescence micrograph of HeLa cells stained for tubulin (green) and DNA (blue), "
                           "imaged after 24 hours of nocodazole treatment; scale bar 10 um."]
    reqs = [_req(i, c) for i, c in enumerate(captions)]
    batched = embedded_engine.run(reqs)
    alone = [embedded_engine.run([r])[0] for r in reqs]
    assert all(r.ok for r in batched)
    assert [r.text for r in batched] == [r.text for r in alone]
    assert [r.provenance.tokens_out for r in batched] == [r.provenance.tokens_out for r in alone]
    assert len({r.provenance.tokens_out for r in batched}) > 1  # answers of different lengths: rows left early
    assert shared_prefix([[1, 2, 3, 4, 5, 9], [1, 2, 3, 4, 5, 6, 7]]) == 5
    assert shared_prefix([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]]) == 4  # each row keeps a token of its own
    assert shared_prefix([[1, 2, 3], [1, 2, 4]]) == 0  # too short to be worth a forward of its own
    assert shared_prefix([[1, 2, 3, 4, 5, 6]]) == 0

"""The recogniser's lean graph computes what the shipped model computes, and is made once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image, ImageDraw, ImageFont

import pipeline.ingest.recogniser_graph as graph
from pipeline.ingest import panel_labels

SOURCE = Path(__import__("rapidocr_onnxruntime").__file__).parent / "models" / "ch_PP-OCRv4_rec_infer.onnx"


def _session(model: bytes | str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _letter_batch() -> np.ndarray:
    """Printed labels as the recogniser sees them: 48 px high, normalised to [-1, 1]."""
    font = ImageFont.load_default(size=34)
    rows = []
    for text in ("A", "b", "(c)", "D.", "e1", "F"):
        img = Image.new("RGB", (64, 48), "white")
        ImageDraw.Draw(img).text((6, 4), text, fill="black", font=font)
        rows.append((np.asarray(img, np.float32).transpose(2, 0, 1) / 255.0 - 0.5) / 0.5)
    return np.stack(rows)


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PMC_INSTRUCT_MODEL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "ocr"


def test_lean_graph_gives_the_shipped_models_outputs():
    import onnx

    lean = graph.rewrite_bytes(SOURCE.read_bytes())
    before, after = onnx.load(str(SOURCE)).graph, onnx.load_from_string(lean).graph
    ops = lambda g: [n.op_type for n in g.node if n.op_type != "Constant"]  # noqa: E731
    # every hard-swish fused (the shipped model has two HardSigmoids of its own)
    assert ops(after).count("HardSigmoid") == ops(before).count("HardSigmoid") + ops(before).count("Clip")
    assert "Clip" not in ops(after) and ops(after).count("Div") == ops(before).count("Div") - ops(before).count("Clip")
    assert ops(after).count("Add") < ops(before).count("Add") / 2  # scale and shift folded into the convolutions
    batch = _letter_batch()
    want = _session(SOURCE.read_bytes()).run(None, {"x": batch})[0]
    got = _session(lean).run(None, {"x": batch})[0]
    assert np.abs(want - got).max() < 1e-4
    assert (want.argmax(-1) == got.argmax(-1)).all()


def test_lean_model_is_made_once_and_then_loaded(cache, monkeypatch):
    path = graph.lean_model_path(SOURCE)
    assert path.parent == cache and path != SOURCE and path.stat().st_size > 0
    assert not [p for p in cache.iterdir() if p.suffix == ".tmp"]

    def no_rewrite(data: bytes) -> bytes:
        raise AssertionError("rewrote a cached model")

    monkeypatch.setattr(graph, "rewrite_bytes", no_rewrite)
    assert graph.lean_model_path(SOURCE) == path


def test_unwritable_cache_falls_back_to_the_shipped_model(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("PMC_INSTRUCT_MODEL_CACHE", str(blocker / "cache"))
    assert graph.lean_model_path(SOURCE) == SOURCE
    assert "using the original model" in caplog.text


def test_recogniser_reads_letters_on_the_lean_model(cache):
    panel_labels.recogniser.cache_clear()
    panel_labels._char_index.cache_clear()
    try:
        rec = panel_labels.recogniser()
        crops = []
        for text in ("A", "b", "E"):  # letters whose two cases differ in shape
            img = Image.new("RGB", (40, 48), "white")
            ImageDraw.Draw(img).text((6, 4), text, fill="black", font=ImageFont.load_default(size=34))
            crops.append(np.ascontiguousarray(np.asarray(img)[:, :, ::-1]))
        assert [t for t, _ in panel_labels._recognise(rec, crops)] == ["A", "b", "E"]
        assert any(p.name.endswith(f".lean{graph.REWRITE_VERSION}.onnx") for p in cache.iterdir())
    finally:
        panel_labels.recogniser.cache_clear()
        panel_labels._char_index.cache_clear()


def test_a_damaged_cached_graph_falls_back_to_the_shipped_model(cache, caplog):
    """A cached file that is no model (a disk fault, a stray copy): ingest reads letters anyway."""
    panel_labels.recogniser.cache_clear()
    try:
        target = graph.lean_model_path(SOURCE)
        target.write_bytes(b"not an onnx model")
        rec = panel_labels.recogniser()
        img = Image.new("RGB", (40, 48), "white")
        ImageDraw.Draw(img).text((6, 4), "A", fill="black", font=ImageFont.load_default(size=34))
        assert panel_labels._recognise(rec, [np.ascontiguousarray(np.asarray(img)[:, :, ::-1])])[0][0] == "A"
        assert "using the shipped model" in caplog.text
    finally:
        panel_labels.recogniser.cache_clear()

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
    assert np.abs(want - got).max() < 1e-5
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


def test_recogniser_reads_letters_on_the_lean_model(cache, caplog):
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
        assert "using the shipped model" not in caplog.text and "original model" not in caplog.text
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
        assert not target.exists()  # removed: the next process makes it again
    finally:
        panel_labels.recogniser.cache_clear()


def test_rewriter_folds_only_what_keeps_the_function():
    """A small graph with the shapes the rewriter must and must not touch: a bias-less Conv scaled
    per channel (1, C, 1, 1) and shifted by a scalar, then a hard-swish (folded and fused); a Conv
    scaled by a (C, 1, 1, 1) constant, which broadcasts over the batch axis (left alone)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    consts = {"w1": rng.normal(size=(4, 3, 3, 3)), "k1": rng.normal(size=(1, 4, 1, 1)), "b1": np.array(0.25),
              "three": np.array(3.0), "zero": np.array(0.0), "six": np.array(6.0),
              "w2": rng.normal(size=(4, 4, 1, 1)), "k2": rng.normal(size=(4, 1, 1, 1))}
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["c1", "k1"], ["m1"]),
        helper.make_node("Add", ["m1", "b1"], ["a1"]),
        helper.make_node("Add", ["a1", "three"], ["h1"]),
        helper.make_node("Clip", ["h1", "zero", "six"], ["h2"]),
        helper.make_node("Mul", ["a1", "h2"], ["h3"]),
        helper.make_node("Div", ["h3", "six"], ["hs"]),
        helper.make_node("Conv", ["hs", "w2"], ["c2"]),
        helper.make_node("Mul", ["c2", "k2"], ["y"]),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])],
                          [numpy_helper.from_array(v.astype(np.float32), k) for k, v in consts.items()]),
        opset_imports=[helper.make_opsetid("", 12)])
    lean = onnx.load_from_string(graph.rewrite_bytes(model.SerializeToString()))
    assert [n.op_type for n in lean.graph.node] == ["Conv", "HardSigmoid", "Mul", "Conv", "Mul"]
    x = rng.normal(size=(1, 3, 6, 6)).astype(np.float32)
    want = _session(model.SerializeToString()).run(None, {"x": x})[0]
    got = _session(lean.SerializeToString()).run(None, {"x": x})[0]
    assert want.shape == got.shape and np.abs(want - got).max() < 1e-4


def test_candidate_glyphs_are_scipys_boxes():
    """OpenCV's dilation and connected components give the glyph boxes that scipy's
    binary_dilation, label (8-connected) and find_objects gave, on masks of many densities."""
    from scipy import ndimage

    def scipy_glyphs(mask, gap, hi):
        joined = ndimage.binary_dilation(mask, structure=np.ones((1, 2 * gap + 1), bool))
        labels, _ = ndimage.label(joined, structure=np.ones((3, 3), bool))
        return sorted((sl[0].start, sl[1].start + gap, sl[0].stop, sl[1].stop - gap)
                      for sl in ndimage.find_objects(labels) if sl is not None and sl[0].stop - sl[0].start <= hi)

    rng = np.random.default_rng(1)
    for density in (0.001, 0.02, 0.1, 0.3):
        for shape in ((40, 60), (123, 301), (600, 800)):
            mask = rng.random(shape) < density
            for gap, hi in ((1, 30), (2, 200)):
                assert panel_labels._glyphs(mask, gap, hi) == scipy_glyphs(mask, gap, hi)

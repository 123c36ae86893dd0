"""Base vs finetuned on the tiny model, end to end: export eval split + a benchmark -> comparison JSON."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from fakes.openai_server import FakeOpenAIServer
from rich.console import Console

from pipeline.engine import ModelRole, build_engine
from pipeline.engine.settings import load_settings

from pipeline.evaluate import BenchmarkSpec, EvalConfig, evaluate
from pipeline.evaluate.compare import comparison_table
from pipeline.evaluate.predict import generate, load_for_eval
from pipeline.train import TrainConfig, train
from pipeline.train.data import load_samples

pytestmark = pytest.mark.slow


def test_base_vs_finetuned_comparison(internvl_export, tiny_model, tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(data=internvl_export, output_dir=run, model=tiny_model, mode="full", max_steps=6,
                      batch_size=4, lr=1e-2, progress=False))

    bench = tmp_path / "vqa_rad"
    bench.mkdir()
    some_image = next(s for s in load_samples(internvl_export)[0] if s.images).images[0]
    shutil.copy(some_image, bench / "img1.png")
    (bench / "vqa.json").write_text(json.dumps([
        {"image_name": "img1.png", "question": "Is there a red region?", "answer": "yes", "answer_type": "CLOSED"},
        {"image_name": "img1.png", "question": "What colour is the frame?", "answer": "white",
         "answer_type": "OPEN"},
    ]))

    cfg = EvalConfig(output_dir=tmp_path / "eval", data=internvl_export, finetuned=run, max_new_tokens=6,
                     benchmarks=[BenchmarkSpec(name="vqa_rad", path=bench)], progress=False, eval_fraction=0.25,
                     judge=True, limit_per_task=2)
    eval_items = load_samples(internvl_export, split="eval", eval_fraction=0.25)[0]
    eval_tasks = {s.task for s in eval_items}
    expected_n = {t: min(2, sum(s.task == t for s in eval_items)) for t in eval_tasks} | {"vqa_rad": 2}
    with FakeOpenAIServer() as judge_server:
        judge_server.register("judge_answer", {"score": 4, "reason": "close to the reference"})
        role = ModelRole(backend="openai", base_urls=[judge_server.base_url], model="fake-model", timeout_s=5.0)
        engine = build_engine(load_settings(text=role, vision=ModelRole()), cache_dir=None, no_cache=True)
        result = evaluate(cfg, engine)
        judged = len(judge_server.calls)

    saved = json.loads((tmp_path / "eval" / "comparison.json").read_text())
    assert saved == json.loads(json.dumps(result.comparison))
    assert saved["models"] == ["base", "finetuned"] and saved["baseline"] == "base"
    assert saved["model_dirs"] == {"base": str(tiny_model), "finetuned": str(run / "final")}
    tasks = saved["tasks"]
    assert {t: int(m["n"]["base"]) for t, m in tasks.items()} == expected_n
    if not os.environ.get("PMC_INSTRUCT_EXPORT"):  # the fixture export has every task in its eval split
        assert set(tasks) == {"text_qa", "bbox_qa", "single_panel_qa", "multi_panel_qa", "mcq_selection",
                              "compound_qa", "vqa_rad"}
    open_tasks = {t for t in tasks if t not in ("mcq_selection", "bbox_qa")}
    for name in tasks.keys() - open_tasks:
        kind = {"mcq_accuracy"} if name == "mcq_selection" else {"relation_accuracy", "relation_axis_accuracy"}
        assert set(tasks[name]) == {"n", "parse_rate"} | kind
    for name in open_tasks:
        assert {"token_f1", "rouge_l", "embedding_sim"} <= set(tasks[name])
        assert tasks[name]["judge_score"] == {"base": 0.75, "finetuned": 0.75, "delta:finetuned": 0.0}
    assert "closed_accuracy" in tasks["vqa_rad"]
    assert judged <= 2 * sum(expected_n[t] for t in open_tasks)  # open items only (repeats paid once)
    assert judged > 0
    for metrics in tasks.values():
        for name, row in metrics.items():
            if name != "n":
                assert row["delta:finetuned"] == pytest.approx(row["finetuned"] - row["base"])
                assert -1.0 <= row["base"] <= 1.0
    n_items = sum(expected_n.values())
    for name in ("base", "finetuned"):
        lines = result.prediction_paths[name].read_text().splitlines()
        assert len(lines) == n_items and all(json.loads(x)["reference"] for x in lines)

    # Left-padded batches answer exactly as one-by-one generation does.
    model, processor = load_for_eval(run / "final")
    mixed = sorted(eval_items, key=lambda s: -len(s.images))[:2] + [s for s in eval_items if not s.images][:1]
    batched = generate(model, processor, mixed, batch_size=3, max_new_tokens=6, progress=False)
    single = generate(model, processor, mixed, batch_size=1, max_new_tokens=6, progress=False)
    assert [p.prediction for p in batched] == [p.prediction for p in single]

    console = Console(record=True, width=140)
    console.print(comparison_table(saved))
    text = console.export_text()
    assert "token_f1" in text and "Δ finetuned" in text

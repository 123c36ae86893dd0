"""Tiny-model finetunes on the fixture export, on CPU: loss falls, saved weights reload to the same
logits, and a resumed run continues exactly where its checkpoint left off."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pipeline.evaluate.predict import load_for_eval
from pipeline.train import TrainConfig, train
from pipeline.train.checkpoint import list_checkpoints, load_trainer_state
from pipeline.train.collate import Encoder, pad_batch
from pipeline.train.data import load_samples
from pipeline.train.model import load_processor

pytestmark = pytest.mark.slow


def _config(export: Path, model: Path, out: Path, **kw) -> TrainConfig:
    base = dict(data=export, output_dir=out, model=model, batch_size=4, lr=1e-2, progress=False, save_every=100)
    return TrainConfig(**(base | kw))


def _probe_batch(model_dir: Path, export: Path) -> dict:
    processor = load_processor(model_dir)
    samples, _ = load_samples(export, split="train")
    # One sample of each of three tasks, preferring ones with images (multi-image first when present).
    ranked = sorted(samples, key=lambda s: -len(s.images))
    picked = [next(s for s in ranked if s.task == t) for t in dict.fromkeys(s.task for s in ranked)][:3]
    enc = Encoder(processor)
    return pad_batch([enc.encode_train(s) for s in picked], processor.tokenizer.pad_token_id)


def _logits(model, batch: dict) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(**{k: v for k, v in batch.items() if k != "labels"}).logits


def _mean(xs):
    return sum(xs) / len(xs)


def test_lora_finetune_learns_and_adapter_reloads_to_same_logits(internvl_export, tiny_model, tmp_path):
    cfg = _config(internvl_export, tiny_model, tmp_path / "lora", max_steps=12, lora={"rank": 8, "alpha": 16})
    result = train(cfg, keep_model=True)
    assert result.global_step == 12 and len(result.losses) == 12
    assert _mean(result.losses[-3:]) < _mean(result.losses[:3])
    log = [json.loads(line) for line in (tmp_path / "lora" / "loss.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == list(range(1, 13))
    assert log[0]["loss"] == pytest.approx(result.losses[0], abs=1e-5)
    assert 0 < result.trainable_params < result.total_params / 10

    final = result.final_dir
    assert (final / "adapter_config.json").is_file() and not (final / "model.safetensors").exists()
    adapter = load_file(final / "adapter_model.safetensors")
    lora = [k for k in adapter if "lora_" in k]
    assert lora and all("language_model" in k for k in lora)  # never on the vision tower
    # The projector is not frozen by default, so it trains fully and travels with the adapter.
    assert {k for k in adapter if "lora_" not in k} and all("multi_modal_projector" in k
                                                          for k in adapter if "lora_" not in k)

    batch = _probe_batch(tiny_model, internvl_export)
    trained = _logits(result.model, batch)
    reloaded, _ = load_for_eval(final)
    assert torch.allclose(_logits(reloaded, batch), trained, atol=1e-5)
    base, _ = load_for_eval(tiny_model)
    assert not torch.allclose(_logits(base, batch), trained, atol=1e-3)


def test_full_finetune_learns_and_reloads_with_frozen_vision(internvl_export, tiny_model, tmp_path):
    cfg = _config(internvl_export, tiny_model, tmp_path / "full", mode="full", max_steps=6, grad_accum=2)
    result = train(cfg, keep_model=True)
    assert result.losses[-1] < result.losses[0] - 1.0
    final = result.final_dir
    saved = load_file(final / "model.safetensors")
    original = load_file(tiny_model / "model.safetensors")
    vision = [k for k in saved if "vision_tower" in k]
    llm = [k for k in saved if "language_model" in k and "layers.0.self_attn.q_proj.weight" in k]
    assert vision and all(torch.equal(saved[k], original[k]) for k in vision)
    assert llm and not torch.equal(saved[llm[0]], original[llm[0]])
    batch = _probe_batch(tiny_model, internvl_export)
    reloaded, _ = load_for_eval(final)
    assert torch.allclose(_logits(reloaded, batch), _logits(result.model, batch), atol=1e-5)
    assert json.loads((final / "pmc_train.json").read_text())["base_model"] == str(tiny_model)


def test_resume_restores_step_optimizer_and_reaches_same_weights(internvl_export, tiny_model, tmp_path):
    straight = tmp_path / "straight"
    # 3 steps per epoch, so the resumed run also crosses an epoch boundary.
    cfg = _config(internvl_export, tiny_model, straight, max_steps=4, save_every=2, keep_checkpoints=2,
                  batch_size=3, grad_accum=2)
    train(cfg)
    assert [p.name for p in list_checkpoints(straight)] == ["step-0000002", "step-0000004"]

    # An interrupted run: its output dir as it stood right after the step-2 checkpoint.
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(straight / "checkpoints" / "step-0000002", resumed / "checkpoints" / "step-0000002")
    lines = (straight / "loss.jsonl").read_text().splitlines()
    (resumed / "loss.jsonl").write_text("\n".join(lines[:3]) + "\n")  # one line past the checkpoint
    result = train(cfg.model_copy(update={"output_dir": resumed, "resume": True}))
    assert result.global_step == 4 and len(result.losses) == 2  # only steps 3 and 4 ran

    state = load_trainer_state(resumed / "checkpoints" / "step-0000004")
    assert state.global_step == 4
    opt_a = torch.load(straight / "checkpoints" / "step-0000004" / "optimizer.pt", weights_only=False)
    opt_b = torch.load(resumed / "checkpoints" / "step-0000004" / "optimizer.pt", weights_only=False)
    for pid, st in opt_a["state"].items():
        assert float(opt_b["state"][pid]["step"]) == float(st["step"]) == 4.0
        assert torch.allclose(opt_b["state"][pid]["exp_avg_sq"], st["exp_avg_sq"], atol=1e-7)
    a = load_file(straight / "final" / "adapter_model.safetensors")
    b = load_file(resumed / "final" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    log = [json.loads(x)["step"] for x in (resumed / "loss.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3, 4]


def test_config_needs_exactly_one_model_source(tmp_path):
    with pytest.raises(ValueError, match="model directory"):
        TrainConfig(data=tmp_path, output_dir=tmp_path)
    with pytest.raises(ValueError, match="exclusive"):
        TrainConfig(data=tmp_path, output_dir=tmp_path, model=tmp_path, tiny=True)


def test_fresh_run_refuses_a_dir_with_checkpoints_and_full_mode_resumes(internvl_export, tiny_model, tmp_path):
    cfg = _config(internvl_export, tiny_model, tmp_path / "r", mode="full", max_steps=1, save_every=1)
    train(cfg)
    with pytest.raises(ValueError, match="already holds checkpoints"):
        train(cfg)
    # Resuming with a longer run: the same step 2 as a run planned for 2 steps from the start.
    more = train(cfg.model_copy(update={"resume": True, "max_steps": 2}))
    straight = train(cfg.model_copy(update={"output_dir": tmp_path / "s", "max_steps": 2}))
    assert more.global_step == 2 and len(more.losses) == 1
    assert more.losses[0] == pytest.approx(straight.losses[1], abs=1e-5)
    a, b = load_file(more.final_dir / "model.safetensors"), load_file(straight.final_dir / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    opt = torch.load(tmp_path / "r" / "checkpoints" / "step-0000002" / "optimizer.pt", weights_only=False)
    assert {float(st["step"]) for st in opt["state"].values()} == {2.0}


def test_gradient_checkpointing_gives_the_same_training(internvl_export, tiny_model, tmp_path):
    kw = dict(max_steps=3, batch_size=2, limit=6)
    plain = train(_config(internvl_export, tiny_model, tmp_path / "plain", **kw))
    # Also with an encoding worker: prefetching must keep the batch order (the losses would differ).
    ckpt = train(_config(internvl_export, tiny_model, tmp_path / "gc", gradient_checkpointing=True,
                         num_workers=1, **kw), keep_model=True)
    flags = [m.gradient_checkpointing for _, m in ckpt.model.named_modules() if hasattr(m, "gradient_checkpointing")]
    assert flags and all(flags)
    assert ckpt.losses == pytest.approx(plain.losses, abs=1e-4)

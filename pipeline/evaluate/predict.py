"""Load a base model, a full finetune or a LoRA adapter dir, and generate answers for eval samples."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.progress import Progress

from pipeline.train.collate import Encoder, pad_batch
from pipeline.train.data import Sample
from pipeline.train.model import load_model, load_processor, pick_device, pick_dtype


@dataclass
class Prediction:
    id: str
    task: str
    prediction: str
    reference: str
    question: str


def load_for_eval(model_dir: Path, device: str = "auto", dtype: str = "auto"):
    """(model, processor) from a full model dir, or from an adapter dir on top of its recorded base."""
    model_dir = Path(model_dir)
    dev = pick_device(device)
    dt = pick_dtype(dtype, dev)
    adapter_cfg = model_dir / "adapter_config.json"
    if adapter_cfg.is_file():
        from peft import PeftModel

        base = Path(json.loads(adapter_cfg.read_text())["base_model_name_or_path"])
        if not (base / "config.json").is_file():
            raise FileNotFoundError(f"{model_dir}: its base model {base} is not a local model dir")
        model = PeftModel.from_pretrained(load_model(base, dt, dev), model_dir).to(dev)
        processor = load_processor(model_dir if (model_dir / "tokenizer.json").is_file() else base)
    else:
        model = load_model(model_dir, dt, dev)
        processor = load_processor(model_dir)
    model.eval()
    return model, processor


def question_text(sample: Sample) -> str:
    """The last human turn without image placeholders (for judges and reports)."""
    humans = [v for s, v in sample.turns[:-1] if s == "human"]
    return humans[-1].replace("<image>", "").strip() if humans else ""


@torch.inference_mode()
def generate(
    model,
    processor,
    samples: list[Sample],
    batch_size: int = 4,
    max_new_tokens: int = 64,
    crop_to_patches: bool = True,
    max_patches: int | None = None,
    progress: bool = True,
    label: str = "predict",
) -> list[Prediction]:
    """Greedy answers for each sample's final assistant turn (samples that fail to load get "")."""
    encoder = Encoder(processor, max_length=1 << 30, crop_to_patches=crop_to_patches, max_patches=max_patches)
    tok = processor.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    end_ids = [i for i in {tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")} if i is not None and i >= 0]
    device = next(model.parameters()).device
    dtype = next(p for p in model.parameters() if p.is_floating_point()).dtype
    out: list[Prediction] = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(label, total=len(samples))
        for start in range(0, len(samples), batch_size):
            chunk = samples[start : start + batch_size]
            encoded, ok = [], []
            for s in chunk:
                try:
                    encoded.append(encoder.encode_prompt(s))
                    ok.append(s)
                except (OSError, ValueError):
                    out.append(Prediction(s.id, s.task, "", s.reference, question_text(s)))
            if encoded:
                batch = {k: v.to(device) for k, v in pad_batch(encoded, pad_id, left=True).items()}
                if "pixel_values" in batch:
                    batch["pixel_values"] = batch["pixel_values"].to(dtype)
                gen = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                     eos_token_id=end_ids, pad_token_id=pad_id)
                new = gen[:, batch["input_ids"].shape[1] :]
                texts = tok.batch_decode(new, skip_special_tokens=True)
                for s, text in zip(ok, texts, strict=True):
                    out.append(Prediction(s.id, s.task, text.strip(), s.reference, question_text(s)))
            bar.advance(task, len(chunk))
    return out

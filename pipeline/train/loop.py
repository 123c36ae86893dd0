"""The finetune loop: gradient accumulation, mixed precision on GPU, checkpoints, resume, progress
bar and a JSONL loss log (`<output_dir>/loss.jsonl`)."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.utils.data import DataLoader
from transformers import get_scheduler

from pipeline.io.atomic import atomic_write_text
from pipeline.train import checkpoint as ckpt_io
from pipeline.train.collate import Encoder, pad_batch
from pipeline.train.config import TrainConfig
from pipeline.train.data import Sample, load_samples
from pipeline.train.model import (
    add_lora,
    count_parameters,
    load_model,
    load_processor,
    pick_device,
    pick_dtype,
    set_frozen,
)

TRAIN_INFO = "pmc_train.json"


@dataclass
class TrainResult:
    output_dir: Path
    final_dir: Path
    base_model: Path
    global_step: int
    losses: list[float] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds_per_step: float = 0.0
    trainable_params: int = 0
    total_params: int = 0
    model: object | None = field(default=None, repr=False)  # the trained model, when asked for

    def summary(self) -> dict:
        """Plain-JSON facts about the run (for the flow's return value and the CLI)."""
        return {
            "output_dir": str(self.output_dir), "final_dir": str(self.final_dir), "base_model": str(self.base_model),
            "global_step": self.global_step, "first_loss": self.losses[0] if self.losses else None,
            "last_loss": self.losses[-1] if self.losses else None, "steps_this_run": len(self.losses),
            "seconds_per_step": round(self.seconds_per_step, 4), "trainable_params": self.trainable_params,
            "total_params": self.total_params, "skipped": self.skipped,
        }


def resolve_base_model(cfg: TrainConfig, tokenizer=None) -> Path:
    """The local model dir to start from; --tiny builds one (once) inside the output dir."""
    if cfg.model is not None:
        return Path(cfg.model).resolve()
    base = (Path(cfg.output_dir) / "base-model").resolve()
    if not (base / "config.json").is_file():
        from pipeline.train.tiny import build_tiny

        t = cfg.tiny_settings
        build_tiny(base, image_size=t.image_size, hidden_size=t.hidden_size, layers=t.layers, seed=cfg.seed,
                   tokenizer=tokenizer)
    return base


def build_trainable(cfg: TrainConfig, base: Path, device, dtype, resume_from: Path | None):
    """The model to train: base + new or checkpointed LoRA adapters, or the (checkpointed) full model."""
    if cfg.mode == "lora":
        model = load_model(base, dtype, device)
        if resume_from is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, resume_from / "model", is_trainable=True)
        else:
            model = add_lora(model, cfg.lora.rank, cfg.lora.alpha, cfg.lora.dropout, cfg.lora.target_modules,
                             train_vision=not cfg.freeze_vision, train_projector=not cfg.freeze_projector)
        model.to(device)
    else:
        model = load_model(resume_from / "model" if resume_from is not None else base, dtype, device)
        set_frozen(model, vision=cfg.freeze_vision, projector=cfg.freeze_projector, llm=cfg.freeze_llm)
    if cfg.gradient_checkpointing:
        # Non-reentrant checkpointing works with frozen inputs (LoRA) and replays the dropout RNG.
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    return model


def _micro_batches(samples: list[Sample], batch_size: int, seed: int, epoch: int) -> list[list[Sample]]:
    """Same shuffled order for a given (seed, epoch), so a resumed run skips exactly what was done."""
    order = np.random.default_rng(seed + epoch).permutation(len(samples))
    return [[samples[i] for i in order[j : j + batch_size]] for j in range(0, len(order), batch_size)]


class _EncodeBatch:
    """DataLoader collate: one micro-batch of Samples -> (model inputs or None, skipped reasons).
    Picklable, so worker processes can encode the next batches while the model trains."""

    def __init__(self, encoder: Encoder, pad_id: int) -> None:
        self.encoder, self.pad_id = encoder, pad_id

    def __call__(self, batch: list[Sample]) -> tuple[dict | None, list[str]]:
        items, skipped = [], []
        for sample in batch:
            try:
                items.append(self.encoder.encode_train(sample))
            except (OSError, ValueError) as exc:  # unreadable image, too long: skip the sample, say why
                skipped.append(f"{sample.id}: {exc}")
        return (pad_batch(items, self.pad_id) if items else None), skipped


def _loader(micro: list[list[Sample]], collate: _EncodeBatch, workers: int, pin: bool) -> DataLoader:
    # batch_size=None: each element is already a micro-batch; order is kept, so resume stays exact.
    # Its own generator: an iterator draws a worker seed, which must not advance the global RNG that
    # dropout uses (a resumed run restores that RNG and has to see the same stream).
    return DataLoader(micro, batch_size=None, shuffle=False, num_workers=workers, collate_fn=collate,
                      pin_memory=pin, prefetch_factor=2 if workers else None,
                      generator=torch.Generator().manual_seed(0))


def _rewrite_loss_log(path: Path, upto_step: int) -> None:
    """On resume, drop log lines past the checkpoint (they will be logged again)."""
    if not path.is_file():
        return
    kept = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= upto_step]
    atomic_write_text(path, "".join(ln + "\n" for ln in kept))


def _save_final(cfg: TrainConfig, model, processor, base: Path, state: ckpt_io.TrainerState) -> Path:
    final = Path(cfg.output_dir) / "final"
    model.save_pretrained(final)
    processor.save_pretrained(final)
    info = {"mode": cfg.mode, "base_model": str(base), "global_step": state.global_step,
            "config": json.loads(cfg.model_dump_json())}
    atomic_write_text(final / TRAIN_INFO, json.dumps(info, indent=2))
    return final


def train(cfg: TrainConfig, tokenizer=None, keep_model: bool = False) -> TrainResult:
    """Finetune on the training split of `cfg.data`; returns where the final weights are (and the
    trained model itself with keep_model=True). `tokenizer` spares --tiny a reload of the GGUF."""
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    dtype = pick_dtype(cfg.dtype, device)
    # Mixed precision on GPU: frozen LoRA base weights load in bf16/fp16, everything that trains is
    # fp32 (LoRA adapters, saved modules, a full finetune's weights) and the forward runs under autocast.
    autocast = dtype in (torch.bfloat16, torch.float16) and device.type == "cuda"
    load_dtype = dtype if (cfg.mode == "lora" or not autocast) else torch.float32

    base = resolve_base_model(cfg, tokenizer)
    processor = load_processor(base)
    resume_from = ckpt_io.latest_checkpoint(out) if cfg.resume else None
    if not cfg.resume and ckpt_io.latest_checkpoint(out) is not None:
        raise ValueError(f"{out} already holds checkpoints: pass resume=True to continue, or use a new output dir")
    model = build_trainable(cfg, base, device, load_dtype, resume_from)
    if autocast:
        for p in model.parameters():
            if p.requires_grad and p.dtype != torch.float32:
                p.data = p.data.float()
    # fp16 needs loss scaling against gradient underflow; bf16 and fp32 do not.
    scaler = torch.amp.GradScaler(device.type, enabled=autocast and dtype == torch.float16)
    trainable, total = count_parameters(model)
    if trainable == 0:
        raise ValueError("nothing to train: every part of the model is frozen")

    samples, problems = load_samples(cfg.data, split="train", tasks=cfg.tasks or None,
                                     eval_fraction=cfg.eval_fraction)
    if cfg.limit:
        samples = samples[: cfg.limit]
    if not samples:
        raise ValueError(f"{cfg.data}: no training samples ({len(problems)} problems)")
    pad_id = processor.tokenizer.pad_token_id
    if pad_id is None:
        pad_id = processor.tokenizer.eos_token_id
    collate = _EncodeBatch(Encoder(processor, cfg.max_length, cfg.crop_to_patches, cfg.max_patches), pad_id)

    steps_per_epoch = math.ceil(math.ceil(len(samples) / cfg.batch_size) / cfg.grad_accum)
    total_steps = cfg.max_steps if cfg.max_steps is not None else cfg.epochs * steps_per_epoch
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=cfg.warmup_steps,
                              num_training_steps=max(total_steps, 1))
    state = ckpt_io.TrainerState()
    loss_log = out / "loss.jsonl"
    if resume_from is not None:
        state = ckpt_io.load_trainer_state(resume_from)
        ckpt_io.restore_optimizer(resume_from, optimizer, scheduler)
        ckpt_io.restore_rng(resume_from)
        _rewrite_loss_log(loss_log, state.global_step)
    elif loss_log.exists():
        loss_log.unlink()

    result = TrainResult(out, out / "final", base, state.global_step, skipped=list(problems),
                         trainable_params=trainable, total_params=total)
    model.train()
    started, steps_run = time.perf_counter(), 0
    progress = Progress(TextColumn("[bold]finetune[/] step"), MofNCompleteColumn(), BarColumn(),
                        TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(), disable=not cfg.progress)
    with progress, loss_log.open("a", encoding="utf-8") as log:
        bar = progress.add_task("train", total=total_steps, completed=state.global_step, loss="-")
        epoch = state.epoch
        while state.global_step < total_steps:
            # max_steps may ask for more steps than the epochs hold: keep reshuffling the data.
            micro = _micro_batches(samples, cfg.batch_size, cfg.seed, epoch)
            start = state.micro_in_epoch if epoch == state.epoch else 0
            batches = iter(_loader(micro[start:], collate, cfg.num_workers, device.type == "cuda"))
            for first in range(start, len(micro), cfg.grad_accum):
                group = min(cfg.grad_accum, len(micro) - first)
                step_loss, n = 0.0, 0
                for _ in range(group):
                    inputs, skipped = next(batches)
                    result.skipped += skipped
                    if inputs is None:
                        continue
                    inputs = {k: v.to(device, non_blocking=True) for k, v in inputs.items()}
                    if "pixel_values" in inputs:
                        inputs["pixel_values"] = inputs["pixel_values"].to(load_dtype)
                    with torch.autocast(device.type, dtype=dtype, enabled=autocast):
                        loss = model(**inputs).loss
                    scaler.scale(loss / group).backward()
                    step_loss += float(loss.detach())
                    n += 1
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state.global_step += 1
                state.epoch, state.micro_in_epoch = epoch, first + group
                steps_run += 1
                mean = step_loss / max(n, 1)
                result.losses.append(mean)
                if state.global_step % cfg.log_every == 0:
                    log.write(json.dumps({"step": state.global_step, "epoch": epoch, "loss": round(mean, 6),
                                          "lr": scheduler.get_last_lr()[0],
                                          "elapsed_s": round(time.perf_counter() - started, 3)}) + "\n")
                    log.flush()
                progress.update(bar, completed=state.global_step, loss=f"{mean:.4f}")
                if state.global_step % cfg.save_every == 0 or state.global_step == total_steps:
                    ckpt_io.save_checkpoint(out, model, optimizer, scheduler, state, cfg.keep_checkpoints)
                if state.global_step >= total_steps:
                    break
            epoch += 1
    result.global_step = state.global_step
    result.seconds_per_step = (time.perf_counter() - started) / max(steps_run, 1)
    result.final_dir = _save_final(cfg, model, processor, base, state)
    result.model = model if keep_model else None
    return result

"""`pmc-instruct finetune`: LoRA or full finetune of a local InternVL model (or --tiny) on the export.

Runs the `finetune` Prefect flow in ephemeral mode (no server) with --flow; by default it calls the
pipeline function directly, because the ephemeral Prefect server adds seconds of start-up to every
call and nothing in a single training process needs orchestration."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

console = Console()


def _prefect_env(out: Path) -> None:
    # Must run before prefect is imported: it reads its settings once, at import.
    os.environ.setdefault("PREFECT_HOME", str((out / ".prefect").resolve()))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def finetune(
    data: Annotated[Path, typer.Option("--data", help="export/internvl folder (meta.json) or folder of final QA Parquet (<task>/part-*.parquet)", exists=True)],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder: checkpoints/, loss.jsonl, final/ (adapter or model)")],
    model: Annotated[Optional[Path], typer.Option("--model", help="local InternVL model dir in HF transformers-native layout (e.g. an InternVL3-1B-hf download)", exists=True, file_okay=False)] = None,
    tiny: Annotated[bool, typer.Option("--tiny", help="build a tiny random InternVL in <out>/base-model (offline tokenizer) for smoke runs")] = False,
    mode: Annotated[str, typer.Option("--mode", help="lora (adapters on the language model) or full")] = "lora",
    lora_rank: Annotated[int, typer.Option("--lora-rank", min=1, help="LoRA rank r")] = 16,
    lora_alpha: Annotated[int, typer.Option("--lora-alpha", min=1, help="LoRA alpha (scale = alpha / r)")] = 32,
    lora_dropout: Annotated[float, typer.Option("--lora-dropout", min=0.0, max=0.99, help="dropout on the LoRA input")] = 0.05,
    lora_target: Annotated[Optional[list[str]], typer.Option("--lora-target", help="language-model linear layer names to adapt (repeatable; default q_proj k_proj v_proj o_proj)")] = None,
    freeze_vision: Annotated[bool, typer.Option("--freeze-vision/--train-vision", help="keep the vision backbone frozen")] = True,
    freeze_projector: Annotated[bool, typer.Option("--freeze-projector/--train-projector", help="keep the vision-to-LLM projector frozen")] = False,
    freeze_llm: Annotated[bool, typer.Option("--freeze-llm/--train-llm", help="full mode: keep the language model frozen")] = False,
    task: Annotated[Optional[list[str]], typer.Option("--task", help="train only on this task (repeatable; default all)")] = None,
    eval_fraction: Annotated[float, typer.Option("--eval-fraction", min=0.0, max=0.99, help="share of each task held out for evaluation when the export has no eval split")] = 0.2,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="use at most this many training samples")] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="passes over the training data (ignored with --max-steps)")] = 1,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", min=1, help="stop after this many optimizer steps")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="samples per micro-batch")] = 2,
    grad_accum: Annotated[int, typer.Option("--grad-accum", min=1, help="micro-batches per optimizer step")] = 1,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="peak learning rate (linear warm-up, then linear decay)")] = 2e-4,
    weight_decay: Annotated[float, typer.Option("--weight-decay", min=0.0, help="AdamW weight decay")] = 0.0,
    warmup_steps: Annotated[int, typer.Option("--warmup-steps", min=0, help="learning-rate warm-up steps")] = 0,
    max_length: Annotated[int, typer.Option("--max-length", min=16, help="token limit per sample (samples whose image tokens exceed it are skipped)")] = 2048,
    max_patches: Annotated[Optional[int], typer.Option("--max-patches", min=1, help="max tiles per image (default: the model's image processor setting)")] = None,
    no_tiling: Annotated[bool, typer.Option("--no-tiling", help="one tile per image instead of InternVL's dynamic tiling")] = False,
    gradient_checkpointing: Annotated[bool, typer.Option("--gradient-checkpointing", help="recompute activations in the backward pass: less memory, about a third more compute")] = False,
    num_workers: Annotated[int, typer.Option("--num-workers", min=0, help="processes that load and tile images for the next batches (0 = in the training loop)")] = 0,
    save_every: Annotated[int, typer.Option("--save-every", min=1, help="checkpoint every N optimizer steps")] = 50,
    keep_checkpoints: Annotated[int, typer.Option("--keep-checkpoints", min=1, help="keep only the newest N checkpoints")] = 2,
    resume: Annotated[bool, typer.Option("--resume", help="continue from the newest checkpoint in --out (step, optimizer, RNG)")] = False,
    device: Annotated[str, typer.Option("--device", help="auto (cuda when available), cpu, cuda or cuda:N")] = "auto",
    dtype: Annotated[str, typer.Option("--dtype", help="auto (bf16 on a bf16-capable GPU, fp32 on CPU), bf16, fp16 or fp32")] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="seed for initialisation, data order and dropout")] = 0,
    tiny_image_size: Annotated[int, typer.Option("--tiny-image-size", min=28, help="--tiny: tile size in pixels")] = 224,
    tiny_hidden: Annotated[int, typer.Option("--tiny-hidden", min=16, help="--tiny: hidden size")] = 64,
    tiny_layers: Annotated[int, typer.Option("--tiny-layers", min=1, help="--tiny: layers per tower")] = 2,
    use_flow: Annotated[bool, typer.Option("--flow/--no-flow", help="run as the Prefect `finetune` flow (ephemeral Prefect, slower start)")] = False,
) -> None:
    """Finetune an InternVL model on the exported instruction data; writes loss.jsonl and final/."""
    from pydantic import ValidationError

    from pipeline.train import TrainConfig

    try:
        cfg = TrainConfig(
            data=data.resolve(), output_dir=out.resolve(), model=model.resolve() if model else None, tiny=tiny,
            tiny_settings={"image_size": tiny_image_size, "hidden_size": tiny_hidden, "layers": tiny_layers},
            mode=mode, lora={"rank": lora_rank, "alpha": lora_alpha, "dropout": lora_dropout,
                             **({"target_modules": lora_target} if lora_target else {})},
            freeze_vision=freeze_vision, freeze_projector=freeze_projector, freeze_llm=freeze_llm,
            tasks=task or [], eval_fraction=eval_fraction, limit=limit, epochs=epochs, max_steps=max_steps,
            batch_size=batch_size, grad_accum=grad_accum, lr=lr, weight_decay=weight_decay,
            warmup_steps=warmup_steps, max_length=max_length, crop_to_patches=not no_tiling,
            max_patches=max_patches, gradient_checkpointing=gradient_checkpointing, num_workers=num_workers,
            save_every=save_every, keep_checkpoints=keep_checkpoints, resume=resume,
            device=device, dtype=dtype, seed=seed,
        )
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if use_flow:
        _prefect_env(out)
        from flows.finetune import finetune as finetune_flow

        summary = finetune_flow(cfg)
    else:
        from pipeline.train import train

        summary = train(cfg).summary()
    skipped = summary.pop("skipped")
    console.print_json(json.dumps(summary))
    if skipped:
        console.print(f"[yellow]{len(skipped)} samples skipped[/], e.g. {skipped[0]}")
    console.print(f"loss log: {cfg.output_dir / 'loss.jsonl'}; weights: {summary['final_dir']}")


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune)

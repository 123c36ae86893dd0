"""Finetune settings as one pydantic model: the CLI builds it, the Prefect flow takes it as a form."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator


class LoraSettings(BaseModel):
    rank: int = Field(16, ge=1, description="LoRA rank r")
    alpha: int = Field(32, ge=1, description="LoRA alpha (scale = alpha / rank)")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="dropout on the LoRA input")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        description="language-model linear layers that get adapters (the vision tower never does)",
    )


class TinySettings(BaseModel):
    image_size: int = Field(224, description="tile size in pixels (64 image tokens per tile at 224)")
    hidden_size: int = Field(64, description="hidden size of vision and language parts")
    layers: int = Field(2, description="layers in each of vision and language parts")


class TrainConfig(BaseModel):
    data: Path = Field(description="export/internvl folder (meta.json) or a folder of final QA Parquet")
    output_dir: Path = Field(description="checkpoints, loss.jsonl, final model/adapter go here")
    model: Path | None = Field(None, description="local InternVL model dir (HF transformers-native layout)")
    tiny: bool = Field(False, description="build and train a tiny random InternVL (tests, CPU smoke runs)")
    tiny_settings: TinySettings = Field(default_factory=TinySettings)
    mode: Literal["lora", "full"] = Field("lora", description="LoRA adapters on the LLM, or full finetune")
    lora: LoraSettings = Field(default_factory=LoraSettings)
    freeze_vision: bool = Field(True, description="keep the vision backbone frozen")
    freeze_projector: bool = Field(False, description="keep the vision-to-LLM projector frozen")
    freeze_llm: bool = Field(False, description="full mode: keep the language model frozen")
    tasks: list[str] = Field(default_factory=list, description="train only on these tasks (empty = all)")
    eval_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="hold-out share when the export has no eval split")
    limit: int | None = Field(None, ge=1, description="use at most this many training samples")
    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps")
    batch_size: int = Field(2, ge=1)
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    lr: float = Field(2e-4, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    warmup_steps: int = Field(0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0.0)
    max_length: int = Field(2048, ge=16, description="token limit per sample (never cuts image tokens)")
    crop_to_patches: bool = Field(True, description="InternVL dynamic tiling of each image into tiles")
    max_patches: int | None = Field(
        None, ge=1, description="max tiles per image (default: the model's image processor setting)"
    )
    gradient_checkpointing: bool = Field(False, description="recompute activations in backward to save memory")
    num_workers: int = Field(0, ge=0, description="processes that encode upcoming batches (0 = in the loop)")
    save_every: int = Field(50, ge=1, description="checkpoint every N optimizer steps")
    keep_checkpoints: int = Field(2, ge=1, description="keep only the newest N checkpoints")
    log_every: int = Field(1, ge=1, description="append to loss.jsonl every N optimizer steps")
    resume: bool = Field(False, description="continue from the newest checkpoint in output_dir")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = Field("auto", description="auto = bf16 on GPU, fp32 on CPU")
    seed: int = 0
    progress: bool = Field(True, description="show a rich progress bar")

    @model_validator(mode="after")
    def _model_source(self) -> TrainConfig:
        if self.model is None and not self.tiny:
            raise ValueError("give a local model directory (model) or set tiny=True")
        if self.model is not None and self.tiny:
            raise ValueError("model and tiny are exclusive")
        return self

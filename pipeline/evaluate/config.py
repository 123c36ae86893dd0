"""Evaluation settings as pydantic models: the CLI builds them, the Prefect flow takes them as a form."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from pipeline.evaluate.benchmarks import BENCHMARKS


class BenchmarkSpec(BaseModel):
    name: Literal["vqa_rad", "slake", "pathvqa", "pmc_vqa"] = Field(description=", ".join(BENCHMARKS))
    path: Path = Field(description="annotation file (JSON, CSV, pickle, parquet) or the folder of the release")


class EvalConfig(BaseModel):
    output_dir: Path = Field(description="predictions/<model>.jsonl and comparison.json go here")
    data: Path | None = Field(None, description="export/internvl folder or final QA Parquet folder (eval split)")
    benchmarks: list[BenchmarkSpec] = Field(default_factory=list, description="external benchmarks to score")
    base: Path | None = Field(None, description="base model dir (default: the finetune run's recorded base)")
    finetuned: Path | None = Field(
        None, description="finetuned model or adapter dir, or a finetune output dir (its final/ is used)"
    )
    tasks: list[str] = Field(default_factory=list, description="evaluate only these tasks (empty = all)")
    limit_per_task: int | None = Field(None, ge=1, description="at most this many items per task")
    eval_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="hold-out share when the export has no eval split")
    batch_size: int = Field(4, ge=1)
    max_new_tokens: int = Field(64, ge=1)
    crop_to_patches: bool = Field(True, description="InternVL dynamic tiling of each image")
    max_patches: int | None = Field(None, ge=1, description="max tiles per image (default: the model's setting)")
    embedding: bool = Field(True, description="score open answers by MiniLM embedding similarity")
    judge: bool = Field(False, description="also grade open answers with an LLM judge through the engine")
    judge_config: Path | None = Field(None, description="engine config file for the judge (TOML/YAML)")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = Field("auto", description="auto = bf16 on GPU, fp32 on CPU")
    allow_pickle: bool = Field(False, description="read benchmark pickles (PathVQA's release); unpickling can run code")
    progress: bool = Field(True, description="show rich progress bars")

    @model_validator(mode="after")
    def _something_to_do(self) -> EvalConfig:
        if self.data is None and not self.benchmarks:
            raise ValueError("give evaluation data (data) and/or at least one benchmark")
        if self.base is None and self.finetuned is None:
            raise ValueError("give a base model, a finetuned model, or both")
        return self

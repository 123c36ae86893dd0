"""Evaluate one or two models (base, finetuned) on the eval split and any benchmarks, write
predictions and the comparison JSON, and return the comparison."""

from __future__ import annotations

import gc
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.evaluate.benchmarks import load_benchmark
from pipeline.evaluate.compare import compare, score_predictions, task_kind
from pipeline.evaluate.config import EvalConfig
from pipeline.evaluate.predict import Prediction, generate, load_for_eval
from pipeline.io.atomic import atomic_write_text
from pipeline.train.data import Sample, load_samples
from pipeline.train.loop import TRAIN_INFO


@dataclass
class EvalResult:
    comparison: dict
    comparison_path: Path
    prediction_paths: dict[str, Path]
    problems: list[str] = field(default_factory=list)


def resolve_models(cfg: EvalConfig) -> dict[str, Path]:
    """{"base": dir, "finetuned": dir}; a finetune output dir means its final/, base from its record."""
    models: dict[str, Path] = {}
    finetuned = Path(cfg.finetuned) if cfg.finetuned else None
    if finetuned is not None and (finetuned / "final").is_dir():
        finetuned = finetuned / "final"
    base = Path(cfg.base) if cfg.base else None
    if base is None and finetuned is not None and (finetuned / TRAIN_INFO).is_file():
        base = Path(json.loads((finetuned / TRAIN_INFO).read_text())["base_model"])
    if base is not None:
        models["base"] = base
    if finetuned is not None:
        models["finetuned"] = finetuned
    return models


def collect_samples(cfg: EvalConfig, reports: dict[str, dict] | None = None) -> tuple[list[Sample], list[str]]:
    """Eval-split and benchmark samples; `reports` (when given) receives each benchmark's read/skipped
    counts. A benchmark with nothing to score raises BenchmarkError."""
    samples: list[Sample] = []
    problems: list[str] = []
    if cfg.data is not None:
        got, bad = load_samples(cfg.data, split="eval", tasks=cfg.tasks or None, eval_fraction=cfg.eval_fraction)
        samples += got
        problems += bad
    for spec in cfg.benchmarks:
        read = load_benchmark(spec.name, spec.path, allow_pickle=cfg.allow_pickle,
                              cache_dir=Path(cfg.output_dir) / "benchmark_images")
        samples += read.samples
        problems += read.problems
        if reports is not None:
            reports[spec.name] = read.summary()
    if cfg.limit_per_task:
        per: dict[str, int] = defaultdict(int)
        kept = []
        for s in samples:
            if per[s.task] < cfg.limit_per_task:
                per[s.task] += 1
                kept.append(s)
        samples = kept
    return samples, problems


def _similarities(preds: list[Prediction]) -> dict[str, float]:
    from pipeline.evaluate.embedding import embedding_similarity

    open_preds = [p for p in preds if task_kind(p.task) == "open"]
    values = embedding_similarity([p.prediction for p in open_preds], [p.reference for p in open_preds])
    return {p.id: v for p, v in zip(open_preds, values, strict=True)}


def _judge(engine, preds: list[Prediction]) -> dict[str, float | None]:
    from pipeline.evaluate.judge import judge_scores

    items = [(p.id, p.question, p.reference, p.prediction) for p in preds if task_kind(p.task) == "open"]
    return judge_scores(engine, items)


def open_judge_engine(cfg: EvalConfig):
    """The engine the judge talks to, from the engine settings (env, PMC_INSTRUCT_CONFIG or
    cfg.judge_config); answers are cached under <output_dir>/cache like the build's."""
    from pipeline.engine import build_engine
    from pipeline.engine.settings import load_settings

    return build_engine(load_settings(cfg.judge_config), Path(cfg.output_dir) / "cache")


def close_engine(engine) -> None:
    import asyncio

    if engine is not None and hasattr(engine, "aclose"):
        asyncio.run(engine.aclose())


def evaluate(cfg: EvalConfig, engine=None) -> EvalResult:
    """Predict with each model, score per task, compare against the base. `engine` serves the judge
    (needed only when cfg.judge is set)."""
    if cfg.judge and engine is None:
        raise ValueError("judge=True needs an engine (an object with run(requests) or stream(requests))")
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    reports: dict[str, dict] = {}
    samples, problems = collect_samples(cfg, reports)
    if not samples:
        raise ValueError(f"no evaluation samples ({len(problems)} problems: {problems[:3]})")
    models = resolve_models(cfg)
    scores: dict[str, dict] = {}
    paths: dict[str, Path] = {}
    for name, model_dir in models.items():
        model, processor = load_for_eval(model_dir, cfg.device, cfg.dtype)
        preds = generate(model, processor, samples, cfg.batch_size, cfg.max_new_tokens, cfg.crop_to_patches,
                         cfg.max_patches, cfg.progress, label=f"predict {name}")
        del model
        gc.collect()
        similarity = _similarities(preds) if cfg.embedding else None
        judged = _judge(engine, preds) if cfg.judge else None
        scores[name] = score_predictions(preds, samples, similarity, judged)
        paths[name] = out / "predictions" / f"{name}.jsonl"
        atomic_write_text(paths[name], "".join(json.dumps(asdict(p)) + "\n" for p in preds))
    result = compare(scores, baseline="base" if "base" in scores else None)
    result["model_dirs"] = {k: str(v) for k, v in models.items()}
    result["problems"] = problems
    result["benchmarks"] = reports
    comparison_path = atomic_write_text(out / "comparison.json", json.dumps(result, indent=2))
    return EvalResult(result, comparison_path, paths, problems)

"""`pmc-instruct evaluate`: score base and finetuned models on the eval split and on local copies of
medical VQA benchmarks; prints a comparison table and writes comparison.json.

Like `finetune`, it calls the pipeline directly unless --flow asks for the Prefect `evaluate` flow
(ephemeral mode), to spare the Prefect start-up on every call."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

console = Console()


def _benchmarks(values: list[str]) -> list[dict]:
    specs = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            raise typer.BadParameter(f"{value!r}: use NAME=PATH, e.g. vqa_rad=/data/vqa-rad", param_hint="--benchmark")
        specs.append({"name": name.strip(), "path": Path(path).expanduser().resolve()})
    return specs


def evaluate(
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder: predictions/<model>.jsonl, comparison.json")],
    data: Annotated[Optional[Path], typer.Option("--data", help="export/internvl folder or final QA Parquet folder; its eval split is scored", exists=True)] = None,
    benchmark: Annotated[Optional[list[str]], typer.Option("--benchmark", help="NAME=PATH of a local benchmark copy in its released layout (folder, annotation file or HF parquet); NAME is vqa_rad, slake, pathvqa or pmc_vqa (repeatable)")] = None,
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help="allow reading benchmark pickles (PathVQA's release); unpickling can run code, so only for files you trust")] = False,
    base: Annotated[Optional[Path], typer.Option("--base", help="base model dir (default: the base recorded by the finetune run)", exists=True, file_okay=False)] = None,
    finetuned: Annotated[Optional[Path], typer.Option("--finetuned", help="finetuned model/adapter dir, or a `finetune --out` folder (its final/ is used)", exists=True, file_okay=False)] = None,
    task: Annotated[Optional[list[str]], typer.Option("--task", help="score only this task (repeatable; default all)")] = None,
    limit_per_task: Annotated[Optional[int], typer.Option("--limit-per-task", min=1, help="at most this many items per task")] = None,
    eval_fraction: Annotated[float, typer.Option("--eval-fraction", min=0.0, max=0.99, help="share of each task held out when the export has no eval split (use the finetune value)")] = 0.2,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="prompts per generate call")] = 4,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, help="longest answer generated")] = 64,
    max_patches: Annotated[Optional[int], typer.Option("--max-patches", min=1, help="max tiles per image (default: the model's setting)")] = None,
    no_tiling: Annotated[bool, typer.Option("--no-tiling", help="one tile per image instead of dynamic tiling")] = False,
    no_embedding: Annotated[bool, typer.Option("--no-embedding", help="skip MiniLM embedding similarity")] = False,
    judge: Annotated[bool, typer.Option("--judge", help="also grade open answers with an LLM judge through the engine")] = False,
    judge_config: Annotated[Optional[Path], typer.Option("--judge-config", help="engine config (TOML/YAML) for the judge model", exists=True, dir_okay=False)] = None,
    device: Annotated[str, typer.Option("--device", help="auto (cuda when available), cpu, cuda or cuda:N")] = "auto",
    dtype: Annotated[str, typer.Option("--dtype", help="auto (bf16 on a bf16-capable GPU, fp32 on CPU), bf16, fp16 or fp32")] = "auto",
    use_flow: Annotated[bool, typer.Option("--flow/--no-flow", help="run as the Prefect `evaluate` flow (ephemeral Prefect, slower start)")] = False,
) -> None:
    """Compare a base and a finetuned model per task; writes comparison.json and predictions."""
    from pydantic import ValidationError

    from pipeline.evaluate import EvalConfig
    from pipeline.evaluate.benchmarks import BenchmarkError, load_benchmark
    from pipeline.evaluate.compare import comparison_table

    try:
        cfg = EvalConfig(
            output_dir=out.resolve(), data=data.resolve() if data else None, benchmarks=_benchmarks(benchmark or []),
            base=base.resolve() if base else None, finetuned=finetuned.resolve() if finetuned else None,
            tasks=task or [], limit_per_task=limit_per_task, eval_fraction=eval_fraction, batch_size=batch_size,
            max_new_tokens=max_new_tokens, crop_to_patches=not no_tiling, max_patches=max_patches,
            embedding=not no_embedding, judge=judge, judge_config=judge_config, device=device, dtype=dtype,
            allow_pickle=allow_pickle,
        )
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc
    # Read every benchmark before any model loads: one that cannot be read, or yields nothing to
    # score, stops the command with the reason (exit 2) instead of vanishing from the results.
    for spec in cfg.benchmarks:
        try:
            read = load_benchmark(spec.name, spec.path, allow_pickle=allow_pickle, cache_dir=cfg.output_dir / "benchmark_images")
        except BenchmarkError as exc:
            console.print(f"[red]error:[/] benchmark {spec.name}: {exc}", soft_wrap=True)
            raise typer.Exit(2) from exc
        console.print(read.describe(), soft_wrap=True)
    if use_flow:
        os.environ.setdefault("PREFECT_HOME", str((out / ".prefect").resolve()))
        from flows.evaluate import evaluate_flow

        comparison = evaluate_flow(cfg)
    else:
        from pipeline.evaluate.runner import close_engine, evaluate as run_evaluation, open_judge_engine

        engine = open_judge_engine(cfg) if judge else None
        try:
            comparison = run_evaluation(cfg, engine).comparison
        finally:
            close_engine(engine)
    console.print(comparison_table(comparison))
    if comparison.get("problems"):
        console.print(f"[yellow]{len(comparison['problems'])} items not scored[/], e.g. {comparison['problems'][0]}")
    console.print(f"comparison: {cfg.output_dir / 'comparison.json'}")
    json.dumps(comparison)  # fail here, not in a reader, if something non-JSON slipped in


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)

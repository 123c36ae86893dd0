"""The `evaluate` Prefect flow: predict and score with each model, then compare. The flow parameter
is the pydantic EvalConfig, so the Prefect UI renders it as a form."""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipeline.evaluate import EvalConfig, evaluate
from pipeline.evaluate.runner import close_engine, open_judge_engine


@task(name="evaluate", cache_policy=NO_CACHE)
def evaluate_task(config: EvalConfig) -> dict:
    engine = open_judge_engine(config) if config.judge else None
    try:
        return evaluate(config, engine).comparison
    finally:
        close_engine(engine)


def comparison_markdown(comparison: dict) -> str:
    models = comparison["models"]
    head = "| task | metric | " + " | ".join(models) + " |"
    lines = [head, "|" + "---|" * (len(models) + 2)]
    for task_name, metrics in comparison["tasks"].items():
        for metric, row in metrics.items():
            if metric != "n":
                cells = " | ".join(f"{row[m]:.3f}" if m in row else "-" for m in models)
                lines.append(f"| {task_name} | {metric} | {cells} |")
    return "\n".join(lines)


@flow(name="evaluate", log_prints=False)
def evaluate_flow(config: EvalConfig) -> dict:
    comparison = evaluate_task(config)
    create_markdown_artifact(key="evaluation", markdown=comparison_markdown(comparison),
                             description=f"evaluation -> {config.output_dir}/comparison.json")
    return comparison

"""The `finetune` Prefect flow: one task around pipeline.train.train. The flow parameter is the
pydantic TrainConfig, so the Prefect UI renders it as a form."""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipeline.train import TrainConfig, train


@task(name="train", cache_policy=NO_CACHE)
def train_task(config: TrainConfig) -> dict:
    # No Prefect retries: a failed run is continued with resume=True, from its last checkpoint.
    return train(config).summary()


@flow(name="finetune", log_prints=False)
def finetune(config: TrainConfig) -> dict:
    summary = train_task(config)
    create_markdown_artifact(
        key="finetune-summary",
        markdown="\n".join(
            ["| what | value |", "|---|---|"]
            + [f"| {k} | {v} |" for k, v in summary.items() if k != "skipped"]
            + [f"| skipped samples | {len(summary['skipped'])} |"]
        ),
        description=f"finetune {config.mode} -> {summary['final_dir']}",
    )
    return summary

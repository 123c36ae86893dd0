"""The deployments `pmc-instruct serve` serves from one process (prefect.serve), the same ones
prefect.yaml declares for `prefect deploy` with a work pool:

  build-dataset/rebuild    the watched input folder, rebuilt on a cron schedule (only when
                           --input and --out are given); new articles are ingested into new shards,
                           done shards are skipped by their markers, repeated model calls come
                           from the response cache, and each rebuild records a dataset version
  build-dataset/build      a build on demand: the Prefect UI renders BuildConfig as a form
  finetune/finetune        TrainConfig form
  evaluate/evaluate        EvalConfig form

Every flow takes one pydantic model as its parameter, so the UI form and the API agree with the CLI.
"""

from __future__ import annotations

from typing import Any

DEFAULT_CRON = "0 * * * *"  # hourly: a rebuild with no new articles costs one ingest scan and no model calls
REBUILD = "rebuild"
BUILD = "build"


def rebuild_parameters(config: Any) -> dict[str, Any]:
    """A BuildConfig as deployment parameters (JSON; API keys are excluded by EngineSettings)."""
    return {"config": config.model_dump(mode="json")}


def deployments(rebuild_config: Any = None, cron: str = DEFAULT_CRON, timezone: str = "UTC") -> list:
    """RunnerDeployments for prefect.serve. `rebuild_config` (a BuildConfig) enables the scheduled
    rebuild; without it only the on-demand deployments are made."""
    from flows.build import build_dataset
    from flows.evaluate import evaluate_flow
    from flows.finetune import finetune
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron

    tags = ["pmc-instruct"]
    found = []
    if rebuild_config is not None:
        found.append(build_dataset.to_deployment(
            name=REBUILD, schedules=[Cron(cron, timezone=timezone)], parameters=rebuild_parameters(rebuild_config), tags=tags,
            # A rebuild that comes due while the last one still runs is cancelled: the next one picks up
            # whatever arrived meanwhile (the output folder's writer lock would refuse it anyway).
            concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
            description=f"Rebuild {rebuild_config.out_dir} from {rebuild_config.input_dir}: new articles only",
        ))
    found += [
        build_dataset.to_deployment(name=BUILD, tags=tags, description="Build a dataset (fill in the form)"),
        finetune.to_deployment(name="finetune", tags=tags, description="Finetune an InternVL model on an export"),
        evaluate_flow.to_deployment(name="evaluate", tags=tags, description="Compare base and finetuned models"),
    ]
    return found

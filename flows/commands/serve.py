"""`pmc-instruct serve`: serve every deployment (scheduled rebuild, build, finetune, evaluate) from this
one process with prefect.serve, until Ctrl-C. Runs are triggered from the Prefect UI or API
(`prefect deployment run build-dataset/build ...`) and by the rebuild's cron schedule."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from flows.commands.build import _engine_overrides

console = Console(stderr=True)


def serve(
    input: Annotated[Optional[Path], typer.Option("--input", help="watched input folder for the scheduled rebuild", file_okay=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="output folder of the scheduled rebuild")] = None,
    cron: Annotated[str, typer.Option("--cron", help="rebuild schedule (cron, in --timezone)")] = "0 * * * *",
    timezone: Annotated[str, typer.Option("--timezone", help="time zone of the cron schedule")] = "UTC",
    stages: Annotated[Optional[list[str]], typer.Option("--stages", help="rebuild: stages to run (repeat or comma-separate)")] = None,
    backend: Annotated[Optional[str], typer.Option(help="rebuild: text model backend: embedded | openai")] = None,
    base_url: Annotated[Optional[list[str]], typer.Option("--base-url", help="rebuild: OpenAI-compatible text endpoint (repeatable)")] = None,
    model: Annotated[Optional[str], typer.Option(help="rebuild: text model name")] = None,
    vision_base_url: Annotated[Optional[list[str]], typer.Option("--vision-base-url", help="rebuild: vision endpoint (repeatable)")] = None,
    vision_model: Annotated[Optional[str], typer.Option(help="rebuild: vision model name")] = None,
    config: Annotated[Optional[Path], typer.Option(help="rebuild: TOML/YAML engine config file", exists=True, dir_okay=False)] = None,
    shard_size: Annotated[Optional[int], typer.Option(help="rebuild: figures per new shard", min=1)] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help="rebuild: max new tokens per model answer", min=16)] = None,
    max_runs: Annotated[int, typer.Option("--max-runs", help="flow runs this process executes at once", min=1)] = 2,
) -> None:
    """Serve the build-dataset (scheduled rebuild + on demand), finetune and evaluate deployments."""
    if (input is None) != (out is None):
        raise typer.BadParameter("the scheduled rebuild needs both --input and --out (or neither)")
    if backend not in (None, "embedded", "openai"):
        raise typer.BadParameter("--backend must be embedded or openai")
    from pipeline.build import all_names

    names = [n.strip() for item in stages or [] for n in item.split(",") if n.strip()] or None
    unknown = set(names or ()) - set(all_names())
    if unknown:
        raise typer.BadParameter(f"unknown stages {sorted(unknown)}; known: {', '.join(all_names())}")
    if not os.environ.get("PREFECT_API_URL"):
        console.print("[yellow]PREFECT_API_URL is not set:[/] serving against a throwaway local Prefect server "
                      "that lives as long as this process (no UI). Start one with `prefect server start` and "
                      "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api` to keep runs and schedules.")
    from prefect import serve as prefect_serve

    from flows.deployments import deployments

    rebuild = None
    if input is not None and out is not None:
        from pipeline.build import BuildConfig
        from pipeline.engine.settings import load_settings
        from pipeline.ingest.config import IngestConfig

        settings = load_settings(config, **_engine_overrides(backend, base_url, model, vision_base_url, vision_model))
        rebuild = BuildConfig(input_dir=input.resolve(), out_dir=out.resolve(), stages=names, max_tokens=max_tokens,
                              ingest=IngestConfig(**({"shard_size": shard_size} if shard_size else {})), engine=settings)
    found = deployments(rebuild, cron=cron, timezone=timezone)
    console.print(f"serving {', '.join(f'{d.flow_name}/{d.name}' for d in found)}"
                  + (f"; rebuild of {rebuild.input_dir} on '{cron}' ({timezone})" if rebuild else ""))
    prefect_serve(*found, limit=max_runs)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)

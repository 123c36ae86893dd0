"""`pmc-instruct build`: run the build-dataset flow locally (Prefect ephemeral mode, no server)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _prefect_env(out: Path) -> None:
    # Must run before prefect is imported: it reads its settings once, at import.
    if "PREFECT_HOME" not in os.environ:
        home = (out / ".prefect").resolve()
        home.mkdir(parents=True, exist_ok=True)  # Prefect creates only the last level itself
        os.environ["PREFECT_HOME"] = str(home)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


def _engine_overrides(backend, base_urls, model, vision_base_urls, vision_model) -> dict:
    text: dict = {}
    if backend:
        text["backend"] = backend
    if base_urls:
        text["base_urls"] = list(base_urls)
        text.setdefault("backend", "openai")
    if model:
        text["model"] = model
    vision: dict = {}
    if vision_base_urls:
        vision.update(backend="openai", base_urls=list(vision_base_urls))
    if vision_model:
        vision["model"] = vision_model
    return {k: v for k, v in (("text", text), ("vision", vision)) if v}


def summary_table(report) -> Table:
    table = Table(title="pmc-instruct build", title_justify="left")
    for col in ("step", "rows", "rejects", "skipped shards", "model calls", "cache hits", "seconds"):
        table.add_column(col, justify="left" if col == "step" else "right")
    for s in report.steps:
        skipped = f"{s.skipped_shards}/{s.shards}" if s.kind == "stage" else "-"
        table.add_row(s.name, str(s.rows), str(s.rejects), skipped, str(s.model_calls), str(s.cache_hits),
                      f"{s.seconds:.1f}")
    table.add_section()
    table.add_row("total", "", "", "", str(report.model_calls), str(report.cache_hits), f"{report.seconds:.1f}")
    return table


def build(
    input: Annotated[Path, typer.Option("--input", help="input folder (JATS/nxml + images, or JSON records)",
                                        exists=True, file_okay=False)],
    out: Annotated[Path, typer.Option("--out", help="output folder")],
    stages: Annotated[Optional[list[str]], typer.Option("--stages", help="stages to run (repeat or comma-separate)")] = None,
    limit: Annotated[Optional[int], typer.Option(help="process only the first N figures (by figure id)", min=1)] = None,
    backend: Annotated[Optional[str], typer.Option(help="text model backend: embedded | openai")] = None,
    base_url: Annotated[Optional[list[str]], typer.Option("--base-url", help="OpenAI-compatible text endpoint (repeatable)")] = None,
    model: Annotated[Optional[str], typer.Option(help="text model name (server model or embedded key)")] = None,
    vision_base_url: Annotated[Optional[list[str]], typer.Option("--vision-base-url", help="OpenAI-compatible vision endpoint (repeatable)")] = None,
    vision_model: Annotated[Optional[str], typer.Option(help="vision model name on that endpoint")] = None,
    config: Annotated[Optional[Path], typer.Option(help="TOML/YAML config file (models table)", exists=True, dir_okay=False)] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="ignore the response cache")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="response cache folder (default OUT/cache); node-local on multi-machine Dask", file_okay=False)] = None,
    shard_size: Annotated[Optional[int], typer.Option(help="figures per shard (new shards only)", min=1)] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help="max new tokens per model answer", min=16)] = None,
    prompts_dir: Annotated[Optional[Path], typer.Option(help="prompt template folder", file_okay=False)] = None,
    runner: Annotated[str, typer.Option("--runner", help="task runner: thread (one process) or dask (worker processes or a cluster)")] = "thread",
    dask_address: Annotated[Optional[str], typer.Option("--dask-address", help="existing Dask scheduler, e.g. tcp://host:8786 (default: a LocalCluster)")] = None,
    dask_workers: Annotated[Optional[int], typer.Option("--dask-workers", help="LocalCluster worker processes (default: Dask's choice)", min=1)] = None,
) -> None:
    """Build the dataset: ingest, caption summary, knowledge, perception (then later stages)."""
    if backend not in (None, "embedded", "openai"):
        raise typer.BadParameter("--backend must be embedded or openai")
    if runner not in ("thread", "dask"):
        raise typer.BadParameter("--runner must be thread or dask")
    if runner != "dask" and (dask_address or dask_workers):
        raise typer.BadParameter("--dask-address and --dask-workers need --runner dask")
    _prefect_env(out)
    from flows.runners import build_flow
    from pipeline.build import BuildConfig, all_names
    from pipeline.engine.settings import load_settings
    from pipeline.ingest import InputFolderError
    from pipeline.ingest.config import IngestConfig
    from pipeline.io.atomic import WriteFailed
    from pipeline.io.layout import LayoutMismatch, check_layout
    from pipeline.io.lock import OutputBusy

    names = [n.strip() for item in stages or [] for n in item.split(",") if n.strip()] or None
    unknown = set(names or ()) - set(all_names())
    if unknown:
        raise typer.BadParameter(f"unknown stages {sorted(unknown)}; known: {', '.join(all_names())}")
    settings = load_settings(config, **_engine_overrides(backend, base_url, model, vision_base_url, vision_model))
    ingest = IngestConfig(**({"shard_size": shard_size} if shard_size else {}))
    cfg = BuildConfig(input_dir=input.resolve(), out_dir=out.resolve(), stages=names, limit=limit,
                      no_cache=no_cache, cache_dir=cache_dir.resolve() if cache_dir else None,
                      max_tokens=max_tokens, prompts_dir=prompts_dir, ingest=ingest,
                      engine=settings)
    try:
        check_layout(cfg.out_dir)  # refuse a foreign output folder before Prefect starts
        report = build_flow(runner, dask_address, dask_workers)(cfg)
    except (InputFolderError, LayoutMismatch, OutputBusy, FileNotFoundError) as exc:  # the run cannot start
        console.print(f"[red]build failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    except WriteFailed as exc:  # e.g. a full disk: finished shards stay valid, a rerun resumes
        console.print(f"[red]build failed:[/red] {exc}; finished shards are kept, rerun the same command "
                      "to resume once there is room")
        raise typer.Exit(1) from exc
    console.print(summary_table(report))
    out = cfg.out_dir
    tables = [s.output for s in report.steps if s.output and (out / s.output).is_dir()]
    console.print(f"Parquet shards:  {out}/<table>/part-*.parquet ({', '.join(tables)})", soft_wrap=True)
    console.print(f"Rejects:         {out}/rejects/<stage>/")
    console.print(f"Build report:    {out / 'build-report.md'}")
    if report.keep_rate is not None:  # the headline: how much of what the model wrote survived the gates
        console.print(f"Kept:            {report.keep_rate:.1%} of generated rows ({', '.join(report.models)})")
    for label, rel in (("Stats:", "stats.json"), ("InternVL train:", "export/internvl/meta.json"),
                       ("InternVL eval:", "export/internvl/meta_eval.json")):
        if (out / rel).exists():
            console.print(f"{label:<16} {out / rel}")
    if (out / "report.html").exists():
        console.print(f"Dataset report:  {(out / 'report.html').as_uri()}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("build")(build)

"""`pmc-instruct serve`: serve every deployment (scheduled rebuild, build, finetune, evaluate) from this
one process with prefect.serve, until Ctrl-C. Runs are triggered from the Prefect UI or API
(`prefect deployment run build-dataset/build ...`) and by the rebuild's cron schedule. The rebuild
takes the same build options as `pmc-instruct build`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from flows.commands.build_options import BuildOptions, build_options
from flows.errors import user_errors

console = Console(stderr=True)


@build_options
def serve(
    input: Annotated[Optional[Path], typer.Option("--input", help="watched input folder for the scheduled rebuild")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="output folder of the scheduled rebuild")] = None,
    cron: Annotated[str, typer.Option("--cron", help="rebuild schedule (cron, in --timezone)")] = "0 * * * *",
    timezone: Annotated[str, typer.Option("--timezone", help="time zone of the cron schedule")] = "UTC",
    max_runs: Annotated[int, typer.Option("--max-runs", help="flow runs this process executes at once", min=1)] = 2,
    *,
    opts: BuildOptions,
) -> None:
    """Serve the build-dataset (scheduled rebuild + on demand), finetune and evaluate deployments.
    The build options below describe the scheduled rebuild."""
    from flows.preflight import check_build

    with user_errors("serve"):
        extra = [] if (input is None) == (out is None) else [
            "--input and --out: the scheduled rebuild needs both (or neither)"]
        # Neither endpoints nor input files are checked: the rebuild runs later, when both may be there.
        rebuild = check_build(input, out, opts, extra=extra, endpoints=False, input_files=False)
    if not os.environ.get("PREFECT_API_URL"):
        console.print("[yellow]PREFECT_API_URL is not set:[/] serving against a throwaway local Prefect server "
                      "that lives as long as this process (no UI). Start one with `prefect server start` and "
                      "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api` to keep runs and schedules.")
    from prefect import serve as prefect_serve

    from flows.deployments import deployments

    found = deployments(rebuild, cron=cron, timezone=timezone)
    console.print(f"serving {', '.join(f'{d.flow_name}/{d.name}' for d in found)}"
                  + (f"; rebuild of {rebuild.input_dir} on '{cron}' ({timezone})" if rebuild else ""))
    prefect_serve(*found, limit=max_runs)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)

"""`pmc-instruct build`: check everything, then run the build-dataset flow in this process against a
Prefect server of its own (flows/server.py) or the one PREFECT_API_URL names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from flows.commands.build_options import BuildOptions, build_options
from flows.errors import CancelledInPrefect, user_errors

console = Console()
RUNNERS = ("thread", "dask")


def _prefect_env(out: Path) -> None:
    # Must run before prefect is imported: it reads its settings once, at import.
    if "PREFECT_HOME" not in os.environ:
        home = (out / ".prefect").resolve()
        home.mkdir(parents=True, exist_ok=True)  # Prefect creates only the last level itself
        os.environ["PREFECT_HOME"] = str(home)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


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


def _print_outputs(report, out: Path) -> None:
    console.print(summary_table(report))
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


def _warm_imports() -> None:
    """Run while our Prefect server starts: importing prefect and the flow costs seconds too."""
    import flows.build  # noqa: F401
    import flows.runners  # noqa: F401


def run_build(cfg, runner: str = "thread", dask_address: str | None = None, dask_workers: int | None = None):
    """The flow against a Prefect API; the live progress display while it runs."""
    from flows import stopping
    from flows.live import live_progress
    from flows.server import configured_api_url, prefect_api

    _prefect_env(cfg.out_dir)
    external = configured_api_url() is not None
    deadline = stopping.install(stopping.EXTERNAL_GRACE_S if external else stopping.GRACE_S)
    try:
        with prefect_api(Path(os.environ["PREFECT_HOME"]), on_ready=_warm_imports):
            from flows.monitor import cancelled_in_prefect, mark_cancelled
            from flows.runners import build_flow

            try:
                with live_progress():
                    return build_flow(runner, dask_address, dask_workers, cfg.shard_workers)(cfg)
            except BaseException:
                if cancelled_in_prefect():
                    mark_cancelled()  # while the server is still up
                    raise CancelledInPrefect() from None
                raise
    finally:
        stopping.uninstall(deadline)


@build_options
def build(
    input: Annotated[Path, typer.Option("--input", help="input folder (JATS/nxml + images, or JSON records)")],
    out: Annotated[Path, typer.Option("--out", help="output folder (created if absent; never inside --input)")],
    runner: Annotated[str, typer.Option("--runner", help="task runner: thread (one process) or dask (worker processes or a cluster)")] = "thread",
    dask_address: Annotated[Optional[str], typer.Option("--dask-address", help="existing Dask scheduler, e.g. tcp://host:8786 (default: a LocalCluster)")] = None,
    dask_workers: Annotated[Optional[int], typer.Option("--dask-workers", help="LocalCluster worker processes (default: Dask's choice)", min=1)] = None,
    *,
    opts: BuildOptions,
) -> None:
    """Build the dataset: ingest, caption summary, knowledge, perception, QA, de-leakage, finalize, report."""
    from flows.preflight import check_build

    with user_errors("build"):
        problems = []
        if runner not in RUNNERS:
            problems.append(f"--runner: {runner!r} is not a task runner; choose thread or dask")
        elif runner != "dask" and (dask_address or dask_workers):
            problems.append("--dask-address and --dask-workers need --runner dask")
        cfg = check_build(input, out, opts, extra=problems)
        report = run_build(cfg, runner, dask_address, dask_workers)
    _print_outputs(report, cfg.out_dir)


def register(app: typer.Typer) -> None:
    app.command("build")(build)

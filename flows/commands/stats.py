"""`pmc-instruct stats DIR`: per-task dataset statistics as a table, also written to DIR/stats.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.errors import refuse_unless_build_output


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _leak(t) -> str:
    if t.leakage_before_mean is None and t.leakage_after_mean is None:
        return "-"
    return f"{_fmt(t.leakage_before_mean)}>{_fmt(t.leakage_after_mean)}"


def render(console, result, path: Path) -> None:
    """Three narrow blocks that fit an 80-column terminal: counts per task, rejects by task and
    reason (one per line), and rejects by stage. Wide cells never fold mid-number."""
    from rich import box
    from rich.table import Table

    table = Table(title=f"dataset {result.out_dir}", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    table.add_column("task", no_wrap=True)
    for col in ("generated", "de-leaked", "final", "train/eval"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("leakage", justify="right", no_wrap=True)
    table.add_column("dup", justify="right", no_wrap=True)
    for t in result.tasks:
        table.add_row(t.task, str(t.generated), str(t.deleaked), str(t.final), f"{t.train}/{t.eval}", _leak(t),
                      "-" if t.duplicate_rate is None else f"{t.duplicate_rate:.1%}")
    console.print(table)
    console.print("leakage: mean leakage of the answer into its context, before>after de-leakage; "
                  "dup: share of near-duplicates dropped")
    letters = [f"{t.task}: " + " ".join(f"{k}:{v}" for k, v in t.mcq_letters.items()) for t in result.tasks if t.mcq_letters]
    for line in letters:
        console.print(f"MCQ correct letters, {line}")
    rejected = [(t.task, r, n) for t in result.tasks for r, n in t.rejects_by_reason.items()]
    if rejected:
        rejects = Table(title="rejects by task", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
        rejects.add_column("task", no_wrap=True)
        rejects.add_column("reason", overflow="fold")
        rejects.add_column("rows", justify="right", no_wrap=True)
        for task, reason, n in rejected:
            rejects.add_row(task, reason, str(n))
        console.print(rejects)
    if result.rejects_by_stage:
        stages = Table(title="rejects by stage", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
        stages.add_column("stage", no_wrap=True)
        stages.add_column("reasons", overflow="fold")
        for stage, reasons in result.rejects_by_stage.items():
            stages.add_row(stage, ", ".join(f"{r}: {n}" for r, n in reasons.items()))
        console.print(stages)
    console.print(f"final rows: {result.total_final}, rejects: {result.total_rejects}; written {path}")


def register(app: typer.Typer) -> None:
    @app.command("stats")
    def stats(
        out_dir: Annotated[Path, typer.Argument(help="output folder of a build (any stage reached)")],
        json_only: Annotated[bool, typer.Option("--json-only", help="print the JSON instead of the table")] = False,
    ) -> None:
        """Counts, rejects by reason, leakage before/after, MCQ letters and duplicate rate per task."""
        from rich.console import Console

        from pipeline.report.stats import compute_stats, write_stats  # imported late: keeps `--help` fast

        refuse_unless_build_output(out_dir)
        result = compute_stats(out_dir)
        path = write_stats(out_dir, result)
        for shard in result.unreadable_shards:  # counted as no rows: say so, on stderr
            typer.echo(f"warning: {shard}: unreadable Parquet shard, counted as no rows", err=True)
        if json_only:
            typer.echo(result.model_dump_json(indent=2))
            return
        render(Console(), result, path)

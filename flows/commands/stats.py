"""`pmc-instruct stats DIR`: per-task dataset statistics as a table, also written to DIR/stats.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.errors import refuse_unless_build_output


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def register(app: typer.Typer) -> None:
    @app.command("stats")
    def stats(
        out_dir: Annotated[Path, typer.Argument(help="output folder of a build (any stage reached)")],
        json_only: Annotated[bool, typer.Option("--json-only", help="print the JSON instead of the table")] = False,
    ) -> None:
        """Counts, rejects by reason, leakage before/after, MCQ letters and duplicate rate per task."""
        from rich.console import Console
        from rich.table import Table

        from pipeline.report.stats import compute_stats, write_stats  # imported late: keeps `--help` fast

        refuse_unless_build_output(out_dir)
        result = compute_stats(out_dir)
        path = write_stats(out_dir, result)
        if json_only:
            typer.echo(result.model_dump_json(indent=2))
            return
        console = Console()
        table = Table(title=f"pmc-instruct dataset: {out_dir}")
        for col in ("task", "generated", "de-leaked", "final", "train/eval", "rejects by reason",
                    "leak before", "leak after", "MCQ letters", "dup rate"):
            table.add_column(col, overflow="fold")
        for t in result.tasks:
            table.add_row(
                t.task, str(t.generated), str(t.deleaked), str(t.final), f"{t.train}/{t.eval}",
                "\n".join(f"{r}: {n}" for r, n in t.rejects_by_reason.items()) or "-",
                _fmt(t.leakage_before_mean), _fmt(t.leakage_after_mean),
                " ".join(f"{k}:{v}" for k, v in t.mcq_letters.items()) or "-",
                "-" if t.duplicate_rate is None else f"{t.duplicate_rate:.1%}",
            )
        console.print(table)
        if result.rejects_by_stage:
            stages = Table(title="rejects by stage")
            stages.add_column("stage")
            stages.add_column("reasons")
            for stage, reasons in result.rejects_by_stage.items():
                stages.add_row(stage, ", ".join(f"{r}: {n}" for r, n in reasons.items()))
            console.print(stages)
        console.print(f"final rows: {result.total_final}, rejects: {result.total_rejects}; written {path}")

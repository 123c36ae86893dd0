"""`pmc-instruct report DIR`: write DIR/report.html, the one-page look at a built dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.errors import refuse_unless_build_output


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        out_dir: Annotated[Path, typer.Argument(help="output folder of a build (any stage reached)")],
        max_examples: Annotated[int, typer.Option("--max-examples", min=0,
                                                  help="gallery examples shown per task")] = 6,
    ) -> None:
        """Write a self-contained HTML report (counts, rejects, leakage, distributions, gallery) to DIR/report.html."""
        from pipeline.report import write_report  # imported late: keeps `--help` fast

        refuse_unless_build_output(out_dir)
        path = write_report(out_dir, max_examples_per_task=max_examples)
        size_kib = path.stat().st_size / 1024
        typer.echo(f"report written ({size_kib:.0f} KiB): {path.resolve().as_uri()}")

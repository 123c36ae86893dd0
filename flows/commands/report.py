"""`pmc-instruct report DIR`: write DIR/report.html, the one-page look at a built dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        out_dir: Annotated[Path, typer.Argument(help="output folder of a build (any stage reached)")],
        max_examples: Annotated[int, typer.Option("--max-examples", min=0,
                                                  help="gallery examples shown per task")] = 6,
    ) -> None:
        """Write a self-contained HTML report (counts, rejects, leakage, distributions, gallery) to DIR/report.html."""
        from pipeline.report import write_report  # imported late: keeps `--help` fast

        if not out_dir.is_dir():
            typer.echo(f"error: output folder {out_dir} does not exist or is not a folder", err=True)
            raise typer.Exit(2)
        path = write_report(out_dir, max_examples_per_task=max_examples)
        size_kib = path.stat().st_size / 1024
        typer.echo(f"report written ({size_kib:.0f} KiB): {path.resolve().as_uri()}")

"""`pmc-instruct export hf OUT`: write the final tables of a build as a Hugging Face dataset folder
(embedded images, train/eval splits, one config per task, dataset card), optionally keeping only
rows under the licenses you allow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()
export_app = typer.Typer(help="Export a build's final data in other tools' formats.", no_args_is_help=True)


@export_app.command("hf")
def export_hf_command(
    out: Annotated[Path, typer.Argument(help="build output folder (holds final/<task>/part-*.parquet)", exists=True, file_okay=False)],
    dest: Annotated[Optional[Path], typer.Option("--dest", help="where the dataset folder goes (default OUT/export/hf)")] = None,
    license_: Annotated[Optional[list[str]], typer.Option("--license", help='keep only rows under this license, e.g. "CC BY" or CC0 (repeatable)')] = None,
    task: Annotated[Optional[list[str]], typer.Option("--task", help="export only this task (repeatable; default all)")] = None,
    rows_per_shard: Annotated[int, typer.Option("--rows-per-shard", min=1, help="rows per parquet file")] = 2000,
) -> None:
    """Hugging Face dataset: load it with datasets.load_dataset(DEST) or push it with push_to_hub."""
    from pipeline.exports.hf import export_hf
    from pipeline.io.parquet import write_rows
    from schemas import Reject

    try:
        result = export_hf(out, dest, licenses=license_, tasks=task, rows_per_shard=rows_per_shard)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    if result.rejects:
        write_rows(out / "rejects" / "export.hf" / "part-00000.parquet", result.rejects, Reject)
    table = Table(title=f"Hugging Face export -> {result.dest}")
    for col in ("config", "train", "eval"):
        table.add_column(col, justify="left" if col == "config" else "right")
    for name, splits in result.configs.items():
        table.add_row(name, str(splits.get("train", 0)), str(splits.get("eval", 0)))
    console.print(table)
    console.print("licenses: " + ", ".join(f"{c} {n}" for c, n in result.licenses.most_common()))
    if result.skipped:
        console.print("left out: " + ", ".join(f"{n} {why}" for why, n in result.skipped.most_common()))


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")

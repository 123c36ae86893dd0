"""`pmc-instruct ingest`: read JATS/PMC XML (plain or PMC OA .tar.gz archives), M3LLM JSON or LLaVA-Med
JSON into figure shards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest(
        input_dir: Annotated[Path, typer.Option("--input", "-i", help="folder with .xml/.nxml articles (and their images), PMC OA .tar.gz/.tgz/.tar archives, or .json/.jsonl records")],
        out: Annotated[Path, typer.Option("--out", "-o", help="output folder; figures/, articles/ and rejects/ingest/ shards are written here")],
        fmt: Annotated[str, typer.Option("--format", "-f", help="input format: auto (by extension and JSON keys), jats, m3llm or llava-med")] = "auto",
        shard_size: Annotated[int, typer.Option("--shard-size", min=1, help="figures per Parquet shard (one file's article is never split)")] = 250,
        panel_threshold: Annotated[float, typer.Option("--panel-threshold", min=0.0, max=1.0, help="M3LLM: sub-figures whose confidence-CSV probability is below this are dropped")] = 0.7,
        max_pixels: Annotated[int, typer.Option("--max-pixels", min=1, help="images with more pixels are rejected before decoding (decompression-bomb guard)")] = 90_000_000,
        limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="ingest at most this many new or changed input files in this run")] = None,
        no_panels: Annotated[bool, typer.Option("--no-panels", help="skip compound-figure separation (every image becomes one whole panel)")] = False,
        subfigure_csv: Annotated[Optional[Path], typer.Option("--subfigure-csv", help="M3LLM: sub-figure classifier CSV (filename,prob); default: CSVs beside each JSON", exists=True, dir_okay=False)] = None,
        image_root: Annotated[Optional[Path], typer.Option("--image-root", help="M3LLM: folder holding compound/group_<N>/ image folders (default: the JSON's folder)", exists=True, file_okay=False)] = None,
        labels_root: Annotated[Optional[Path], typer.Option("--labels-root", help="M3LLM: folder holding YOLO predict*/labels/ runs (default: the JSON's folder)", exists=True, file_okay=False)] = None,
    ) -> None:
        """Ingest figures, captions and citing paragraphs. Reruns skip unchanged files and add new shards."""
        from pipeline.ingest import IngestConfig, InputFolderError, run_ingest  # late import keeps --help fast
        from pipeline.io.layout import LayoutMismatch
        from pipeline.io.lock import OutputBusy, exclusive_output

        if fmt not in ("auto", "jats", "m3llm", "llava-med"):
            raise typer.BadParameter("must be one of auto, jats, m3llm, llava-med", param_hint="--format")
        config = IngestConfig(format=fmt, shard_size=shard_size, panel_threshold=panel_threshold,
                              max_pixels=max_pixels, limit=limit, detect_panels=not no_panels,
                              subfigure_csv=subfigure_csv, image_root=image_root, labels_root=labels_root)
        with Progress(TextColumn("[bold]ingest[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("{task.description}"), console=console, transient=True) as bar:
            task = bar.add_task("", total=None)

            def progress(done: int, total: int, current: str) -> None:
                bar.update(task, completed=done, total=total, description=current)

            try:
                with exclusive_output(out, "pmc-instruct ingest"):
                    result = run_ingest(input_dir, out, config, progress=progress)
            except (InputFolderError, LayoutMismatch, OutputBusy) as exc:
                console.print(f"[red]error:[/] {exc}", soft_wrap=True)
                raise typer.Exit(2) from exc

        table = Table(title=f"ingest {input_dir} -> {out}")
        table.add_column("what")
        table.add_column("count", justify="right")
        for name, value in (("input files", result.files_seen), ("unchanged (skipped)", result.files_skipped),
                            ("new files", result.files_new), ("changed files", result.files_changed),
                            ("removed files", result.files_removed), ("articles", result.articles),
                            ("figures", result.figures), ("figures with image", result.figures_with_image),
                            ("panels", result.panels), ("rejects", result.rejects)):
            table.add_row(name, str(value))
        for reason, count in result.rejects_by_reason.items():
            table.add_row(f"  rejects: {reason}", str(count))
        table.add_row("new shards", str(len(result.new_shards)))
        table.add_row("rewritten shards", str(len(result.rewritten_shards)))
        console.print(table)

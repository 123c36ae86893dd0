"""`pmc-instruct versions OUT`: the dataset versions recorded under OUT/versions/ (one per build that
changed the output), one in detail (--show), the snapshot file behind each of its paths (--paths),
or a version materialised as a readable dataset folder (--restore V --to DIR)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()
MAIN_TABLES = ("figures", "summaries", "knowledge", "perception")


def _code(code: dict) -> str:
    commit = (code.get("git_commit") or "")[:10]
    dirty = "+dirty" if code.get("git_dirty") == "yes" else ""
    return " ".join(x for x in (code.get("package"), f"{commit}{dirty}" if commit else "") if x) or "-"


def _rows(counts: dict[str, int], prefix: str) -> int:
    return sum(n for t, n in counts.items() if t == prefix or t.startswith(prefix + "/"))


def list_table(out: Path) -> Table:
    from pipeline.build.versions import load_version, missing_objects, version_names

    table = Table(title=f"dataset versions: {out}", title_justify="left")
    heads = ("version", "created UTC", "figures", "summ.", "know.", "perc.", "qa", "final", "rej.", "commit")
    for col in heads:
        table.add_column(col, justify="left" if col in ("version", "created UTC", "commit") else "right",
                         no_wrap=col in ("version", "created UTC"))
    for name in version_names(out):
        m = load_version(out, name)
        missing = missing_objects(out, m)
        label = m.version if not missing else f"{m.version} ({len(missing)} snapshots missing)"
        commit = (m.code.get("git_commit") or "-")[:6] + ("+" if m.code.get("git_dirty") == "yes" else "")
        table.add_row(label, m.created[:16].replace("T", " "), *(str(m.counts.get(t, 0)) for t in MAIN_TABLES),
                      str(_rows(m.counts, "qa")), str(_rows(m.counts, "final")), str(_rows(m.counts, "rejects")),
                      commit)
    return table


def show_version(out: Path, name: str) -> None:
    from pipeline.build.versions import load_version

    m = load_version(out, name)
    console.print(f"[bold]{m.version}[/] created {m.created}; previous: {m.previous or '-'}; code: {_code(m.code)}")
    counts = Table(title="rows per table", title_justify="left")
    counts.add_column("table")
    counts.add_column("rows", justify="right")
    for table, rows in m.counts.items():
        counts.add_row(table, str(rows))
    console.print(counts)
    cfg = m.config
    engine = cfg.get("engine") or {}
    text, vision = engine.get("text") or {}, engine.get("vision") or {}
    console.print(f"input: {cfg.get('input_dir')}; stages: {cfg.get('stages') or 'all'}; limit: {cfg.get('limit')}")
    console.print(f"text model: {text.get('backend')} {text.get('model') or ''} {text.get('base_urls') or ''}")
    console.print(f"vision model: {vision.get('backend')} {vision.get('model') or ''} {vision.get('base_urls') or ''}")
    if m.build:
        console.print(f"build: {m.build.get('model_calls')} model calls, {m.build.get('cache_hits')} cache hits, "
                      f"{m.build.get('seconds')} s")


def versions(
    out: Annotated[Path, typer.Argument(help="output folder of a build", exists=True, file_okay=False)],
    show: Annotated[Optional[str], typer.Option("--show", help="details of one version (v0002 or 2)")] = None,
    paths: Annotated[Optional[str], typer.Option("--paths", help="each file of a version and the snapshot that holds its bytes")] = None,
    restore: Annotated[Optional[str], typer.Option("--restore", help="materialise a version as a dataset folder (needs --to)")] = None,
    to: Annotated[Optional[Path], typer.Option("--to", help="new folder for --restore", file_okay=False)] = None,
) -> None:
    """List the dataset versions of OUT; show one, its snapshot paths, or restore it into a folder."""
    from pipeline.build.versions import load_version, restore_version, version_names

    if (restore is None) != (to is None):
        raise typer.BadParameter("--restore VERSION and --to DIR go together")
    try:
        if show:
            show_version(out, show)
        elif paths:
            m = load_version(out, paths)
            for rel in m.files:
                obj = m.object_path(out, rel)
                typer.echo(f"{rel}\t{obj}{'' if obj.exists() else '  (missing)'}")
        elif restore:
            dest = restore_version(out, restore, to)
            console.print(f"restored {restore} into {dest}")
        elif not version_names(out):
            console.print(f"no versions under {out / 'versions'} yet: each `pmc-instruct build` records one")
        else:
            console.print(list_table(out))
    except (FileNotFoundError, FileExistsError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc


def register(app: typer.Typer) -> None:
    app.command("versions")(versions)

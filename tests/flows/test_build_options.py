"""`build` and `serve` take one shared set of build options; stage names are listed in the help and
known to the pipeline; `--force` reaches BuildConfig.force."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer
from typer.testing import CliRunner

from flows.cli import app
from flows.commands.build_options import SHARED, STAGE_NAMES, BuildOptions
from flows.preflight import check_build


def _options(name: str) -> dict:
    command = typer.main.get_command(app).commands[name]  # typer vendors its own click
    return {p.name: p for p in command.params if type(p).__name__ == "TyperOption"}


def test_stage_names_are_the_pipelines():
    from pipeline.build import all_names

    assert list(STAGE_NAMES) == all_names()


def test_build_and_serve_share_every_build_option():
    build, serve = _options("build"), _options("serve")
    for param in SHARED:
        assert param.name in build and param.name in serve, param.name
        assert build[param.name].opts == serve[param.name].opts
        assert build[param.name].help == serve[param.name].help
    assert {"input", "out", "runner"} <= set(build) and {"cron", "max_runs"} <= set(serve)


def test_stages_help_lists_the_stage_names():
    text = CliRunner().invoke(app, ["build", "--help"], env={"COLUMNS": "200"}).output
    line = next(line for line in text.splitlines() if "--stages" in line)
    for name in STAGE_NAMES:
        assert name in line


def test_force_reaches_the_build_config(tmp_path: Path, demo_data: Path):
    shutil.copytree(demo_data / "demo" / "demo-001", tmp_path / "in" / "demo-001")
    opts = BuildOptions(force=["summary,knowledge", "qa"], stages=None, shard_size=2, limit=3)
    cfg = check_build(tmp_path / "in", tmp_path / "out", opts, endpoints=False)
    assert cfg.force == ["summary", "knowledge", "qa"]
    assert cfg.limit == 3 and cfg.ingest.shard_size == 2 and cfg.engine.text.backend == "embedded"
    assert not (tmp_path / "out").exists()  # checking writes nothing

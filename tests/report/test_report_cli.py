"""The `report` command, registered on its own app so it is tested apart from the other commands."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from flows.commands import report

from .dataset import build_dataset


def _app() -> typer.Typer:
    app = typer.Typer()
    report.register(app)

    @app.callback()
    def _root() -> None:  # keeps `report` a named subcommand, as under the real CLI
        pass

    return app


def test_report_command_prints_file_url(tmp_path):
    out = build_dataset(tmp_path / "out", stages=1)
    result = CliRunner().invoke(_app(), ["report", str(out), "--max-examples", "2"])
    assert result.exit_code == 0, result.output
    html = out / "report.html"
    assert html.is_file()
    assert html.resolve().as_uri() in result.output


def test_report_command_refuses_missing_folder(tmp_path):
    result = CliRunner().invoke(_app(), ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert not (tmp_path / "nope").exists()

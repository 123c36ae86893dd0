"""The `pmc-instruct` command line. Each command lives in its own module under flows/commands/
and registers itself on this app through `register(app)`."""

from __future__ import annotations

import importlib
import os

import typer

# Keep Prefect quiet and local before anything imports it (see README "Prefect settings").
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# torch's OpenMP threads sleep while they wait instead of spinning, set before anything loads torch
# (the MiniLM preload, the embedded model): see pipeline.engine.embedded_backend.default_threads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = typer.Typer(
    name="pmc-instruct",
    help="Build multimodal instruction data from PubMed Central figures, finetune and evaluate on it.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)



@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="show the traceback behind an error message")) -> None:
    """Build multimodal instruction data from PubMed Central figures, finetune and evaluate on it."""
    from flows.errors import set_debug

    set_debug(debug)


# One module per command (or command group); order is the order shown in --help.
COMMAND_MODULES = [
    "ingest",
    "build",
    "report",
    "export",
    "finetune",
    "evaluate",
    "models",
    "stats",
    "serve",
    "versions",
]

for _name in COMMAND_MODULES:
    importlib.import_module(f"flows.commands.{_name}").register(app)


if __name__ == "__main__":
    app()

"""`pmc-instruct models check`: reach every configured model endpoint (list its models; an embeddings
endpoint also embeds one sentence) or load the embedded models, and show what answered."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _check_endpoint(url: str, key: str | None, timeout: float) -> tuple[bool, str, float]:
    import openai

    from pipeline.engine.redact import redact

    start = time.perf_counter()
    try:
        client = openai.OpenAI(base_url=url, api_key=key or "EMPTY", max_retries=0, timeout=timeout)
        names = [m.id for m in client.models.list().data]
        detail = ", ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5 else "")
        return True, detail or "(no models listed)", time.perf_counter() - start
    except Exception as exc:  # report, never raise: the table shows every endpoint
        return False, redact(f"{type(exc).__name__}: {exc}")[:200], time.perf_counter() - start


def _check_embeds(url: str, model: str | None, key: str | None, timeout: float, listed: str,
                  seconds: float) -> tuple[bool, str, float]:
    """After GET /models answered: POST /embeddings turns one sentence into a vector (a chat model
    is listed too, but cannot embed)."""
    from pipeline.build.preflight import embedding_problem
    from pipeline.engine.redact import redact

    if not model:
        return False, "no embedding model named: set --embed-model or PMC_INSTRUCT_EMBED__MODEL", seconds
    start = time.perf_counter()
    problem = embedding_problem(url, model, key, timeout)
    seconds += time.perf_counter() - start
    if problem:
        return False, redact(problem)[:200], seconds
    return True, f"embeds with {model}; lists {listed}", seconds


def _check_local_embedder() -> tuple[bool, tuple[str, str, str, str]]:
    """Load the bundled MiniLM and embed one sentence: (ok, (target, status, detail, seconds))."""
    from pipeline import embeddings

    start = time.perf_counter()
    try:
        target = str(embeddings.model_dir())
        vector = embeddings.embed(["models check"])[0]  # de-leak's own call
    except Exception as exc:  # report, never raise: the table shows every role
        return False, ("all-MiniLM-L6-v2", "[red]failed[/]", f"{type(exc).__name__}: {exc}"[:200],
                       f"{time.perf_counter() - start:.1f}")
    return True, (target, "[green]loaded[/]", f"all-MiniLM-L6-v2 on this CPU; {len(vector)} dimensions",
                  f"{time.perf_counter() - start:.1f}")


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(help="Inspect the configured model backends.", no_args_is_help=True)

    @models_app.command("check")
    def check(
        config: Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML/YAML config file (else PMC_INSTRUCT_CONFIG)")] = None,
        timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="seconds per endpoint")] = 10.0,
    ) -> None:
        """Ping each configured endpoint (lists its models; de-leak's embeddings endpoint also embeds a
        sentence) or load the embedded models (path, size, load time)."""
        from pipeline.engine.redact import install_log_redaction, register_secret
        from pipeline.engine.settings import load_settings

        install_log_redaction()
        settings = load_settings(config)
        table = Table(title="model backends")
        for column in ("role", "backend", "target", "status", "detail", "seconds"):
            table.add_column(column)
        failed = False
        for role_name in ("text", "vision", "embed"):
            role = getattr(settings, role_name)
            if role.uses_endpoint:
                key = role.resolve_api_key(settings.api_key)
                secret = key.get_secret_value() if key else None
                register_secret(secret)
                for url in role.base_urls:
                    ok, detail, secs = _check_endpoint(url, secret, timeout)
                    if ok and role_name == "embed":
                        ok, detail, secs = _check_embeds(url, role.model, secret, timeout, detail, secs)
                    failed |= not ok
                    table.add_row(role_name, f"openai ({role.model or 'default'})", url,
                                  "[green]ok[/]" if ok else "[red]failed[/]", detail, f"{secs:.2f}")
            elif role_name == "embed":
                ok, row = _check_local_embedder()
                failed |= not ok
                table.add_row("embed", "embedded", *row)
            elif role_name == "vision":
                table.add_row("vision", "none", "-", "[yellow]not configured[/]",
                              "vision requests get error results; stage 3 uses measured facts", "-")
            else:
                from pipeline.engine.embedded_model import MODELS, load_model

                key_name = role.model or "smollm2-135m"
                start = time.perf_counter()
                try:
                    lm = load_model(key_name)
                    detail = f"{lm.model_id}; {lm.size_bytes / 2**20:.1f} MiB"
                    table.add_row("text", "embedded", str(lm.path), "[green]loaded[/]", detail,
                                  f"{time.perf_counter() - start:.1f}")
                except Exception as exc:
                    failed = True
                    table.add_row("text", "embedded", key_name if key_name in MODELS else "?", "[red]failed[/]",
                                  f"{type(exc).__name__}: {exc}"[:200], f"{time.perf_counter() - start:.1f}")
        console.print(table)
        if failed:
            raise typer.Exit(1)

    app.add_typer(models_app, name="models")

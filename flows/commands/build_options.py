"""The options that describe a build, defined once and shared by `build` and `serve` (its scheduled
rebuild): `@build_options` adds them to a command's signature and hands the command one BuildOptions.
Checking them (values, paths, endpoints, input) is pipeline.build.preflight's job, before Prefect starts."""

import functools
import inspect
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

STAGE_NAMES = ("ingest", "summary", "knowledge", "perception", "qa", "deleak", "finalize", "report")


def _stage_help(what: str) -> str:
    return f"{what} (repeat or comma-separate): {', '.join(STAGE_NAMES)}"


@dataclass
class BuildOptions:
    """What the shared options gave (None: not given)."""

    stages: Optional[list[str]] = None
    force: Optional[list[str]] = None
    limit: Optional[int] = None
    backend: Optional[str] = None
    base_url: Optional[list[str]] = None
    model: Optional[str] = None
    vision_base_url: Optional[list[str]] = None
    vision_model: Optional[str] = None
    embed_base_url: Optional[list[str]] = None
    embed_model: Optional[str] = None
    config: Optional[Path] = None
    no_cache: bool = False
    cache_dir: Optional[Path] = None
    shard_size: Optional[int] = None
    shard_workers: Optional[int] = None
    max_tokens: Optional[int] = None
    prompts_dir: Optional[Path] = None

    @staticmethod
    def names(values: Optional[list[str]]) -> Optional[list[str]]:
        """`--stages a,b --stages c` -> [a, b, c]; nothing given -> None."""
        return [n.strip() for item in values or [] for n in item.split(",") if n.strip()] or None

    def engine_overrides(self) -> dict:
        text: dict = {}
        if self.backend:
            text["backend"] = self.backend
        if self.base_url:
            text["base_urls"] = list(self.base_url)
            text.setdefault("backend", "openai")
        if self.model:
            text["model"] = self.model
        vision: dict = {}
        if self.vision_base_url:
            vision.update(backend="openai", base_urls=list(self.vision_base_url))
        if self.vision_model:
            vision["model"] = self.vision_model
        embed: dict = {}
        if self.embed_base_url:
            embed.update(backend="openai", base_urls=list(self.embed_base_url))
        if self.embed_model:
            embed["model"] = self.embed_model
        return {k: v for k, v in (("text", text), ("vision", vision), ("embed", embed)) if v}


def _opt(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


# One definition of every shared option: its flag, type, default and help.
SHARED = [
    _opt("stages", Annotated[Optional[list[str]], typer.Option("--stages", help=_stage_help("stages to run")),
                             ]),
    _opt("force", Annotated[Optional[list[str]], typer.Option(
        "--force", help=_stage_help("rerun these stages even where their shards are current"))]),
    _opt("limit", Annotated[Optional[int], typer.Option("--limit", min=1,
                                                        help="process only the first N figures (by figure id)")]),
    _opt("backend", Annotated[Optional[str], typer.Option("--backend", help="text model backend: embedded | openai")]),
    _opt("base_url", Annotated[Optional[list[str]], typer.Option(
        "--base-url", help="OpenAI-compatible text endpoint, e.g. http://host:8000/v1 (repeatable)")]),
    _opt("model", Annotated[Optional[str], typer.Option("--model", help="text model name (server model or embedded key)")]),
    _opt("vision_base_url", Annotated[Optional[list[str]], typer.Option(
        "--vision-base-url", help="OpenAI-compatible vision endpoint (repeatable)")]),
    _opt("vision_model", Annotated[Optional[str], typer.Option("--vision-model", help="vision model name on that endpoint")]),
    _opt("embed_base_url", Annotated[Optional[list[str]], typer.Option(
        "--embed-base-url", help="OpenAI-compatible /embeddings endpoint for de-leak scoring (repeatable; "
                                 "default: the bundled MiniLM on this machine's CPU)")]),
    _opt("embed_model", Annotated[Optional[str], typer.Option(
        "--embed-model", help="embedding model name on that endpoint, e.g. sentence-transformers/all-MiniLM-L6-v2")]),
    _opt("config", Annotated[Optional[Path], typer.Option("--config", help="TOML/YAML engine config file (models table)")]),
    _opt("no_cache", Annotated[bool, typer.Option("--no-cache", help="ignore the response cache")], False),
    _opt("cache_dir", Annotated[Optional[Path], typer.Option(
        "--cache-dir", help="response cache folder (default OUT/cache); node-local on multi-machine Dask")]),
    _opt("shard_size", Annotated[Optional[int], typer.Option("--shard-size", min=1, help="figures per shard (new shards only)")]),
    _opt("shard_workers", Annotated[Optional[int], typer.Option(
        "--shard-workers", min=1, help="(stage, shard) pairs running at once (default 4); model calls in flight "
                                       "are bounded by each endpoint's concurrency")]),
    _opt("max_tokens", Annotated[Optional[int], typer.Option("--max-tokens", min=16,
                                                             help="max new tokens per model answer")]),
    _opt("prompts_dir", Annotated[Optional[Path], typer.Option("--prompts-dir", help="prompt template folder")]),
]
assert [p.name for p in SHARED] == [f.name for f in fields(BuildOptions)]


def build_options(command):
    """Give `command` (which takes `opts: BuildOptions`) the shared options after its own."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "opts"]
    own_names = {p.name for p in own}

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        shared = {p.name: kwargs.pop(p.name) for p in SHARED}
        return command(opts=BuildOptions(**shared), **{k: v for k, v in kwargs.items() if k in own_names})

    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + SHARED
    wrapper.__signature__ = inspect.Signature(params)
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # typer must read the merged signature, not the command's own
    return wrapper

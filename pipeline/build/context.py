"""What every stage of one build shares: the config, the model id per engine role, the figure
shards and the --limit selection. Made once, after ingest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

import pipeline.build.progress as live
from pipeline.build.config import BuildConfig
from pipeline.engine.backend import Backend
from pipeline.engine.settings import DEFAULT_EMBEDDED_MODEL, EngineSettings, ModelRole
from pipeline.engine.types import Engine
from pipeline.io.parquet import list_shards
from pipeline.stages.base import Stage
from pipeline.stages.runner import figure_shards


@dataclass
class BuildContext:
    config: BuildConfig
    model_ids: dict[str, str]
    shards: list[str] = field(default_factory=list)
    selection: dict[str, frozenset[str]] | None = None  # shard -> figure ids, when --limit applies

    @property
    def out_dir(self) -> Path:
        return Path(self.config.out_dir)

    def only(self, shard: str) -> frozenset[str] | None:
        return None if self.selection is None else self.selection.get(shard, frozenset())

    def ids_for(self, stage: Stage) -> dict[str, str]:
        return {role: self.model_ids.get(role, "none") for role in stage.roles}

    def forces(self, stage: Stage) -> bool:
        return self.config.forces(stage.name)


def _role_id(role: ModelRole, backend: Backend | None = None) -> str:
    if backend is not None and backend.model_id:
        return f"{backend.name}:{backend.model_id}"
    if role.backend == "embedded":
        return f"embedded:{role.model or DEFAULT_EMBEDDED_MODEL}"
    return f"openai:{role.model}" if role.uses_endpoint else "none"


def model_ids(settings: EngineSettings, engine: Engine | None = None) -> dict[str, str]:
    """Model id per role as it enters config hashes; base URLs are left out (any replica will do)."""
    backends = engine.backends if engine is not None else {}
    return {
        "text": _role_id(settings.text, backends.get("text")),
        "vision": _role_id(settings.vision, backends.get("vision")) if settings.vision.uses_endpoint else "none",
    }


def select_figures(out_dir: Path, limit: int | None) -> dict[str, frozenset[str]] | None:
    """The first `limit` figure ids (sorted, across all shards), grouped by shard; None = all."""
    if limit is None:
        return None
    ids: list[tuple[str, str]] = []
    for path in list_shards(Path(out_dir) / "figures"):
        ids += [(fid, path.name) for fid in pq.read_table(path, columns=["figure_id"]).column(0).to_pylist()]
    chosen: dict[str, set[str]] = {}
    for fid, shard in sorted(ids)[:limit]:
        chosen.setdefault(shard, set()).add(fid)
    return {shard: frozenset(v) for shard, v in chosen.items()}


def make_context(config: BuildConfig, engine: Engine | None = None, *, streamed: bool = False) -> BuildContext:
    """Call after ingest: the shards and the --limit selection come from the figures table. With
    `streamed`, ingest is still running: shards are appended to ctx.shards as it announces them
    (there is no --limit selection then)."""
    ctx = BuildContext(
        config=config,
        model_ids=model_ids(config.engine, engine),
        shards=[] if streamed else figure_shards(config.out_dir),
        selection=None if streamed else select_figures(config.out_dir, config.limit),
    )
    live.current().set_shards(live.shard_sizes(ctx.out_dir, ctx.shards, ctx.selection))
    return ctx

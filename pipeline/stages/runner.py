"""Run one stage over one shard: skip when nothing changed, otherwise plan, call, finish, write.

A shard is done when its marker `_state/<stage>/<shard>.json` records the same input hash (bytes
of the upstream shard files) and config hash (code version, templates, models, settings) as now.
The output and rejects are written atomically before the marker, so a crash leaves either the old
complete state or a shard that is simply redone (its model calls come back from the response cache).
The marker also lists the item keys the stage planned, so accounting can check that each ended once.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.engine.types import ChatResult, Engine
from pipeline.io.atomic import atomic_write_text
from pipeline.io.hashing import file_sha256
from pipeline.io.parquet import list_shards, write_rows
from pipeline.stages.base import ShardInputs, Stage, WorkItem
from pipeline.timing import Clock, span
from schemas import BlankedField, Reject, RejectReason


@dataclass
class ShardOutcome:
    stage: str
    shard: str
    skipped: bool
    rows: int
    rejects: int
    model_calls: int = 0
    cache_hits: int = 0
    seconds: float = 0.0  # wall time of this shard
    started: float = 0.0  # epoch seconds; 0 when skipped
    ended: float = 0.0
    cpu_seconds: float = 0.0  # CPU of the thread that ran it (planning, client work, finishing)
    model_spans: list[list[float]] = field(default_factory=list)  # [start, end] of each engine call
    queued_at: float = 0.0  # when it was handed to a worker (set by the scheduler); 0: not queued
    blanked_fields: int = 0  # echoed fields blanked inside kept rows (blanked/<stage>/): not rejects


def input_hash(stage: Stage, out_dir: Path, shard: str, only: frozenset[str] | None = None) -> str:
    """Bytes of the upstream shard files, plus the selected figure ids when a selection applies."""
    h = hashlib.sha256()
    for table in stage.input_tables:
        path = out_dir / table / shard
        h.update(f"{table}:{file_sha256(path) if path.exists() else 'absent'};".encode())
    if only is not None:
        h.update(b"only:" + "\n".join(sorted(only)).encode())
    return h.hexdigest()


def marker_path(stage: Stage, out_dir: Path, shard: str) -> Path:
    return out_dir / "_state" / stage.name / (Path(shard).stem + ".json")


def read_marker(stage: Stage, out_dir: Path, shard: str) -> dict | None:
    """The shard's marker state, or None when there is none (or it cannot be read)."""
    try:
        return json.loads(marker_path(stage, out_dir, shard).read_text())
    except (OSError, ValueError):
        return None


def current_outcome(stage: Stage, out_dir: Path, shard: str, config_hash: str, in_hash: str) -> ShardOutcome | None:
    """The outcome recorded by the marker when the shard is done for these hashes, else None."""
    if not (out_dir / stage.output_table / shard).exists():
        return None
    state = read_marker(stage, out_dir, shard)
    if state is None or state.get("input_hash") != in_hash or state.get("config_hash") != config_hash:
        return None
    return ShardOutcome(stage.name, shard, True, state.get("rows", 0), state.get("rejects", 0),
                        blanked_fields=state.get("blanked_fields", 0))


def is_done(
    stage: Stage, out_dir: Path, shard: str, config_hash: str, only: frozenset[str] | None = None
) -> bool:
    return current_outcome(stage, out_dir, shard, config_hash, input_hash(stage, out_dir, shard, only)) is not None


def _stage_error(stage: Stage, item: WorkItem, exc: BaseException) -> Reject:
    return Reject(
        item=item.key,
        stage=stage.name,
        reason=RejectReason.STAGE_ERROR,
        detail=f"{type(exc).__name__}: {exc}",
        raw="".join(traceback.format_exception_only(exc)).strip(),
    )


def run_stage_shard(
    stage: Stage,
    out_dir: Path,
    shard: str,
    engine: Engine,
    model_ids: dict[str, str],
    *,
    force: bool = False,
    on_result: Callable[[ChatResult], None] | None = None,
    only: frozenset[str] | None = None,
) -> ShardOutcome:
    """`only`: figure ids this shard may process (None: all); pass the ids that fall in this shard
    so the input hash changes only when this shard's selection does."""
    clock = Clock()
    out_dir = Path(out_dir)
    config_hash = stage.config_hash(model_ids)
    in_hash = input_hash(stage, out_dir, shard, only)  # hashed once: decides the skip, then goes in the marker
    if not force and (done := current_outcome(stage, out_dir, shard, config_hash, in_hash)) is not None:
        return done

    inputs = ShardInputs(out_dir, shard, only)
    items: list[WorkItem] = []
    rejects: list[Reject] = []
    for planned in stage.plan(inputs):
        (rejects if isinstance(planned, Reject) else items).append(planned)
    keys = [i.key for i in items]
    planned = sorted([*keys, *(r.item for r in rejects)])
    if len(keys) != len(set(keys)):
        raise ValueError(f"stage {stage.name} planned duplicate work keys in {shard}")

    requests = [i.request for i in items if i.request is not None]
    results: dict[str, ChatResult] = {}
    spans: list[list[float]] = []
    if requests:
        with span(spans):
            answered = engine.run(requests)
        for result in answered:
            results[result.key] = result
            if on_result:
                on_result(result)

    try:
        stage.prepare(items, results)
    except Exception:  # noqa: BLE001 - finish() still works item by item without the batch
        for item in items:
            item.prepared = None
    rows, blanked = [], []
    for item in items:
        try:
            out = stage.finish(item, results.get(item.key))
        except Exception as exc:  # one bad item must not sink the shard
            out = _stage_error(stage, item, exc)
        if isinstance(out, Reject):
            rejects.append(out)
        else:  # rows, possibly with records of fields blanked inside them (the row is kept)
            for part in out:
                if isinstance(part, BlankedField):
                    blanked.append(part)
                elif isinstance(part, Reject):
                    rejects.append(part)
                else:
                    rows.append(part)

    write_rows(out_dir / stage.output_table / shard, rows, stage.row_model)
    write_rows(out_dir / "rejects" / stage.name / shard, rejects, Reject)
    blanked_path = out_dir / "blanked" / stage.name / shard
    if blanked or blanked_path.exists():  # only stages that scrub echoes ever write one
        write_rows(blanked_path, blanked, Reject)
    calls = sum(1 for r in results.values() if not r.provenance.cache_hit and r.provenance.attempts > 0)
    hits = sum(1 for r in results.values() if r.provenance.cache_hit)
    clock.stop()
    outcome = ShardOutcome(stage.name, shard, False, len(rows), len(rejects), calls, hits, clock.seconds,
                           clock.started, clock.ended, clock.cpu_seconds, spans, blanked_fields=len(blanked))
    state = {"input_hash": in_hash, "config_hash": config_hash, **asdict(outcome), "planned": planned}
    atomic_write_text(marker_path(stage, out_dir, shard), json.dumps(state, indent=2, sort_keys=True))
    return outcome


def figure_shards(out_dir: Path) -> list[str]:
    return [p.name for p in list_shards(Path(out_dir) / "figures")]

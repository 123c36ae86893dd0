"""What a build-dataset run leaves behind for people and machines to read: Prefect artifacts (the
markdown report and a table of per-step counts and timings) and a JSON-lines log under
<out>/logs/ with one object per log record: Prefect's flow and task run logs from this process, and
one structured event per shard, per step and per run (counts, seconds, engine counters).

Shard and step events are written by the flow from the results its tasks return, so they are
complete on every task runner (Dask workers log to Prefect's API, not to this file)."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from pipeline.build import progress
from pipeline.build import BuildConfig
from pipeline.build.report import BuildReport, StepReport

EVENT_LOGGER = "pmc_instruct.build"
PREFECT_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
# Attributes Prefect's run loggers add to records; copied into the JSON object when present.
RUN_FIELDS = ("flow_run_id", "flow_run_name", "flow_name", "task_run_id", "task_run_name", "task_name")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLinesHandler(logging.Handler):
    """Appends one JSON object per record; fields passed with `extra=` are kept as top-level keys."""

    def __init__(self, path: Path) -> None:
        super().__init__(level=logging.INFO)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh = open(path, "a", encoding="utf-8")
        self._write_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry: dict[str, Any] = {
                "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
            for key, value in vars(record).items():
                if key not in _STANDARD and not key.startswith("_"):
                    entry[key] = value if key not in RUN_FIELDS else str(value)
            line = json.dumps(entry, default=str)
            with self._write_lock:
                self._fh.write(line + "\n")
                self._fh.flush()
        except Exception:  # noqa: BLE001 - logging must never break the run
            self.handleError(record)

    def close(self) -> None:
        # On a full disk the last lines cannot be flushed: emit() already reported them, and raising
        # here (in json_log's finally) would hide the build's own WriteFailed from the user.
        with self._write_lock, contextlib.suppress(OSError):
            self._fh.close()
        super().close()


class Events:
    """Structured events of one run, written through the `pmc_instruct.build` logger."""

    def __init__(self, flow_run_id: str | None) -> None:
        self.log = logging.getLogger(EVENT_LOGGER)
        self.flow_run_id = flow_run_id

    def _emit(self, event: str, message: str, **fields: Any) -> None:
        # Fields go under "data": LogRecord refuses extras that collide with its own (name, ...).
        self.log.info(message, extra={"event": event, "flow_run_id": self.flow_run_id, "data": fields})

    def shard(self, outcome: Any) -> Any:
        data = asdict(outcome) if is_dataclass(outcome) else dict(outcome)
        # Shards run by Dask workers reach this process's live progress only here.
        progress.current().shard_done(data.get("stage"), data.get("shard"), data.get("rejects", 0),
                                      bool(data.get("skipped")))
        self._emit("shard", f"{data.get('stage')} {data.get('shard')}: {data.get('rows')} rows", **data)
        return outcome

    def step(self, report: StepReport) -> StepReport:
        self._emit("step", f"{report.name}: {report.rows} rows, {report.rejects} rejects, wall {report.seconds:.2f} s, "
                   f"CPU {report.cpu_seconds:.2f} s, model {report.model_seconds:.2f} s, "
                   f"queued {report.queue_seconds:.2f} s",
                   **report.model_dump(exclude={"reject_examples"}))
        return report

    def run(self, report: BuildReport) -> None:
        self._emit("run", f"build of {report.out_dir}: {report.model_calls} model calls, "
                   f"{report.cache_hits} cache hits, {report.seconds:.1f} s",
                   model_calls=report.model_calls, cache_hits=report.cache_hits, seconds=report.seconds,
                   cpu_seconds=report.cpu_seconds,
                   engine=report.engine, version=getattr(report, "version", None),
                   steps={s.name: {"rows": s.rows, "rejects": s.rejects, "seconds": s.seconds,
                                   "cpu_seconds": s.cpu_seconds, "model_seconds": s.model_seconds,
                                   "queue_seconds": s.queue_seconds} for s in report.steps})


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    return str(run_id) if run_id else None


def log_path(out_dir: Path, run_id: str | None) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path(out_dir) / "logs" / f"build-{stamp}-{(run_id or 'local')[:8]}.jsonl"


@contextlib.contextmanager
def json_log(out_dir: Path) -> Iterator[Events]:
    """Attach a JSON-lines handler for the length of one run; yields the run's Events."""
    run_id = _flow_run_id()
    handler = JsonLinesHandler(log_path(out_dir, run_id))
    loggers = [logging.getLogger(name) for name in (EVENT_LOGGER, *PREFECT_LOGGERS)]
    event_logger = loggers[0]
    old_level, old_propagate = event_logger.level, event_logger.propagate
    event_logger.setLevel(logging.INFO)
    event_logger.propagate = False  # the console already shows the task logs these events restate
    for lg in loggers:
        lg.addHandler(handler)
    try:
        yield Events(run_id)
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
        event_logger.setLevel(old_level)
        event_logger.propagate = old_propagate
        handler.close()


def timing_rows(report: BuildReport) -> list[dict[str, Any]]:
    """One row per step for the table artifact (engine counters where the step called a model)."""
    rows = []
    for s in report.steps:
        rows.append({
            "step": s.name, "kind": s.kind, "shards": s.shards, "skipped shards": s.skipped_shards,
            "rows": s.rows, "rejects": s.rejects, "model calls": s.model_calls, "cache hits": s.cache_hits,
            "retries": s.engine.get("retries", 0), "repairs": s.engine.get("repairs", 0),
            "errors": s.engine.get("errors", 0), "tokens in": s.engine.get("tokens_in", 0),
            "tokens out": s.engine.get("tokens_out", 0), "seconds": s.seconds, "cpu seconds": s.cpu_seconds,
            "model seconds": s.model_seconds, "queue seconds": s.queue_seconds,
        })
    rows.append({"step": "total", "kind": "run", "shards": "", "skipped shards": "",
                 "rows": "", "rejects": sum(s.rejects for s in report.steps), "model calls": report.model_calls,
                 "cache hits": report.cache_hits, "retries": report.engine.get("retries", 0),
                 "repairs": report.engine.get("repairs", 0), "errors": report.engine.get("errors", 0),
                 "tokens in": report.engine.get("tokens_in", 0), "tokens out": report.engine.get("tokens_out", 0),
                 "seconds": report.seconds, "cpu seconds": report.cpu_seconds, "model seconds": "",
                 "queue seconds": ""})
    return rows


def publish_artifacts(report: BuildReport, config: BuildConfig) -> None:
    create_markdown_artifact(markdown=report.to_markdown(), key="build-report",
                             description=f"pmc-instruct build of {config.out_dir}")
    create_table_artifact(table=timing_rows(report), key="build-timings",
                          description=f"per-step counts, engine counters and seconds: {config.out_dir}")

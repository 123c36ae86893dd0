"""The whole-dataset steps that close a build: finalize (gates, split, final Parquet, exports,
stats) and the HTML report. Both read only what the shard stages wrote, so each skips itself
when the files it reads (and its settings) are unchanged since its last run."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pipeline.build_report import StepReport
from pipeline.io.atomic import atomic_write_text
from pipeline.qa_plan import finalize_config

if TYPE_CHECKING:
    from pipeline.build import BuildConfig, BuildContext
    from pipeline.engine.types import Engine


def tables_fingerprint(out_dir: Path, folders: list[str], settings: str, exclude: tuple[str, ...] = ()) -> str:
    """Hash of every Parquet shard's path, size and mtime under `folders`, plus the settings.
    Shards are only ever replaced by atomic rename, so a rewrite always changes the mtime."""
    h = hashlib.sha256(settings.encode())
    for folder in folders:
        root = out_dir / folder
        if not root.is_dir():
            h.update(f"{folder}:absent;".encode())
            continue
        for path in sorted(root.rglob("part-*.parquet")):
            rel = path.relative_to(out_dir).as_posix()
            if rel.startswith(exclude):
                continue
            st = path.stat()
            h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()


class _SkippableStep:
    """Runs `_run` unless the marker `_state/steps/<name>.json` holds the current fingerprint."""

    name: ClassVar[str]
    outputs: ClassVar[tuple[str, ...]]

    def fingerprint(self, out_dir: Path) -> str:
        raise NotImplementedError

    def _run(self, ctx: BuildContext) -> StepReport:
        raise NotImplementedError

    def run(self, ctx: BuildContext, engine: Engine) -> StepReport:
        out = ctx.out_dir
        marker = out / "_state" / "steps" / f"{self.name}.json"
        current = self.fingerprint(out)
        if marker.exists() and all((out / o).exists() for o in self.outputs):
            saved = json.loads(marker.read_text())
            if saved.get("fingerprint") == current:
                report = StepReport.model_validate(saved["report"])
                report.seconds, report.skipped_shards = 0.0, report.shards
                return report
        report = self._run(ctx)
        # Fingerprint again after running: the step itself may have written into folders it reads.
        atomic_write_text(marker, json.dumps({"fingerprint": self.fingerprint(out), "report": report.model_dump()}))
        return report


class FinalizeStep(_SkippableStep):
    name: ClassVar[str] = "finalize"
    outputs: ClassVar[tuple[str, ...]] = ("final", "stats.json")

    def __init__(self, config: BuildConfig) -> None:
        self.config = finalize_config(
            config.generation, config.tasks, run_deleak=config.wants("deleak"), **config.finalize
        )

    def fingerprint(self, out_dir: Path) -> str:
        # Gate rejects are this step's own output; every other table it reads is listed here.
        return tables_fingerprint(
            out_dir, ["figures", "summaries", "qa", "deleaked", "rejects"], self.config.model_dump_json(),
            exclude=("rejects/gate.", "rejects/export"),
        )

    def _run(self, ctx: BuildContext) -> StepReport:
        from pipeline.finalize import run_finalize

        result = run_finalize(ctx.out_dir, self.config)
        report = StepReport(
            name=self.name,
            kind="step",
            output="final",
            shards=1,
            rows=sum(result.rows_out.values()),
            rejects=sum(g.rejects for g in result.gates) + result.export_rejects,
            seconds=round(result.seconds, 3),
        )
        for gate in result.gates:
            if gate.rejects:
                report.reject_reasons[f"gate.{gate.gate}"] = gate.rejects
        return report


class ReportStep(_SkippableStep):
    name: ClassVar[str] = "report"
    outputs: ClassVar[tuple[str, ...]] = ("report.html",)

    def __init__(self, config: BuildConfig) -> None:
        self.max_examples = config.report_examples

    def fingerprint(self, out_dir: Path) -> str:
        folders = ["articles", "figures", "summaries", "knowledge", "perception", "qa", "deleaked", "final", "rejects"]
        return tables_fingerprint(out_dir, folders, f"examples={self.max_examples}")

    def _run(self, ctx: BuildContext) -> StepReport:
        from pipeline.report import write_report

        start = time.perf_counter()
        path = write_report(ctx.out_dir, max_examples_per_task=self.max_examples)
        return StepReport(name=self.name, kind="step", output=path.name, shards=1,
                          seconds=round(time.perf_counter() - start, 3))

"""The whole-dataset steps that close a build: finalize (gates, split, final Parquet, exports,
stats) and the HTML report. Both read only what the shard stages wrote, so each skips itself
when the files it reads, its settings and its code version are unchanged since its last run."""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pipeline.build.report import StepReport
from pipeline.finalize import FinalizeConfig, run_finalize
from pipeline.generators import GenerationConfig
from pipeline.generators.bbox_qa import BBoxSettings
from pipeline.io.atomic import atomic_write_text
from pipeline.io.hashing import tables_fingerprint

if TYPE_CHECKING:
    from pipeline.build.config import BuildConfig
    from pipeline.build.context import BuildContext
    from pipeline.engine.types import Engine


class GlobalStep(ABC):
    """Whole-dataset work after the shard stages. `run` skips the work when the marker
    `_state/steps/<name>.json` holds the current fingerprint (inputs, settings, code version) and the
    outputs exist, unless the build forces the step; it returns the step's counts (kind="step")."""

    name: ClassVar[str]
    outputs: ClassVar[tuple[str, ...]]  # paths under <out> the step writes
    version: ClassVar[str] = "1"  # raise when a code change changes the output (reruns the step)

    def __init__(self, config: BuildConfig) -> None:
        self.force = config.forces(self.name)

    @abstractmethod
    def inputs_fingerprint(self, out_dir: Path) -> str:
        """Hash of the files this step reads and of its settings."""

    @abstractmethod
    def execute(self, ctx: BuildContext) -> StepReport: ...

    def fingerprint(self, out_dir: Path) -> str:
        return f"{self.version}:{self.inputs_fingerprint(out_dir)}"

    def run(self, ctx: BuildContext, engine: Engine) -> StepReport:
        out = ctx.out_dir
        marker = out / "_state" / "steps" / f"{self.name}.json"
        if not self.force and marker.exists() and all((out / o).exists() for o in self.outputs):
            saved = json.loads(marker.read_text())
            if saved.get("fingerprint") == self.fingerprint(out):
                report = StepReport.model_validate(saved["report"])
                report.seconds, report.skipped_shards = 0.0, report.shards
                return report
        report = self.execute(ctx)
        # Fingerprint again after running: the step itself may have written into folders it reads.
        atomic_write_text(marker, json.dumps({"fingerprint": self.fingerprint(out), "report": report.model_dump()}))
        return report


def finalize_config(generation: GenerationConfig | None = None, tasks: list[str] | None = None,
                    *, run_deleak: bool = True, **overrides: Any) -> FinalizeConfig:
    """A FinalizeConfig consistent with the generation settings (same bbox tolerance, same tasks)."""
    generation = generation or GenerationConfig()
    return FinalizeConfig(
        tasks=tasks,
        source="deleaked" if run_deleak else "qa",
        bbox_tolerance=generation.settings_for("bbox_qa", BBoxSettings).tolerance,
        **overrides,
    )


class FinalizeStep(GlobalStep):
    name: ClassVar[str] = "finalize"
    outputs: ClassVar[tuple[str, ...]] = ("final", "stats.json")

    def __init__(self, config: BuildConfig) -> None:
        super().__init__(config)
        self.config = finalize_config(
            config.generation, config.tasks, run_deleak=config.wants("deleak"), **config.finalize
        )

    def inputs_fingerprint(self, out_dir: Path) -> str:
        # Gate rejects are this step's own output; every other table it reads is listed here.
        return tables_fingerprint(
            out_dir, ["figures", "summaries", "qa", "deleaked", "rejects"], self.config.model_dump_json(),
            exclude=("rejects/gate.", "rejects/export"),
        )

    def execute(self, ctx: BuildContext) -> StepReport:
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


class ReportStep(GlobalStep):
    name: ClassVar[str] = "report"
    outputs: ClassVar[tuple[str, ...]] = ("report.html",)

    def __init__(self, config: BuildConfig) -> None:
        super().__init__(config)
        self.max_examples = config.report_examples

    def inputs_fingerprint(self, out_dir: Path) -> str:
        folders = ["articles", "figures", "summaries", "knowledge", "perception", "qa", "deleaked", "final", "rejects"]
        return tables_fingerprint(out_dir, folders, f"examples={self.max_examples}")

    def execute(self, ctx: BuildContext) -> StepReport:
        from pipeline.report import write_report

        start = time.perf_counter()
        path = write_report(ctx.out_dir, max_examples_per_task=self.max_examples)
        return StepReport(name=self.name, kind="step", output=path.name, shards=1,
                          seconds=round(time.perf_counter() - start, 3))

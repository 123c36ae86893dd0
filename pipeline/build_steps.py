"""The whole-dataset steps that close a build: finalize (gates, split, final Parquet, exports,
stats) and the HTML report. Both are idempotent and read only what the shard stages wrote."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from pipeline.build_report import StepReport
from pipeline.qa_plan import finalize_config

if TYPE_CHECKING:
    from pipeline.build import BuildConfig, BuildContext
    from pipeline.engine.types import Engine


class FinalizeStep:
    name: ClassVar[str] = "finalize"

    def __init__(self, config: BuildConfig) -> None:
        self.config = finalize_config(
            config.generation, config.tasks, run_deleak=config.wants("deleak"), **config.finalize
        )

    def run(self, ctx: BuildContext, engine: Engine) -> StepReport:
        from pipeline.finalize import run_finalize

        result = run_finalize(ctx.out_dir, self.config)
        report = StepReport(
            name=self.name,
            kind="step",
            output="final",
            rows=sum(result.rows_out.values()),
            rejects=sum(g.rejects for g in result.gates) + result.export_rejects,
            seconds=round(result.seconds, 3),
        )
        for gate in result.gates:
            if gate.rejects:
                report.reject_reasons[f"gate.{gate.gate}"] = gate.rejects
        return report


class ReportStep:
    name: ClassVar[str] = "report"

    def __init__(self, config: BuildConfig) -> None:
        self.max_examples = config.report_examples

    def run(self, ctx: BuildContext, engine: Engine) -> StepReport:
        from pipeline.report import write_report

        start = time.perf_counter()
        path = write_report(ctx.out_dir, max_examples_per_task=self.max_examples)
        return StepReport(name=self.name, kind="step", output=path.name, seconds=round(time.perf_counter() - start, 3))

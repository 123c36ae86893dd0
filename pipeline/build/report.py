"""What a build did, per stage: rows, rejects (by reason), shards skipped, model calls, cache hits,
and times. One pydantic model, rendered to markdown for the Prefect artifact and <out>/build-report.md.

Times are measured, not summed over overlapping shards: `seconds` (wall) is the union of the
shards' running intervals, `model_seconds` the union of their engine calls, `queue_seconds` the
union of the intervals some shard waited for a worker; `cpu_seconds` is CPU time, which does add up."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from pipeline.io.parquet import list_shards
from pipeline.stages.runner import ShardOutcome
from pipeline.timing import union_seconds

REPORT_MD = "build-report.md"
REPORT_JSON = "_state/build-report.json"


class StepReport(BaseModel):
    """One stage (summed over its shards) or one global step."""

    name: str
    kind: str = Field("stage", description="ingest | stage | step")
    output: str = Field("", description="folder under <out> holding its Parquet")
    shards: int = 0
    skipped_shards: int = 0
    rows: int = 0
    rejects: int = 0
    model_calls: int = 0
    cache_hits: int = 0
    seconds: float = Field(0.0, description="wall time: union of the shards' running intervals")
    cpu_seconds: float = Field(0.0, description="CPU time of the threads that ran it (summed over shards)")
    model_seconds: float = Field(0.0, description="wall time with at least one engine call of this step open")
    queue_seconds: float = Field(0.0, description="wall time with at least one shard waiting for a worker")
    reject_reasons: dict[str, int] = Field(default_factory=dict, description="rejects of this run's output, by reason")
    reject_examples: list[str] = Field(default_factory=list, description="a few reject details")
    engine: dict[str, int] = Field(default_factory=dict, description="EngineStats counters of this run's calls")

    @classmethod
    def from_shards(cls, name: str, output: str, outcomes: list[ShardOutcome], out_dir: Path) -> StepReport:
        report = cls(
            name=name,
            output=output,
            shards=len(outcomes),
            skipped_shards=sum(o.skipped for o in outcomes),
            rows=sum(o.rows for o in outcomes),
            rejects=sum(o.rejects for o in outcomes),
            model_calls=sum(o.model_calls for o in outcomes),
            cache_hits=sum(o.cache_hits for o in outcomes),
            seconds=round(union_seconds((o.started, o.ended) for o in outcomes if o.started), 3),
            cpu_seconds=round(sum(o.cpu_seconds for o in outcomes), 3),
            model_seconds=round(union_seconds(tuple(sp) for o in outcomes for sp in o.model_spans), 3),
            queue_seconds=round(union_seconds((o.queued_at, o.started) for o in outcomes
                                              if o.queued_at and o.started), 3),
        )
        report.add_reject_breakdown(out_dir, [o.shard for o in outcomes])
        return report

    def add_reject_breakdown(self, out_dir: Path, shards: list[str] | None = None, examples: int = 3) -> None:
        folder = Path(out_dir) / "rejects" / self.name
        paths = [folder / s for s in shards] if shards is not None else list_shards(folder)
        reasons: Counter[str] = Counter()
        for path in paths:
            if not path.exists():
                continue
            table = pq.read_table(path, columns=["reason", "detail"])
            reasons.update(table.column("reason").to_pylist())
            for detail in table.column("detail").to_pylist():
                if len(self.reject_examples) < examples:
                    self.reject_examples.append(detail)
        self.reject_reasons = dict(reasons.most_common())


class BuildReport(BaseModel):
    out_dir: str
    steps: list[StepReport] = Field(default_factory=list)
    model_calls: int = Field(0, description="engine-wide model calls (HTTP calls or local generations)")
    cache_hits: int = 0
    seconds: float = 0.0
    cpu_seconds: float = Field(0.0, description="CPU time of the whole build process (all threads)")
    perception_mode: str = ""
    engine: dict[str, int] = Field(default_factory=dict, description="EngineStats counters summed over steps")
    version: str = Field("", description="dataset version manifest under <out>/versions/ after this build")
    new_version: bool = Field(False, description="False: the output matched the newest version already")

    def step(self, name: str) -> StepReport | None:
        return next((s for s in self.steps if s.name == name), None)

    def to_markdown(self) -> str:
        lines = [
            f"# Build report: `{self.out_dir}`",
            "",
            f"Model calls: **{self.model_calls}**, cache hits: **{self.cache_hits}**, "
            f"wall time: **{self.seconds:.1f} s**, CPU: **{self.cpu_seconds:.1f} s**, "
            f"perception mode: **{self.perception_mode or 'n/a'}**.",
            *([f"Dataset version: **{self.version}**" + ("" if self.new_version else " (unchanged)") + "."]
              if self.version else []),
            "",
            "| step | rows | rejects | shards | skipped | model calls | cache hits | wall s | cpu s | model s "
            "| queue s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for s in self.steps:
            lines.append(
                f"| {s.name} | {s.rows} | {s.rejects} | {s.shards} | {s.skipped_shards} | {s.model_calls} "
                f"| {s.cache_hits} | {s.seconds:.2f} | {s.cpu_seconds:.2f} | {s.model_seconds:.2f} "
                f"| {s.queue_seconds:.2f} |"
            )
        lines += ["", "Stages overlap (a shard's next stage starts when its own inputs are ready), so wall "
                  "seconds are per step and do not add up to the build's; each is the time at least one "
                  "of its shards was running, never a sum over shards."]
        rejected = [s for s in self.steps if s.reject_reasons]
        if rejected:
            lines += ["", "## Rejects", ""]
            for s in rejected:
                reasons = ", ".join(f"{k}: {v}" for k, v in s.reject_reasons.items())
                lines.append(f"- **{s.name}**: {reasons}")
                lines += [f"  - {_one_line(d)}" for d in s.reject_examples]
        return "\n".join(lines) + "\n"


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

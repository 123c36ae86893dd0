"""What a build did, per stage: rows, rejects (by reason), shards skipped, model calls, cache hits,
and times. One pydantic model, rendered to markdown for the Prefect artifact and kept per build:
<out>/reports/<time>-<run>.md for every build, and <out>/build-report.md for the latest build that
did work (a rerun with nothing new must not hide the real build's report).

Times are measured, not summed over overlapping shards: `seconds` (wall) is the union of the
shards' running intervals, `model_seconds` the union of their engine calls, `queue_seconds` the
union of the intervals some shard waited for a worker; `cpu_seconds` is CPU time, which does add up."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from pipeline.io.parquet import list_shards
from pipeline.stages.runner import ShardOutcome
from pipeline.timing import union_seconds

REPORT_MD = "build-report.md"
REPORT_JSON = "_state/build-report.json"
REPORTS_DIR = "reports"


class StepReport(BaseModel):
    """One stage (summed over its shards) or one global step."""

    name: str
    kind: str = Field("stage", description="ingest | stage | step")
    output: str = Field("", description="folder under <out> holding its Parquet")
    shards: int = 0
    skipped_shards: int = 0
    rows: int = 0
    rejects: int = 0
    blanked_fields: int = Field(0, description="fields blanked inside kept rows because they echoed the prompt "
                                "(blanked/<stage>/); not rejects: the rows were kept")
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
            blanked_fields=sum(o.blanked_fields for o in outcomes),
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
    keep_rate: float | None = Field(None, description="headline: final rows / generated rows (from stats.json)")
    models: list[str] = Field(default_factory=list, description="models that wrote the generated rows")
    keep: list[dict] = Field(default_factory=list, description="per task: generated, rejected by each gate, kept")

    def add_keep_rates(self, out_dir: Path) -> None:
        """Copy the keep-rate table from <out>/stats.json (written by finalize) when there is one."""
        path = Path(out_dir) / "stats.json"
        if not path.is_file():
            return
        stats = json.loads(path.read_text())
        self.keep_rate, self.models = stats.get("keep_rate"), stats.get("models", [])
        self.keep = [{"task": t["task"], "generated": t.get("generated", 0), "kept": t.get("final", 0),
                      "keep_rate": t.get("keep_rate"), "rejected_by_gate": t.get("rejected_by_gate", {})}
                     for t in stats.get("tasks", [])]

    def step(self, name: str) -> StepReport | None:
        return next((s for s in self.steps if s.name == name), None)

    def _keep_lines(self) -> list[str]:
        if not self.keep:
            return []
        generated, kept = sum(k["generated"] for k in self.keep), sum(k["kept"] for k in self.keep)
        lines = [f"**Kept {kept} of {generated} generated rows ({_pct(self.keep_rate)})**, written by "
                 f"{', '.join(f'`{m}`' for m in self.models) or 'n/a'}.", "",
                 "| task | generated | rejected by gate | kept | keep-rate |", "| --- | ---: | --- | ---: | ---: |"]
        for k in self.keep:
            gates = ", ".join(f"{g}: {n}" for g, n in k["rejected_by_gate"].items()) or "-"
            lines.append(f"| {k['task']} | {k['generated']} | {gates} | {k['kept']} | {_pct(k['keep_rate'])} |")
        return [*lines, "", SPLIT_NOTE, ""]

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
            *self._keep_lines(),
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
        blanked = [s for s in self.steps if s.blanked_fields]
        if blanked:
            lines += ["", "## Blanked fields", "", "Fields that echoed the prompt were blanked and their rows kept "
                      "(records under `blanked/<stage>/`):", ""]
            lines += [f"- **{s.name}**: {s.blanked_fields}" for s in blanked]
        return "\n".join(lines) + "\n"


SPLIT_NOTE = ("Train/eval split by article (all rows of an article on one side, chosen by a hash of its id): "
              "InternVL training meta `export/internvl/meta.json` (train only), eval meta "
              "`export/internvl/meta_eval.json`; paths relative to that folder.")


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def did_work(report: BuildReport) -> bool:
    """Whether the build changed anything: a model call, a shard or step redone, or a new version."""
    return (report.model_calls > 0 or report.new_version
            or any(s.skipped_shards < s.shards for s in report.steps if s.kind in ("stage", "step")))


def keep_report(out_dir: Path, report: BuildReport, run_name: str = "local", now: float | None = None) -> Path:
    """Write reports/<time>-<run>.md; make build-report.md that report when the build did work (or when
    there is none yet). Returns the kept report's path."""
    from pipeline.io.atomic import atomic_write_text

    out_dir = Path(out_dir)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_name).strip("-.") or "local"
    path = out_dir / REPORTS_DIR / f"{stamp}-{name}.md"
    markdown = report.to_markdown()
    atomic_write_text(path, markdown)
    latest = out_dir / REPORT_MD
    if did_work(report) or not latest.exists():
        title, _, rest = markdown.partition("\n")
        pointer = (f"_This is [{REPORTS_DIR}/{path.name}]({REPORTS_DIR}/{path.name}), the latest build that did "
                   f"work; every build's report is kept in `{REPORTS_DIR}/`._\n")
        atomic_write_text(latest, f"{title}\n\n{pointer}{rest}")
    return path

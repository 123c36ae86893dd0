"""BuildConfig: everything a build needs. The CLI fills it; the flow takes it as its one parameter."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from pipeline.deleak import DeleakConfig
from pipeline.engine.settings import EngineSettings
from pipeline.generators import GenerationConfig
from pipeline.ingest.config import IngestConfig
from pipeline.stages.common import ModelOptions
from pipeline.stages.knowledge import KnowledgeOptions
from pipeline.stages.perception import PerceptionOptions
from pipeline.stages.summary import SummaryOptions

O = TypeVar("O", bound=ModelOptions)


class BuildConfig(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    input_dir: Path
    out_dir: Path
    stages: list[str] | None = Field(None, description="names to run, in plan order; None: all")
    force: list[str] = Field(
        default_factory=list,
        description="stages to rerun although their markers say done: a plan name (summary, qa, deleak, "
        "finalize, ...) or one stage (qa.text_qa, deleak.mcq_selection). Model answers still come from "
        "the response cache when the requests are unchanged",
    )
    limit: int | None = Field(None, ge=1, description="process only the first N figures by figure id")
    no_cache: bool = Field(False, description="bypass the engine's response cache")
    cache_dir: Path | None = Field(None, description="response cache folder; None: <out>/cache. With Dask workers on "
                                   "several machines give a node-local path (SQLite WAL needs a local file system)")
    prompts_dir: Path | None = Field(None, description="template folder; None: PMC_INSTRUCT_PROMPTS_DIR or prompts/")
    max_tokens: int | None = Field(None, ge=16, description="override every model step's max_tokens")
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="override every model step's temperature")
    seed: int | None = Field(None, description="override every model step's seed (the generators' choices too)")
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    summary: SummaryOptions = Field(default_factory=SummaryOptions)
    knowledge: KnowledgeOptions = Field(default_factory=KnowledgeOptions)
    perception: PerceptionOptions = Field(default_factory=PerceptionOptions)
    tasks: list[str] | None = Field(None, description="QA tasks to generate; None: every registered generator")
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    deleak: DeleakConfig = Field(default_factory=DeleakConfig)
    finalize: dict[str, Any] = Field(
        default_factory=dict, description="FinalizeConfig overrides (answer, dedup, mcq, split, internvl)"
    )
    report_examples: int = Field(6, ge=0, description="gallery examples per task in report.html")

    def model_options(self, opts: O) -> O:
        """A step's sampling options with this build's overrides (--max-tokens, --temperature, --seed)
        applied; every model step (stages 1-3, generators, de-leakage) gets its options through here."""
        overrides = {"max_tokens": self.max_tokens, "temperature": self.temperature, "seed": self.seed}
        update = {k: v for k, v in overrides.items() if v is not None}
        return opts.model_copy(update=update) if update else opts

    @property
    def perception_mode(self) -> str:
        # Only a configured vision endpoint may claim to have seen pixels.
        return "vision" if self.engine.vision.uses_endpoint else "facts"

    def wants(self, name: str) -> bool:
        return self.stages is None or name in self.stages

    def forces(self, name: str) -> bool:
        """Whether `name` (a stage or step name such as "qa.text_qa" or "report") is forced: named
        itself, or by its plan name (the part before the dot)."""
        return name in self.force or name.split(".", 1)[0] in self.force

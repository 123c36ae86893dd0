"""What a stage is: it plans work items from one shard's inputs and turns model results into rows.

A stage never calls a model itself. `plan` yields `WorkItem`s (with a `ChatRequest`, or none for
rule-only items such as pure geometry) or `Reject`s; the runner sends every request through the
engine at once and hands each result back to `finish`, which returns rows or a `Reject`.
This split keeps prompt building, parsing and the concurrency/caching machinery apart
(the same separation curator's prompt/parse and distilabel's format_input/format_output make).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from pipeline.engine.types import ChatRequest, ChatResult
from pipeline.io.hashing import json_sha256
from pipeline.io.parquet import read_rows
from pipeline.prompts import PromptTemplate, TemplateError, load_template
from schemas import Figure, Reject

M = TypeVar("M", bound=BaseModel)


@dataclass
class WorkItem:
    """One unit of work. `request` is None for items that need no model call."""

    key: str
    request: ChatRequest | None
    context: Any = None


@dataclass
class ShardInputs:
    """Lazy access to the upstream tables of one shard (shard i of each table).

    `only`, when set, restricts `figures` to those ids (a build's --limit); rows of other tables
    are keyed by figure id and follow from the figures a stage walks over.
    """

    out_dir: Path
    shard: str  # e.g. part-00000.parquet
    only: frozenset[str] | None = None
    _cache: dict[str, list] = field(default_factory=dict)

    def table(self, table: str, model: type[M]) -> list[M]:
        if table not in self._cache:
            path = self.out_dir / table / self.shard
            self._cache[table] = read_rows(path, model) if path.exists() else []
        return self._cache[table]

    def by_figure(self, table: str, model: type[M]) -> dict[str, list[M]]:
        grouped: dict[str, list[M]] = {}
        for row in self.table(table, model):
            grouped.setdefault(row.figure_id, []).append(row)
        return grouped

    @cached_property
    def figures(self) -> list[Figure]:
        figures = self.table("figures", Figure)
        if self.only is None:
            return figures
        return [f for f in figures if f.figure_id in self.only]


class Stage(ABC):
    """Subclasses set the class attributes and implement `plan` and `finish`."""

    name: ClassVar[str]  # stage name used in rejects and state markers, e.g. "summary"
    # Code version: raise it when a change to this stage's code (a rule, a parser, a redactor) changes
    # its output. It enters the config hash, so the stage reruns, and what reads its output after it.
    version: ClassVar[str] = "1"
    output_table: ClassVar[str]  # folder under <out>, e.g. "summaries" or "qa/text_qa"
    row_model: ClassVar[type[BaseModel]]
    # The model the stage's prompts fill; loading a template checks that its file names this model,
    # so a prompt edited to fill another shape fails at load time, not as a reject per item.
    output_model: ClassVar[type[BaseModel] | None] = None
    input_tables: ClassVar[tuple[str, ...]] = ("figures",)  # their shard files feed the input hash
    templates: ClassVar[tuple[str, ...]] = ()  # prompt template names; versions feed the config hash
    roles: tuple[str, ...] = ("text",)  # engine roles whose model ids feed the config hash
    prompts_dir: Path | None = None  # template folder override (None: pipeline.prompts default)

    def template(self, name: str) -> PromptTemplate:
        tpl = load_template(name, self.prompts_dir)
        if self.output_model is not None and tpl.output_class() is not self.output_model:
            raise TemplateError(f"prompt {name!r} fills {tpl.output_model}, but stage {self.name} reads "
                                f"{self.output_model.__module__}.{self.output_model.__qualname__}")
        return tpl

    def settings_fingerprint(self) -> dict[str, Any]:
        """Stage options that change the output (override to add yours)."""
        return {}

    def config_hash(self, model_ids: dict[str, str]) -> str:
        """Everything that changes this stage's output except its inputs' content."""
        payload = {
            "stage": self.name,
            "code": self.version,
            "templates": {t: self.template(t).version for t in self.templates},
            "models": model_ids,
            "settings": self.settings_fingerprint(),
        }
        return json_sha256(payload)

    def row_key(self, row: BaseModel) -> str:
        """The work item key an output row answers (the plan's WorkItem.key); accounting matches
        rows to planned items with it. One row per figure by default."""
        return row.figure_id

    @abstractmethod
    def plan(self, inputs: ShardInputs) -> Iterable[WorkItem | Reject]:
        ...

    @abstractmethod
    def finish(self, item: WorkItem, result: ChatResult | None) -> list[BaseModel] | Reject:
        ...

"""Build the rows that bench/gate_labels/rows.jsonl labels: a fake-endpoint build of our demo sample and
the shared JATS articles, where the fake model answers like a careful model most of the time and like
the small models we have seen the rest of the time (prompt echoes, generic questions, answers cut at
max_tokens, answers that invent facts, the same QA asked by two tasks). Which answer a request gets
depends only on its key, so the build is reproducible.

    python bench/gate_labels/make_rows.py OUT [--embedded EMBEDDED_OUT ...] [--no-fake]

writes OUT/candidates.jsonl: one record per QA row that reached de-leakage (the rows the gates see),
with the support text the grounding gate reads. An existing embedded build (`pmc-instruct build
--input data/demo --out X`, the embedded backend being the default) can be added with --embedded;
its rows are read, not rebuilt; --no-fake skips the fake-endpoint build. The labels in
rows.jsonl were written by reading these records one by one; this script never writes labels.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fakes.careless_model import fault_for, responder_for, truncate_cut_answers  # noqa: E402
from fakes.openai_server import FakeOpenAIServer  # noqa: E402

from pipeline.deleak import DeleakConfig  # noqa: E402
from pipeline.engine import ModelRole, build_engine, load_settings  # noqa: E402
from pipeline.gates import load_support  # noqa: E402
from pipeline.generators import GenerationConfig  # noqa: E402
from pipeline.ingest import run_ingest  # noqa: E402
from pipeline.io.parquet import list_shards, read_all  # noqa: E402
from pipeline.build import qa_stages  # noqa: E402
from pipeline.stages.knowledge import KnowledgeStage  # noqa: E402
from pipeline.stages.perception import PerceptionStage  # noqa: E402
from pipeline.stages.runner import figure_shards, run_stage_shard  # noqa: E402
from pipeline.stages.summary import SummaryStage  # noqa: E402
from schemas import QARow  # noqa: E402

TASKS = ["bbox_qa", "compound_qa", "mcq_selection", "multi_panel_qa", "single_panel_qa", "text_qa"]


def fake_build(out: Path, inputs: Path) -> None:
    with FakeOpenAIServer(fault_for=fault_for) as server:
        server.responder = truncate_cut_answers(responder_for(server))
        role = ModelRole(backend="openai", base_urls=[server.base_url], model="fake-model", timeout_s=10)
        engine = build_engine(load_settings(text=role), out / "cache")
        generation = GenerationConfig(per_figure={t: 3 for t in TASKS})
        run_ingest(inputs, out)
        for shard in figure_shards(out):
            stages = [SummaryStage(), KnowledgeStage(), PerceptionStage("facts")]
            stages += qa_stages(generation, DeleakConfig(threshold=0.35))
            for stage in stages:
                run_stage_shard(stage, out, shard, engine, {"text": "fake-model"})


def candidates(out: Path, source: str, build: str, tag: str = "") -> list[dict]:
    """The rows of one build; `tag` prefixes figure and article ids so two builds of the same
    figures stay apart in one labelled set (qa_id is <task>/<figure_id>/<n>)."""
    rows = [r for t in TASKS for shard_dir in [out / source / t] if list_shards(shard_dir) for r in read_all(shard_dir, QARow)]
    figures = {r.figure_id for r in rows}
    support, knowledge = load_support(out, figures), load_support(out, figures, ("knowledge",))
    records = []
    for r in sorted(rows, key=lambda r: r.qa_id):
        text, fid = support.get(r.figure_id, ""), r.figure_id  # before any tag
        if tag:
            n = r.qa_id.rsplit("/", 1)[1]
            r = r.model_copy(update={"figure_id": tag + r.figure_id, "article_id": tag + r.article_id,
                                     "qa_id": f"{r.task}/{tag}{r.figure_id}/{n}"})
        records.append({"build": build, "row": r.model_dump(mode="json", by_alias=True), "support": text,
                        "knowledge": knowledge.get(fid, "")})
    return records


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--embedded", type=Path, action="append", default=[])
    parser.add_argument("--no-fake", action="store_true", help="only the --embedded builds' rows")
    args = parser.parse_args()
    records = []
    if not args.no_fake:
        inputs = args.out / "input"
        if not inputs.exists():
            shutil.copytree(ROOT / "data" / "demo", inputs / "demo")
            shared = Path(os.environ.get("PMC_INSTRUCT_SHARED_DATA", "/work/shared/data"))
            if (shared / "jats").is_dir():
                shutil.copytree(shared / "jats", inputs / "jats")
        fake_build(args.out / "fake", inputs)
        records = candidates(args.out / "fake", "deleaked", "fake-endpoint")
    args.out.mkdir(parents=True, exist_ok=True)
    for emb in args.embedded:
        records += candidates(emb, "deleaked", "embedded-smollm2", tag="emb-")
    with open(args.out / "candidates.jsonl", "w") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"{len(records)} candidate rows -> {args.out / 'candidates.jsonl'}")


if __name__ == "__main__":
    main()

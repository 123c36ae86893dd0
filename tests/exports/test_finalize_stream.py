"""The streaming finalize (spool + compact keys) decides exactly what the gates' apply over the whole
list decides (pipeline.finalizing.reference): the same rows kept, the same rejects per gate, the same
MCQ moves and splits, and the same InternVL export, on generated tables re-sharded so that a task's
shards overlap in qa_id range and its final shards span several input shards."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from pipeline.exports import export_internvl, write_final
from pipeline.finalize import FinalizeConfig, run_finalize
from pipeline.finalizing.reference import gates_in_memory
from pipeline.finalizing.spool import FOLDER
from pipeline.finalizing.support import SupportIndex
from pipeline.gates import SplitConfig, load_support
from pipeline.gates.mcq_balance import move_answer
from pipeline.io.layout import ensure_layout
from pipeline.io.parquet import list_shards, read_all, read_rows, shard_name, write_rows
from schemas import QARow, Reject

CONFIG = FinalizeConfig(source="qa", split=SplitConfig(eval_fraction=0.3, seed=1), rows_per_shard=7)


def _reshard(folder: Path, rows: list[QARow], size: int, seed: int) -> None:
    """Write `rows` shuffled into shards of `size`, so shards overlap in qa_id range."""
    for old in list_shards(folder):
        old.unlink()
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    for n, start in enumerate(range(0, len(rows), size)):
        write_rows(folder / shard_name(n), rows[start : start + size], QARow)


@pytest.fixture(scope="module")
def crafted(generated: Path, tmp_path_factory) -> Path:
    """The generated tables plus rows every global gate must act on: near-duplicates within a task,
    a question asked again by another task of the same figure, a row without an article id."""
    out = tmp_path_factory.mktemp("stream") / "out"
    shutil.copytree(generated, out)
    ensure_layout(out)
    tasks = sorted(p.name for p in (out / "qa").iterdir() if p.is_dir())
    rows: dict[str, list[QARow]] = {t: read_all(out / "qa" / t, QARow) for t in tasks}
    text = rows["text_qa"]
    rows["text_qa"] = text + [r.model_copy(update={"qa_id": f"{r.qa_id}/again"}) for r in text[:3]]
    single = rows["single_panel_qa"][0]
    rows["multi_panel_qa"].append(single.model_copy(update={"qa_id": "multi_panel_qa/asked-again/0", "task": "multi_panel_qa"}))
    rows["compound_qa"][-1] = rows["compound_qa"][-1].model_copy(update={"article_id": " "})
    # every MCQ answer on A: the balance gate must move most of them
    rows["mcq_selection"] = [move_answer(r, "A") if r.answer_letter != "A" else r for r in rows["mcq_selection"]]
    for n, task in enumerate(tasks):
        _reshard(out / "qa" / task, rows[task], size=4, seed=n)
    return out


def test_streaming_finalize_equals_the_whole_list_gates(crafted: Path, tmp_path: Path) -> None:
    tasks = sorted(p.name for p in (crafted / "qa").iterdir() if p.is_dir())
    source = {r.qa_id: r for t in tasks for r in read_all(crafted / "qa" / t, QARow)}
    expected, expected_rejects, records = gates_in_memory(crafted, CONFIG, tasks)
    result = run_finalize(crafted, CONFIG)

    # the global gates had work to do here (else this test could not fail)
    dedup = {r.item: r.detail for r in expected_rejects["dedup"]}
    assert sum(i.endswith("/again") for i in dedup) == 3
    assert dedup["single_panel_qa/DEMO1-0/DEMO1-Figure2-1/0"].endswith("near-duplicate of multi_panel_qa/asked-again/0 in task multi_panel_qa (Jaccard 1.00)")
    no_article = read_all(crafted / "qa" / "compound_qa", QARow)
    assert [r.item for r in expected_rejects["split"]] == [r.qa_id for r in no_article if not r.article_id.strip()]
    moved = [r for r in expected if r.answer_letter and r.answer_letter != source[r.qa_id].answer_letter]
    assert moved, "no MCQ row was rebalanced"

    for task in tasks:
        final = read_all(crafted / "final" / task, QARow)
        assert final == sorted((r for r in expected if r.task == task), key=lambda r: r.qa_id), task
        theirs = write_final(tmp_path / "whole", task, [r for r in expected if r.task == task], CONFIG.rows_per_shard)
        ours = list_shards(crafted / "final" / task)
        assert len(ours) == len(theirs) == max(1, -(-len(final) // CONFIG.rows_per_shard))
        assert [p.read_bytes() for p in ours] == [p.read_bytes() for p in theirs], task  # the same files
    for gate, rejects in expected_rejects.items():
        written = read_rows(crafted / "rejects" / f"gate.{gate}" / "part-00000.parquet", Reject)
        if gate in ("mcq_balance", "split"):  # the whole-list gates list these in MCQ-balance row order
            written, rejects = sorted(written, key=lambda r: r.item), sorted(rejects, key=lambda r: r.item)
        assert written == rejects, gate
    assert result.rows_in == records
    assert [(g.gate, g.rejects) for g in result.gates] == [(name, len(r)) for name, r in expected_rejects.items()]
    assert all(g.rows_out == g.rows_in - g.rejects for g in result.gates)
    assert result.rows_out == {t: sum(r.task == t for r in expected) for t in tasks}
    assert not (crafted / FOLDER).exists()

    # the export equals the whole-list export of the same rows
    export_internvl(tmp_path, {t: [r for r in expected if r.task == t] for t in tasks}, CONFIG.internvl)
    ours, theirs = crafted / "export" / "internvl", tmp_path / "export" / "internvl"
    names = sorted(p.name for p in theirs.glob("*.json*"))
    assert names == sorted(p.name for p in ours.glob("*.json*")) and len(names) > 2
    for name in names:
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name
    assert json.loads((ours / "meta.json").read_text())


def test_rerun_gives_the_same_files(crafted: Path) -> None:
    run_finalize(crafted, CONFIG)
    files = sorted(p for p in [*(crafted / "final").rglob("*.parquet"), *(crafted / "export").rglob("*.json*"),
                               *(crafted / "rejects").glob("gate.*/*.parquet")])
    before = {p: p.read_bytes() for p in files}
    run_finalize(crafted, CONFIG)
    assert {p: p.read_bytes() for p in files} == before


def test_support_index_gives_load_support_text(crafted: Path) -> None:
    whole = load_support(crafted)
    index = SupportIndex(crafted, cached_shards=1)
    assert whole and dict(index.items()) == whole


@pytest.mark.slow
def test_streaming_judge_equals_the_whole_list_judge(crafted: Path, tmp_path: Path) -> None:
    """With a judge model (the fake server scoring about one row in three low), the judge sees the
    spooled rows after dedup and MCQ balance and drops what the whole-list judge drops."""
    import hashlib

    from fakes.openai_server import FakeOpenAIServer

    from pipeline.engine import ModelRole, build_engine, load_settings
    from pipeline.gates import JudgeConfig, JudgeGate

    def verdict(body: dict, record) -> str:
        low = hashlib.sha256(json.dumps(body["messages"][-1]).encode()).digest()[0] % 3 == 0
        return json.dumps({"faithfulness": 1 if low else 5, "answerability": 5, "reason": "scored by hash"})

    tasks = sorted(p.name for p in (crafted / "qa").iterdir() if p.is_dir())
    with FakeOpenAIServer() as server:
        server.responder = verdict
        role = ModelRole(backend="openai", base_urls=[server.base_url], model="judge-model", timeout_s=10, max_attempts=1)
        config = CONFIG.model_copy(update={"judge": JudgeConfig(role=role)})
        engine = build_engine(load_settings(text=role), tmp_path / "cache")
        expected, expected_rejects, _ = gates_in_memory(crafted, config, tasks,
                                                        judge=lambda support: JudgeGate(engine, config.judge, support))
        result = run_finalize(crafted, config)
    judged = sorted(read_rows(crafted / "rejects" / "gate.judge" / "part-00000.parquet", Reject), key=lambda r: r.item)
    assert judged and judged == sorted(expected_rejects["judge"], key=lambda r: r.item)
    assert [g.gate for g in result.gates][-2:] == ["judge", "split"]
    assert [(g.gate, g.rejects) for g in result.gates] == [(name, len(r)) for name, r in expected_rejects.items()]
    for task in tasks:
        final = read_all(crafted / "final" / task, QARow)
        assert final == sorted((r for r in expected if r.task == task), key=lambda r: r.qa_id), task

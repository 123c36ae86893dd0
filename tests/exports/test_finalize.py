"""run_finalize end to end on generated tables: gates, split, final Parquet, InternVL export, stats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from pipeline.finalize import FinalizeConfig, run_finalize
from pipeline.gates import SplitConfig
from pipeline.io.layout import ensure_layout
from pipeline.io.parquet import read_all, read_rows, write_rows
from pipeline.train.data import read_internvl_export
from schemas import QARow, Reject, RejectReason


@pytest.fixture(scope="module")
def finalized(generated: Path, tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("final") / "out"
    shutil.copytree(generated, out)
    ensure_layout(out)  # as a build leaves it: `stats` refuses a folder without the layout marker
    # one crafted bad row: a bbox answer that contradicts its boxes
    shard = out / "qa" / "bbox_qa" / "part-00000.parquet"
    rows = read_rows(shard, QARow)
    bad = rows[0].model_copy(update={"qa_id": "bbox_qa/crafted/0", "relation": "right_of,above"})
    write_rows(shard, rows + [bad], QARow)
    config = FinalizeConfig(source="qa", split=SplitConfig(eval_fraction=0.3, seed=1))
    return out, run_finalize(out, config)


def test_gates_and_final_tables(finalized) -> None:
    out, result = finalized
    assert result.tasks == ["bbox_qa", "compound_qa", "mcq_selection", "multi_panel_qa", "single_panel_qa", "text_qa"]
    geometry = read_rows(out / "rejects" / "gate.geometry" / "part-00000.parquet", Reject)
    assert [(r.item, r.reason) for r in geometry] == [("bbox_qa/crafted/0", RejectReason.GEOMETRY_MISMATCH)]
    total = 0
    for task in result.tasks:
        final = read_all(out / "final" / task, QARow)
        assert len(final) == result.rows_out[task] > 0
        total += len(final)
        assert all(r.split in ("train", "eval") for r in final)
    assert total == result.rows_in - sum(g.rejects for g in result.gates)
    all_final = [r for t in result.tasks for r in read_all(out / "final" / t, QARow)]
    train = {r.article_id for r in all_final if r.split == "train"}
    evals = {r.article_id for r in all_final if r.split == "eval"}
    assert train and evals and not train & evals


def test_final_parquet_loads_with_datasets(finalized) -> None:
    import datasets

    out, result = finalized
    ds = datasets.load_dataset("parquet", data_files=str(out / "final" / "mcq_selection" / "*.parquet"), split="train")
    assert len(ds) == result.rows_out["mcq_selection"]
    assert ds[0]["conversation"][0]["from"] == "human" and ds[0]["answer_letter"] in "ABCD"


def test_internvl_export(finalized) -> None:
    out, result = finalized
    root = out / "export" / "internvl"
    train_meta = json.loads((root / "meta.json").read_text())
    eval_meta = json.loads((root / "meta_eval.json").read_text())
    assert train_meta and eval_meta and all(n.endswith("_train") for n in train_meta)
    assert all(n.endswith("_eval") for n in eval_meta)
    meta = {**train_meta, **eval_meta}
    assert sum(m["length"] for m in meta.values()) == sum(result.rows_out.values())
    stored = set()
    for name, entry in meta.items():
        lines = (root / entry["annotation"]).read_text().splitlines()
        assert entry["length"] == len(lines) and entry["root"] == "."
        assert entry["data_augment"] is False and entry["repeat_time"] == 1 and entry["max_dynamic_patch"] >= 1
        for line in lines:
            item = json.loads(line)
            placeholders = sum(t["value"].count("<image>") for t in item["conversations"])
            if name.startswith("text_qa"):
                assert "image" not in item and "width" not in item and placeholders == 0
                continue
            images = [item["image"]] if isinstance(item["image"], str) else item["image"]
            widths = [item["width"]] if isinstance(item["width"], int) else item["width"]
            heights = [item["height"]] if isinstance(item["height"], int) else item["height"]
            assert placeholders == len(images) == len(widths) == len(heights)
            if len(images) > 1:
                assert isinstance(item["image"], list)
                assert item["width_list"] == widths and item["height_list"] == heights
            for rel, w, h in zip(images, widths, heights, strict=True):
                path = root / entry["root"] / rel
                assert path.is_file() and rel.startswith("images/")
                with Image.open(path) as img:
                    assert img.size == (w, h)
                stored.add(rel)
    assert len(stored) == len(list((root / "images").iterdir()))  # written once, nothing extra
    samples, problems = read_internvl_export(root)  # the finetune helper's reader accepts it
    assert not problems and len(samples) == sum(result.rows_out.values())
    assert {s.split for s in samples} == {"train", "eval"}


def internvl_items(meta_path: Path) -> list[dict]:
    """Every item InternVL would train on for --meta_path, resolved its way: `annotation` and
    `root` joined to the working directory (so this runs from the meta file's folder, as documented)."""
    items = []
    for entry in json.loads(meta_path.read_text()).values():
        with open(entry["annotation"], encoding="utf-8") as fh:  # relative to the cwd, as InternVL opens it
            lines = [json.loads(line) for line in fh][: entry["length"] * entry["repeat_time"]]
        for item in lines:
            images = item.get("image")
            for rel in [images] if isinstance(images, str) else images or []:
                assert Path(entry["root"], rel).is_file()  # InternVL: os.path.join(root, image)
            items.append(item)
    return items


def test_training_on_the_train_meta_never_sees_an_eval_row(finalized, tmp_path, monkeypatch) -> None:
    """Copy the export elsewhere (paths must survive), run from its folder as InternVL's launcher
    would, and check that no item of meta.json comes from an eval article."""
    import shutil

    out, result = finalized
    copy = tmp_path / "moved" / "internvl"
    shutil.copytree(out / "export" / "internvl", copy)
    monkeypatch.chdir(copy)
    rows = {r.qa_id: r for t in result.tasks for r in read_all(out / "final" / t, QARow)}
    eval_articles = {r.article_id for r in rows.values() if r.split == "eval"}
    trained = internvl_items(copy / "meta.json")
    held_out = internvl_items(copy / "meta_eval.json")
    assert eval_articles and trained and held_out
    assert not {rows[i["id"]].article_id for i in trained} & eval_articles
    assert {rows[i["id"]].article_id for i in held_out} <= eval_articles
    assert len(trained) + len(held_out) == len(rows)


def test_stats(finalized) -> None:
    out, result = finalized
    stats = json.loads((out / "stats.json").read_text())
    assert stats == result.stats.model_dump(mode="json")
    by_task = {t["task"]: t for t in stats["tasks"]}
    assert by_task["bbox_qa"]["rejects_by_reason"].get("geometry-mismatch") == 1
    assert by_task["compound_qa"]["rejects_by_reason"] == {"no-panels": 2}  # the single-panel figure, twice
    assert stats["rejects_by_stage"]["qa.compound_qa"] == {"no-panels": 2}
    mcq = by_task["mcq_selection"]
    assert sum(mcq["mcq_letters"].values()) == mcq["final"] == mcq["train"] + mcq["eval"]
    assert max(mcq["mcq_letters"].values()) - min(mcq["mcq_letters"].values()) <= 1
    assert stats["total_final"] == sum(result.rows_out.values())
    bbox_rule = [r for r in read_all(out / "final" / "bbox_qa", QARow) if r.provenance.template_name == "bbox_qa.rule"]
    assert by_task["bbox_qa"]["rule_fallbacks"] == len(bbox_rule) > 0  # pairs other than A/B fell back


def test_finalize_is_idempotent(finalized) -> None:
    out, result = finalized
    before = {p: p.read_bytes() for p in sorted((out / "export").rglob("*.jsonl"))}
    final_before = read_all(out / "final" / "mcq_selection", QARow)
    again = run_finalize(out, FinalizeConfig(source="qa", split=SplitConfig(eval_fraction=0.3, seed=1)))
    assert again.rows_out == result.rows_out
    assert {p: p.read_bytes() for p in sorted((out / "export").rglob("*.jsonl"))} == before
    assert read_all(out / "final" / "mcq_selection", QARow) == final_before


def test_stats_command(finalized) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    out, result = finalized
    (out / "stats.json").unlink()
    run = CliRunner().invoke(app, ["stats", str(out)], env={"COLUMNS": "80"})
    assert run.exit_code == 0, run.output
    lines = run.output.splitlines()
    assert max(len(line) for line in lines) <= 80  # readable in an 80-column terminal
    by_task: dict[str, list[str]] = {}  # the first line naming a task is its row in the counts table
    for words in (line.split() for line in lines):
        if words and words[0] in result.rows_out:
            by_task.setdefault(words[0], words)
    for t in result.stats.tasks:  # one unbroken row per task: generated, de-leaked, final, train/eval
        assert by_task[t.task][1:5] == [str(t.generated), str(t.deleaked), str(t.final), f"{t.train}/{t.eval}"]
    assert any(line.split()[:3] == ["bbox_qa", "geometry-mismatch", "1"] for line in lines), run.output
    assert json.loads((out / "stats.json").read_text())["total_final"] == result.stats.total_final
    assert CliRunner().invoke(app, ["stats", str(out / "nope")]).exit_code == 2


def test_unreadable_shards_and_invalid_records_are_rejected_shard_by_shard(generated: Path, tmp_path: Path) -> None:
    """Finalize parses one shard at a time: a shard that is not Parquet and a record that is not a
    QA row each become one schema reject naming it; every other shard's rows go on."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "out"
    shutil.copytree(generated, out)
    ensure_layout(out)
    source = read_all(out / "qa" / "text_qa", QARow)
    (out / "qa" / "text_qa" / "part-09998.parquet").write_bytes(b"not parquet at all")
    broken = {**source[0].model_dump(mode="json", by_alias=True), "qa_id": "text_qa/broken/0",
              "conversation": [{"from": "robot", "value": "?"}]}  # Parquet takes it, QARow does not
    pq.write_table(pa.Table.from_pylist([broken], schema=pq.read_schema(out / "qa" / "text_qa" / "part-00000.parquet")),
                   out / "qa" / "text_qa" / "part-09999.parquet")
    result = run_finalize(out, FinalizeConfig(source="qa", tasks=["text_qa"], split=SplitConfig(eval_fraction=0.3, seed=1)))
    rejects = read_rows(out / "rejects" / "gate.schema" / "part-00000.parquet", Reject)
    by_item = {r.item: r for r in rejects}
    assert by_item[str(out / "qa" / "text_qa" / "part-09998.parquet")].reason is RejectReason.INPUT_UNREADABLE
    assert by_item["text_qa/broken/0"].reason is RejectReason.SCHEMA_INVALID
    assert result.rows_in == len(source) + 1  # the records read; the unreadable shard had none
    assert result.rows_out["text_qa"] > 0
    # stats still come out, and name the shard they could not count
    assert result.stats.unreadable_shards == [str(out / "qa" / "text_qa" / "part-09998.parquet")]
    from typer.testing import CliRunner

    from flows.cli import app

    run = CliRunner().invoke(app, ["stats", str(out), "--json-only"])
    assert run.exit_code == 0 and "part-09998.parquet: unreadable Parquet shard, counted as no rows" in run.stderr

"""Reading the export and encoding chat samples: placeholders, image tokens, assistant-only labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pipeline.train.collate import IGNORE, Encoder, pad_batch
from pipeline.train.data import DataError, load_samples, read_internvl_export
from pipeline.train.model import load_processor

TASKS = {"text_qa", "bbox_qa", "single_panel_qa", "multi_panel_qa", "mcq_selection", "compound_qa"}


@pytest.fixture(scope="module")
def processor(tiny_model):
    return load_processor(tiny_model)


def test_export_is_read_with_tasks_and_a_per_task_holdout(fixture_export):
    samples, problems = read_internvl_export(fixture_export, eval_fraction=0.25)
    assert problems == []
    assert {s.task for s in samples} == TASKS
    for task in TASKS:
        splits = [s.split for s in samples if s.task == task]
        assert splits.count("eval") == 1 and splits.count("train") == 3
    multi = next(s for s in samples if s.task == "multi_panel_qa")
    assert len(multi.images) == 2 and all(p.is_file() for p in multi.images)
    text = next(s for s in samples if s.task == "text_qa")
    assert text.images == [] and text.reference.startswith("Panel A shows")
    # The split is a property of the ids, not of file order.
    again, _ = read_internvl_export(fixture_export, eval_fraction=0.25)
    assert [s.split for s in again] == [s.split for s in samples]


def test_explicit_eval_entries_win_and_bad_lines_are_reported(tmp_path, fixture_export):
    meta = json.loads((fixture_export / "meta.json").read_text())
    bad = tmp_path / "text_qa_eval.jsonl"
    good_line = Path(meta["text_qa"]["annotation"]).read_text().splitlines()[0]
    bad.write_text(good_line + "\n{not json\n" + json.dumps({"id": "x", "conversations": [
        {"from": "human", "value": "<image>\nno image given"}, {"from": "gpt", "value": "a"}]}) + "\n")
    meta["text_qa_eval"] = dict(meta["text_qa"], annotation=str(bad))
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    samples, problems = load_samples(tmp_path, split="eval")
    assert [s.task for s in samples] == ["text_qa"] and len(samples) == 1
    assert len(problems) == 2 and "1 <image> placeholders for 0 images" in problems[1]
    with pytest.raises(DataError):
        load_samples(tmp_path / "nothing-here")


def test_encoding_expands_images_and_labels_only_answers(processor, internvl_export):
    samples, _ = load_samples(internvl_export)
    enc = Encoder(processor, max_length=1 << 20)
    tok = processor.tokenizer
    per_tile = processor.image_seq_length
    for task in sorted({s.task for s in samples}):
        sample = next(s for s in samples if s.task == task)
        item = enc.encode_train(sample)
        ids, labels = item["input_ids"], item["labels"]
        n_ctx = int((ids == processor.image_token_id).sum())
        assert n_ctx == per_tile * len(sample.images)
        tiles = 0 if item["pixel_values"] is None else item["pixel_values"].shape[0]
        assert tiles == len(sample.images)
        answers = [v for s, v in sample.turns if s == "gpt"]
        labelled = tok.decode(ids[labels != IGNORE])
        assert labelled == "".join(a + "<|im_end|>" for a in answers)
        assert not (labels == processor.image_token_id).any()


def test_truncation_never_cuts_image_tokens(processor, internvl_export):
    samples = [s for s in load_samples(internvl_export)[0] if len(s.images) == 1]
    with pytest.raises(ValueError, match="image tokens run past"):
        Encoder(processor, max_length=32).encode_train(samples[0])
    item = Encoder(processor, max_length=processor.image_seq_length + 12).encode_train(samples[0])
    assert item["input_ids"].numel() == processor.image_seq_length + 12


def test_padding_right_for_training_left_for_generation():
    a = {"input_ids": torch.tensor([5, 6, 7]), "labels": torch.tensor([IGNORE, 6, 7]), "pixel_values": None}
    b = {"input_ids": torch.tensor([8]), "labels": torch.tensor([8]), "pixel_values": torch.zeros(2, 3, 4, 4)}
    batch = pad_batch([a, b], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 6, 7], [8, IGNORE, IGNORE]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["pixel_values"].shape[0] == 2
    left = pad_batch([{"input_ids": torch.tensor([1, 2])}, {"input_ids": torch.tensor([3])}], pad_id=9, left=True)
    assert left["input_ids"].tolist() == [[1, 2], [9, 3]] and "labels" not in left


def test_final_qa_parquet_is_read_with_its_split(tmp_path, internvl_export):
    from pipeline.io.parquet import shard_name, write_rows
    from schemas import Method, Provenance, QARow, Turn

    image = str(next(s for s in load_samples(internvl_export)[0] if s.images).images[0])

    def row(n: int, split: str, images: list[str], question: str) -> QARow:
        return QARow(qa_id=f"mcq_selection/f{n}/0", task="mcq_selection", figure_id=f"f{n}", article_id="a",
                     image_paths=images, question="q", answer="B", answer_letter="B", split=split,
                     conversation=[Turn(speaker="human", value=question), Turn(speaker="gpt", value="B. two")],
                     provenance=Provenance(method=Method.RULE))

    rows = [row(1, "train", [image], "<image>\nPick\nA. one\nB. two"), row(2, "eval", [image], "<image>\nPick"),
            row(3, "eval", [], "<image>\nimage missing from the row")]
    write_rows(tmp_path / "mcq_selection" / shard_name(0), rows, QARow)
    samples, problems = load_samples(tmp_path, split="eval")
    assert [s.id for s in samples] == ["mcq_selection/f2/0"]
    assert samples[0].meta["answer_letter"] == "B" and samples[0].images == [Path(image)]
    assert len(problems) == 1 and "f3" in problems[0]
    train_rows, _ = load_samples(tmp_path, split="train")
    assert [s.id for s in train_rows] == ["mcq_selection/f1/0"]


def test_reads_what_the_internvl_exporter_writes(tmp_path, fixture_export, processor):
    """Integration with pipeline.exports.internvl: "<task>_<split>" entries carry the split."""
    from pipeline.exports.internvl import export_internvl
    from schemas import Method, Provenance, QARow, Turn

    source = load_samples(fixture_export, tasks=["multi_panel_qa", "text_qa"])[0]

    def row(sample, split: str) -> QARow:
        return QARow(qa_id=sample.id, task=sample.task, figure_id="f", article_id="a",
                     image_paths=[str(p) for p in sample.images], question="q", answer=sample.reference,
                     conversation=[Turn(speaker=s, value=v) for s, v in sample.turns], split=split,
                     provenance=Provenance(method=Method.RULE))

    rows: dict[str, list[QARow]] = {}
    for i, s in enumerate(source):
        rows.setdefault(s.task, []).append(row(s, "eval" if i % 4 == 0 else "train"))
    meta, rejects = export_internvl(tmp_path, rows)
    assert rejects == [] and any(name.endswith("_eval") for name in meta)
    export = tmp_path / "export" / "internvl"
    evals, problems = load_samples(export, split="eval")
    trains, _ = load_samples(export, split="train")
    assert problems == []
    assert sorted(s.id for s in evals) == sorted(r.qa_id for rs in rows.values() for r in rs if r.split == "eval")
    assert len(evals) + len(trains) == len(source)
    assert {s.task for s in evals + trains} == {"multi_panel_qa", "text_qa"}
    multi = next(s for s in evals + trains if s.task == "multi_panel_qa")
    assert len(multi.images) == 2 and all(p.is_file() and p.parent.name == "images" for p in multi.images)
    item = Encoder(processor).encode_train(multi)
    assert int((item["input_ids"] == processor.image_token_id).sum()) == 2 * processor.image_seq_length

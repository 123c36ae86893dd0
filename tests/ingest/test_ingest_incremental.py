"""Shards, layout marker, incremental reruns, Hugging Face / pyarrow readability, CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from typer.testing import CliRunner

from hostile import article, fig, png_bytes, write
from pipeline.ingest import IngestConfig, run_ingest
from pipeline.ingest.manifest import load_manifest
from pipeline.ingest.shards import ramp_sizes
from pipeline.io.layout import LayoutMismatch, ensure_layout
from pipeline.io.parquet import list_shards, read_all, read_rows
from schemas import SCHEMA_VERSION, Article, Figure, Reject


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_articles(folder: Path, ids: range, figs_each: int = 2) -> None:
    for i in ids:
        name = f"art{i:03d}"
        figs = ""
        for k in range(1, figs_each + 1):
            write(folder / name / f"g{k}.png", png_bytes((60 + k, 40), color=(i % 255, 10 * k, 90)))
            figs += fig(f"f{k}", f"g{k}", caption=f"Figure {k} of article {i}.")
        write(folder / name / f"{name}.xml", article(figs, pmcid=str(1000 + i)))


def test_layout_marker_and_version_refusal(tmp_path: Path):
    out = ensure_layout(tmp_path / "out")
    marker = json.loads((out / "_pmc_instruct.json").read_text())
    assert marker["schema_version"] == SCHEMA_VERSION
    ensure_layout(out)  # same version: fine
    (out / "_pmc_instruct.json").write_text(json.dumps({"schema_version": "0-old"}))
    with pytest.raises(LayoutMismatch, match="schema version 0-old"):
        ensure_layout(out)
    src = tmp_path / "in"
    make_articles(src, range(1))
    with pytest.raises(LayoutMismatch):
        run_ingest(src, out)


def test_sharding_by_figure_count(tmp_path: Path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_articles(src, range(5), figs_each=2)
    result = run_ingest(src, out, IngestConfig(shard_size=4))
    assert [Path(p).name for p in result.new_shards] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    for table in ("figures", "articles", "rejects/ingest"):
        assert [p.name for p in list_shards(out / table)] == [Path(p).name for p in result.new_shards]
    figures = read_all(out / "figures", Figure)
    # deterministic order: files by relative path, figures in document order
    assert [f.figure_id for f in figures] == [f"PMC{1000 + i}/f{k}" for i in range(5) for k in (1, 2)]
    assert all(Path(f.image_path).is_absolute() and Path(f.image_path).is_relative_to(src.resolve()) for f in figures)
    assert figures[0].image_sha256 == sha(src / "art000" / "g1.png")
    assert (figures[0].width, figures[0].height) == (61, 40)


def test_incremental_rerun_and_new_file(tmp_path: Path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_articles(src, range(3))
    first = run_ingest(src, out, IngestConfig(shard_size=100))
    assert first.files_new == 3 and len(first.new_shards) == 1
    shard0 = out / "figures" / "part-00000.parquet"
    before = {p: sha(p) for p in out.rglob("*.parquet")}

    again = run_ingest(src, out, IngestConfig(shard_size=100))
    assert (again.files_skipped, again.files_new, again.figures, again.new_shards, again.rewritten_shards) == (3, 0, 0, [], [])
    assert {p: sha(p) for p in out.rglob("*.parquet")} == before

    make_articles(src, range(3, 4))
    third = run_ingest(src, out, IngestConfig(shard_size=100))
    assert third.files_new == 1 and third.files_skipped == 3 and third.rewritten_shards == []
    assert [Path(p).name for p in third.new_shards] == ["part-00001.parquet"]
    assert {p: sha(p) for p in before} == before  # old shards untouched, byte for byte
    assert sha(shard0) == before[shard0]
    new_ids = [f.figure_id for f in read_all(out / "figures", Figure)]
    assert new_ids == [f"PMC{1000 + i}/f{k}" for i in range(4) for k in (1, 2)]
    manifest = load_manifest(out)
    assert manifest.files["art003/art003.xml"].shards == [1]
    assert manifest.files["art000/art000.xml"].shards == [0]


def test_changed_and_removed_files_rewrite_only_their_shard(tmp_path: Path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_articles(src, range(4))
    run_ingest(src, out, IngestConfig(shard_size=4))  # shards: [art0, art1], [art2, art3]
    shard0, shard1 = out / "figures" / "part-00000.parquet", out / "figures" / "part-00001.parquet"
    s0 = sha(shard0)
    write(src / "art002" / "art002.xml", article(fig("f1", "g1", caption="Rewritten caption."), pmcid="1002"))
    shutil.rmtree(src / "art003")
    result = run_ingest(src, out, IngestConfig(shard_size=4))
    assert (result.files_changed, result.files_removed, result.files_skipped) == (1, 1, 2)
    assert result.rewritten_shards == [str(shard1)] and sha(shard0) == s0
    assert [Path(p).name for p in result.new_shards] == ["part-00002.parquet"]
    figures = read_all(out / "figures", Figure)
    ids = [f.figure_id for f in figures]
    assert ids == ["PMC1000/f1", "PMC1000/f2", "PMC1001/f1", "PMC1001/f2", "PMC1002/f1"]  # stable ids
    assert figures[-1].caption == "Rewritten caption."
    assert [a.article_id for a in read_all(out / "articles", Article)] == ["PMC1000", "PMC1001", "PMC1002"]
    assert "art003/art003.xml" not in load_manifest(out).files


def test_limit_processes_the_first_files_then_the_rest(tmp_path: Path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_articles(src, range(3))
    first = run_ingest(src, out, IngestConfig(limit=2))
    assert first.files_new == 2
    second = run_ingest(src, out, IngestConfig(limit=2))
    assert (second.files_new, second.files_skipped) == (1, 2)
    assert len(read_all(out / "figures", Figure)) == 6


def test_rejects_land_in_the_shard_of_their_file(tmp_path: Path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_articles(src, range(1))
    write(src / "zz_bad.xml", "<article><broken></article>")
    run_ingest(src, out)
    rejects = read_all(out / "rejects" / "ingest", Reject)
    assert [(r.item, r.stage) for r in rejects] == [("zz_bad.xml", "ingest")]
    again = run_ingest(src, out)
    assert again.files_skipped == 2 and again.rejects == 0


def test_readable_with_pyarrow_dataset_and_hf_datasets(tmp_path: Path, demo_data: Path):
    out = tmp_path / "out"
    run_ingest(demo_data / "demo", out, IngestConfig(shard_size=3))
    files = sorted(str(p) for p in (out / "figures").glob("part-*.parquet"))
    assert len(files) >= 2
    table = ds.dataset(str(out / "figures"), format="parquet").to_table()
    assert table.num_rows == 8 and "panels" in table.column_names

    import datasets

    hf = datasets.load_dataset("parquet", data_files={"train": files}, split="train",
                               cache_dir=str(tmp_path / "hf_cache"))
    assert hf.num_rows == 8
    row = next(r for r in hf if r["figure_id"] == "PMC900001/f1")
    assert [p["label"] for p in row["panels"]] == ["A", "B", "C"]
    assert [s["label"] for s in row["sub_captions"]] == ["A", "B", "C"]
    arts = datasets.load_dataset("parquet", data_files=sorted(str(p) for p in (out / "articles").glob("*.parquet")),
                                 split="train", cache_dir=str(tmp_path / "hf_cache"))
    assert arts.num_rows == 4


def test_cli_ingest_prints_summary(tmp_path: Path, demo_data: Path):
    from flows.cli import app

    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["ingest", "--input", str(demo_data / "demo"), "--out", str(out), "--shard-size", "5"])
    assert res.exit_code == 0, res.output
    assert "figures" in res.output and "panels" in res.output
    assert len(list((out / "figures").glob("part-*.parquet"))) == 2
    res = CliRunner().invoke(app, ["ingest", "--input", str(tmp_path / "nope"), "--out", str(out)])
    assert res.exit_code == 2 and "does not exist" in " ".join(res.output.split())
    res = CliRunner().invoke(app, ["ingest", "--help"])
    for opt in ("--input", "--out", "--format", "--shard-size", "--panel-threshold", "--max-pixels", "--limit"):
        assert opt in res.output


def test_shards_are_written_while_files_are_parsed(tmp_path: Path):
    """Ingest holds one shard of rows at a time: by the time it parses a file, the shards filled by
    earlier files are on disk and in the manifest (a file is recorded once all its rows are)."""
    src, out = tmp_path / "in", tmp_path / "out"
    make_articles(src, range(6), figs_each=2)
    seen: list[tuple[int, int, int]] = []

    def progress(done: int, total: int, current: str) -> None:
        on_disk = len(list_shards(out / "figures"))
        recorded = len(load_manifest(out).files)
        seen.append((done, on_disk, recorded))

    result = run_ingest(src, out, IngestConfig(shard_size=4), progress=progress)
    assert len(result.new_shards) == 3
    # files 0-1 fill shard 0; file 2 does not fit, so shard 0 is written before file 3 is parsed
    assert seen[:6] == [(0, 0, 0), (1, 0, 0), (2, 0, 0), (3, 1, 2), (4, 1, 2), (5, 2, 4)]
    assert seen[-1] == (6, 3, 6)
    manifest = load_manifest(out)
    assert sorted(i for e in manifest.files.values() for i in e.shards) == [0, 0, 1, 1, 2, 2]
    assert [f.figure_id for f in read_all(out / "figures", Figure)] == [
        f"PMC{1000 + i}/f{k}" for i in range(6) for k in (1, 2)]


def test_first_shards_ramp_up_so_calls_start_sooner(tmp_path: Path):
    src = tmp_path / "in"
    make_articles(src, range(30), figs_each=2)  # 60 figures, 2 per file (a file is never split)
    ramped = run_ingest(src, tmp_path / "ramped", IngestConfig(shard_size=64))
    sizes = [len(read_rows(Path(p), Figure)) for p in ramped.new_shards]
    assert sizes == [8, 16, 32, 4]
    flat = run_ingest(src, tmp_path / "flat", IngestConfig(shard_size=64, ramp_shards=False))
    assert [len(read_rows(Path(p), Figure)) for p in flat.new_shards] == [60]
    # the same figures in the same order either way
    assert [f.figure_id for f in read_all(tmp_path / "ramped" / "figures", Figure)] == \
        [f.figure_id for f in read_all(tmp_path / "flat" / "figures", Figure)]
    # a small shard size has no ramp: its parts would be under RAMP_MIN_FIGURES
    assert ramp_sizes(4) == [] and ramp_sizes(250) == [31, 62, 125]

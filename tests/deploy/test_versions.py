"""Dataset versions (pipeline/build/versions.py) on real builds (no Prefect: pipeline.build.run_build with the
fake model server): manifests, snapshots that keep an old version readable after its shards are
rewritten, no duplicate version for an unchanged rebuild, restore, and `pmc-instruct versions`."""

from __future__ import annotations

import os
import shutil

import pytest
from build_helpers import bump_version, config, copy_prompts, openai_settings
from typer.testing import CliRunner

from pipeline.build import versions
from pipeline.build import BuildConfig, run_build
from pipeline.io.parquet import read_all
from pipeline.io.hashing import file_sha256
from schemas import Figure, SummaryRow


@pytest.fixture
def small_input(tmp_path, real_jats, demo_data):
    """Our JATS article and LLaVA-Med records, plus a real JATS article when ../shared/data is there."""
    src = tmp_path / "in"
    shutil.copytree(demo_data / "demo" / "demo-001", src / "demo-001")
    shutil.copytree(demo_data / "formats" / "llava-med", src / "llava-med")
    if real_jats is not None:
        shutil.copytree(real_jats / "ctsz-prostate-cancer", src / "ctsz")
    return src


def _cfg(src, out, server, **kw) -> BuildConfig:
    return config(src, out, openai_settings(server.base_url, vision=False), stages=["ingest", "summary"], **kw)


def test_manifest_snapshots_and_unchanged_rebuild(small_input, tmp_path, model_server):
    out = tmp_path / "out"
    report = run_build(_cfg(small_input, out, model_server))
    assert (report.version, report.new_version) == ("v0001", True)
    m = versions.load_version(out, "v0001")
    summaries = read_all(out / "summaries", SummaryRow)
    assert m.counts["summaries"] == len(summaries) > 0
    assert m.counts["figures"] == len(read_all(out / "figures", Figure))
    assert m.build["model_calls"] == report.model_calls > 0
    assert m.code["package"] == "0.1.0" and m.config["stages"] == ["ingest", "summary"]
    shas = [e.sha256 for e in m.files.values()]
    for rel, entry in m.files.items():
        live, obj = out / rel, m.object_path(out, rel)
        assert entry.sha256 == file_sha256(live) == file_sha256(obj)
        if shas.count(entry.sha256) == 1:  # identical files (empty reject shards) share one object
            assert os.stat(obj).st_ino == os.stat(live).st_ino  # a hard link, not a copy
    assert any(rel.startswith("summaries/") for rel in m.files)
    assert not any(rel.startswith(("cache/", "_state/", "versions/", "logs/")) for rel in m.files)

    again = run_build(_cfg(small_input, out, model_server))
    assert (again.version, again.new_version) == ("v0001", False) and again.model_calls == 0
    assert versions.version_names(out) == ["v0001"]


def test_old_version_stays_readable_after_its_shards_are_rewritten(small_input, tmp_path, model_server):
    out = tmp_path / "out"
    run_build(_cfg(small_input, out, model_server))
    first_rows = read_all(out / "summaries", SummaryRow)
    v1 = versions.load_version(out, "v0001")

    prompts = copy_prompts(tmp_path / "prompts")
    new_version = bump_version(prompts, "summary")  # every summary shard is redone and rewritten
    report = run_build(_cfg(small_input, out, model_server, prompts_dir=prompts))
    assert (report.version, report.new_version) == ("v0002", True)
    v2 = versions.load_version(out, "v0002")
    changed = [rel for rel in v1.files if rel.startswith("summaries/") and v2.files[rel].sha256 != v1.files[rel].sha256]
    assert changed  # same paths, new bytes
    assert v2.previous == "v0001"
    for rel in changed:  # the live file moved on; v0001's snapshot kept the old bytes
        assert file_sha256(out / rel) == v2.files[rel].sha256
        assert file_sha256(v1.object_path(out, rel)) == v1.files[rel].sha256

    restored = versions.restore_version(out, "v0001", tmp_path / "restored")
    old_rows = read_all(restored / "summaries", SummaryRow)
    assert [r.model_dump() for r in old_rows] == [r.model_dump() for r in first_rows]
    assert {r.provenance.template_version for r in read_all(out / "summaries", SummaryRow)} == {new_version}
    with pytest.raises(FileExistsError):
        versions.restore_version(out, "v0001", tmp_path / "restored")


def test_snapshots_fall_back_to_copies_without_hard_links(small_input, tmp_path, model_server, monkeypatch):
    def no_links(src, dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(versions, "_hardlink", no_links)
    out = tmp_path / "out"
    run_build(_cfg(small_input, out, model_server))
    m = versions.load_version(out, "v0001")
    for rel, entry in m.files.items():
        obj = m.object_path(out, rel)
        assert os.stat(obj).st_ino != os.stat(out / rel).st_ino and file_sha256(obj) == entry.sha256


def test_public_config_drops_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("PMC_INSTRUCT_API_KEY", "sk-secret-in-env")
    cfg = BuildConfig(input_dir=tmp_path, out_dir=tmp_path / "out",
                      engine={"text": {"backend": "openai", "model": "m",
                                       "base_urls": ["http://user:sk-in-url@node1:8000/v1", "http://node2:8000/v1"]}})
    public = versions.public_config(cfg)
    text = str(public)
    assert "sk-secret-in-env" not in text and "sk-in-url" not in text and "user" not in text
    assert public["engine"]["text"]["base_urls"] == ["http://node1:8000/v1", "http://node2:8000/v1"]


def test_versions_command(small_input, tmp_path, model_server):
    from flows.cli import app

    out = tmp_path / "out"
    runner = CliRunner()
    empty = runner.invoke(app, ["versions", str(small_input)])
    assert empty.exit_code == 0 and "no versions" in empty.output
    run_build(_cfg(small_input, out, model_server))
    prompts = copy_prompts(tmp_path / "prompts")
    bump_version(prompts, "summary")
    run_build(_cfg(small_input, out, model_server, prompts_dir=prompts))

    listed = runner.invoke(app, ["versions", str(out)], env={"COLUMNS": "160"})
    assert listed.exit_code == 0 and "v0001" in listed.output and "v0002" in listed.output
    shown = runner.invoke(app, ["versions", str(out), "--show", "2"], env={"COLUMNS": "160"})
    assert shown.exit_code == 0 and "previous: v0001" in shown.output and "summaries" in shown.output
    paths = runner.invoke(app, ["versions", str(out), "--paths", "v0001"])
    lines = [line.split("\t") for line in paths.output.strip().splitlines()]
    m = versions.load_version(out, "v0001")
    assert {rel for rel, _ in lines} == set(m.files)
    assert all(obj == str(m.object_path(out, rel)) for rel, obj in lines)
    dest = tmp_path / "v1"
    restored = runner.invoke(app, ["versions", str(out), "--restore", "v0001", "--to", str(dest)])
    assert restored.exit_code == 0 and (dest / "_pmc_instruct.json").exists()
    assert len(read_all(dest / "summaries", SummaryRow)) == m.counts["summaries"]
    again = runner.invoke(app, ["versions", str(out), "--restore", "v0001", "--to", str(dest)], env={"COLUMNS": "200"})
    assert again.exit_code == 1 and "not empty" in again.output
    missing = runner.invoke(app, ["versions", str(out), "--show", "v0009"], env={"COLUMNS": "200"})
    assert missing.exit_code == 1 and "v0001, v0002" in missing.output


def test_a_version_records_the_dataset_files_and_names_its_images_in_path_order(tmp_path):
    """What a version records, from a folder laid out like an output: dataset tables and export
    files hashed, content-addressed export images named, machinery folders, hidden entries and
    the layout marker left out; folders before their same-prefix neighbours ("qa/a" < "qa/a-b")."""
    out = tmp_path / "out"
    for rel in ["qa/a/part-00000.parquet", "qa/a-b/part-00000.parquet", "qa/a.b.json",
                "export/internvl/meta.json", "export/internvl/a_train.jsonl", "export/internvl/images/ff.jpg",
                "export/internvl/images/0a.PNG", "stats.json", "_pmc_instruct.json", "report.html",
                "crops/1.jpg", "cache/responses.sqlite", "_state/ingest.json", "logs/x.jsonl",
                "versions/_hashes.json", ".prefect/x.json", "qa/.tmp.json", "figures/.partial/part.parquet"]:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(rel)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "t.json").write_text("{}")
    os.symlink(tmp_path / "elsewhere", out / "linked")  # a linked folder is not walked into
    files, images = versions._recorded(out)
    assert [p.relative_to(out).as_posix() for p in files] == [
        "export/internvl/a_train.jsonl", "export/internvl/meta.json",
        "qa/a/part-00000.parquet", "qa/a-b/part-00000.parquet", "qa/a.b.json", "stats.json"]
    assert images == ["export/internvl/images/0a.PNG", "export/internvl/images/ff.jpg"]

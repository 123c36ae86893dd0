"""Output safety: a full disk fails the shard being written with a clear error and leaves every
earlier file valid; a rerun finishes the job; Parquet/JSONL writes only go through the atomic
writer; an output folder from another schema version is refused by the CLI instead of mixed.

The full disk is simulated twice: by making the Nth Parquet write raise ENOSPC (runs anywhere), and,
where the tests run as root, for real with `pmc-instruct build` writing into a tiny tmpfs."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from support import CLI, REPO, body_key, build_args, cache_hashes, cli_env, parquet_tables, responder_for, run_cli, settings

import pipeline.io.parquet as parquet_io
from fakes.openai_server import FakeOpenAIServer
from pipeline.build.accounting import build_balance
from pipeline.build import BuildConfig, run_build
from pipeline.io.atomic import WriteFailed
from pipeline.ingest.config import IngestConfig
from pipeline.stages.runner import figure_shards

pytestmark = pytest.mark.slow


def _target(path: Path) -> str:
    return f"{path.parent.name}/{path.name.lstrip('.')}"


def _disk_full_on(n: int | str, monkeypatch) -> list[Path]:
    """From the n-th Parquet write on (or the first write to table/part-NNNNN.parquet, through its
    temp file .part-NNNNN.parquet.*.tmp), write half a file and raise ENOSPC (like a full disk)."""
    real = parquet_io.pq.write_table
    seen: list[Path] = []
    full = False

    def write_table(table, where, *args, **kw):
        nonlocal full
        seen.append(Path(where))
        full = full or (len(seen) >= n if isinstance(n, int) else _target(Path(where)).startswith(n))
        if full:
            Path(where).write_bytes(b"PAR1" + b"\0" * 100)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(table, where, *args, **kw)

    monkeypatch.setattr(parquet_io.pq, "write_table", write_table)
    return seen


def test_full_disk_fails_the_shard_cleanly_and_a_rerun_completes(tmp_path: Path, demo_data: Path, monkeypatch):
    with FakeOpenAIServer(models=("fake", "fake-vl")) as server:
        server.responder = responder_for(server)
        # data/demo alone (JATS, 8 figures): two shards of 4, so the full disk hits the second one.
        # One shard at a time, so shard 0 is finished when shard 1 fails (the CLI test below fails
        # beside concurrent shards).
        config = BuildConfig(input_dir=demo_data / "demo", out_dir=tmp_path / "out", ingest=IngestConfig(shard_size=4),
                             engine=settings(server.base_url), stages=["ingest", "summary", "knowledge"],
                             shard_workers=1)
        out = config.out_dir
        run_build(config.model_copy(update={"stages": ["ingest"]}))
        assert len(figure_shards(out)) == 2
        before = {p: p.read_bytes() for p in out.rglob("*.parquet")}
        # the disk fills up at summary shard 1 (pipelined: knowledge shard 0 may come before it)
        writes = _disk_full_on("summaries/part-00001.parquet", monkeypatch)
        with pytest.raises(WriteFailed) as failure:
            run_build(config)
        message = str(failure.value)
        assert "No space left on device" in message and "summaries/part-00001.parquet" in message
        assert failure.value.errno == errno.ENOSPC

        # earlier files are intact and readable; no half-written file or temp file is left behind
        for path, data in before.items():
            assert path.read_bytes() == data
        for path in out.rglob("*.parquet"):
            pq.read_table(path)
        assert not [p for p in out.rglob("*.tmp")]
        assert (out / "_state" / "summary" / "part-00000.json").exists()
        assert not (out / "_state" / "summary" / "part-00001.json").exists()
        assert not (out / "summaries" / "part-00001.parquet").exists()
        assert _target(writes[-1]).startswith("summaries/part-00001.parquet")  # nothing written after it

        monkeypatch.undo()
        calls = len(server.chat_calls())
        report = run_build(config)
        assert report.step("summary").skipped_shards == 1 and report.step("summary").rows == 8
        # the failed shard's answers came back from the cache: no model call was paid twice
        summary_calls = [c for c in server.chat_calls()[calls:] if (c.template or "").startswith("caption_summary")]
        assert summary_calls == []
        assert len(parquet_tables(out)["summaries/part-00001.parquet"]) == 4


def test_parquet_and_jsonl_writes_only_go_through_the_atomic_writer():
    """A static guard: the only direct Parquet writer is pipeline/io/parquet.py (inside atomic_write),
    or a write handed to atomic_write on the same line; no module opens a .jsonl/.parquet/.json output
    for writing by itself."""
    offenders = []
    for path in (REPO / "pipeline").rglob("*.py"):
        text = path.read_text()
        rel = path.relative_to(REPO).as_posix()
        direct = [line for line in text.splitlines()
                  if re.search(r"\b(pq\.write_table|to_parquet|ParquetWriter)\b", line) and "atomic_write(" not in line]
        if rel != "pipeline/io/parquet.py" and direct:
            offenders.append(rel)
        if re.search(r"open\([^)]*\.(jsonl|parquet)[^)]*['\"][wa]", text):
            offenders.append(rel)
    assert offenders == []


def test_cli_refuses_an_output_folder_of_another_schema_version(tmp_path: Path, demo_data: Path):
    out = tmp_path / "old"
    out.mkdir()
    (out / "_pmc_instruct.json").write_text(json.dumps({"schema_version": "0", "created_by": "pmc-instruct 0.0"}))
    (out / "figures").mkdir()
    result = subprocess.run([*CLI, "build", "--input", str(demo_data), "--out", str(out), "--stages", "ingest"],
                            env=cli_env(tmp_path / "prefect"), cwd=REPO, capture_output=True, text=True, timeout=180)
    text = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2, text[-2000:]  # refused before anything started
    assert "error: --out:" in text and "schema version 0" in text and "new --out folder" in text
    assert list((out / "figures").iterdir()) == []  # nothing was mixed in


def test_full_disk_during_ingest_then_a_rerun_matches_a_clean_ingest(tmp_path: Path, demo_data: Path, monkeypatch):
    from pipeline.ingest import run_ingest

    clean, out = tmp_path / "clean", tmp_path / "out"
    run_ingest(demo_data, clean, IngestConfig(shard_size=4))
    _disk_full_on(4, monkeypatch)  # shard 0 (articles, rejects, figures) is written, then the disk is full
    with pytest.raises(WriteFailed, match="No space left on device"):
        run_ingest(demo_data, out, IngestConfig(shard_size=4))
    assert not [p for p in out.rglob("*.tmp")]
    for path in out.rglob("*.parquet"):
        pq.read_table(path)
    monkeypatch.undo()
    run_ingest(demo_data, out, IngestConfig(shard_size=4))
    assert parquet_tables(out) == parquet_tables(clean)  # same shards, same rows, nothing duplicated


def _mount(args: list[str]) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs needs root")
def test_cli_on_a_really_full_disk_fails_cleanly_and_resumes_in_place(tmp_path: Path, small_input: Path, prefect_api):
    """A 200 KiB tmpfs: ingest and the text stages fit, panel crops do not. The text stages run
    first on their own, so which shards are done before the disk fills does not depend on how
    the concurrent stages of the full build happen to be scheduled (perception's crops can fill
    the disk before a summary shard in flight is written)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _mount(["-t", "tmpfs", "-o", "size=200k", "tmpfs", str(disk)]):
        pytest.skip("cannot mount a tmpfs here")
    out = disk / "out"
    try:
        with FakeOpenAIServer(models=("fake", "fake-vl")) as server:
            server.responder = responder_for(server)
            first = run_cli(build_args(small_input, out, server.base_url, "--stages", "ingest,summary,knowledge"),
                            cli_env(prefect_api))
            assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
            result = run_cli(build_args(small_input, out, server.base_url), cli_env(prefect_api))
            assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
            # the command's own one-line verdict on stderr (Prefect still logs the failed task's traceback)
            verdict = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
            assert len(verdict) == 1, result.stderr[-3000:]
            assert "build failed" in verdict[0] and "No space left on device" in verdict[0], verdict
            assert "resume once there is room" in verdict[0], verdict
            # everything already written is whole, and every shard marked done has its table
            assert not list(out.rglob("*.tmp"))
            for path in out.rglob("*.parquet"):
                pq.read_table(path)
            markers = [m for m in (out / "_state").glob("*/part-*.json")]
            assert markers
            for marker in markers:
                state = json.loads(marker.read_text())
                table = "summaries" if state["stage"] == "summary" else state["stage"]
                if table in ("knowledge", "perception", "summaries"):
                    pq.read_table(out / table / (marker.stem + ".parquet"))

            # room again: the same build resumes in place and every item is accounted for
            assert _mount(["-o", "remount,size=64m", str(disk)])
            config = BuildConfig(input_dir=small_input.resolve(), out_dir=out.resolve(), ingest=IngestConfig(shard_size=4),
                                 engine=settings(server.base_url))
            calls, stored = len(server.chat_calls()), len(cache_hashes(out))
            report = run_build(config)
            assert report.step("summary").skipped_shards == report.step("summary").shards
            # Only answers that never reached the cache may be asked again: when one shard fails the
            # flow cancels the shard running beside it, like a kill, and its calls in flight are lost.
            before = {body_key(c.body) for c in server.chat_calls()[:calls]}
            again = {body_key(c.body) for c in server.chat_calls()[calls:]} & before
            assert len(again) <= len(before) - stored
            assert all(b.ok for b in build_balance(config))
            assert list((out / "final").glob("*/part-*.parquet"))
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)

"""One writer per output folder: a second build (or ingest) into a folder that is being written stops
with a message naming the holder; a killed holder frees the folder; temp files a killed writer left
behind are swept by the next writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO, build_args, cli_env, run_cli

from fakes.openai_server import FakeOpenAIServer
from pipeline.build import BuildConfig, run_build
from pipeline.io.atomic import atomic_write_text
from pipeline.io.layout import LayoutMismatch, ensure_layout, marker_path
from pipeline.io.lock import OutputBusy, exclusive_output

HOLD = """
import sys
from pipeline.io.lock import exclusive_output
with exclusive_output(sys.argv[1], "test holder"):
    print("HELD", flush=True)
    sys.stdin.read()  # hold until the test closes stdin (or kills us)
"""


def _holder(out: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "HELD"
    return proc


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path):
    out = tmp_path / "out"
    holder = _holder(out)
    try:
        with pytest.raises(OutputBusy) as busy:
            with exclusive_output(out, "second"):
                pass
        assert "test holder" in str(busy.value) and f"pid {holder.pid}" in str(busy.value)
        assert str(out) in str(busy.value)
        with pytest.raises(OutputBusy):  # the library entry point takes the same lock
            run_build(BuildConfig(input_dir=tmp_path / "none", out_dir=out))
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    with exclusive_output(out, "after"):  # released when the holder finished
        pass


def test_a_killed_holder_frees_the_folder(tmp_path):
    out = tmp_path / "out"
    holder = _holder(out)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    with exclusive_output(out, "after a crash"):
        pass


def test_the_lock_is_per_folder_and_in_process_too(tmp_path):
    with exclusive_output(tmp_path / "a", "first"):
        with exclusive_output(tmp_path / "b", "other folder"):
            pass
        with pytest.raises(OutputBusy, match="first"):
            with exclusive_output(tmp_path / "a", "same folder, same process"):
                pass


def test_stale_temp_files_are_swept_and_nothing_else(tmp_path):
    out = ensure_layout(tmp_path / "out")
    (out / "figures").mkdir()
    stale = [out / "figures" / ".part-00000.parquet.k2j_x9qa.tmp",  # atomic write (mkstemp)
             out / "versions" / ".v0003.4242.tmp"]  # version snapshot (pid)
    keep = [out / "figures" / "part-00000.parquet", out / "figures" / ".notes.tmp",
            out / "figures" / "draft.k2j_x9qa.tmp",
            out / ".prefect" / ".profiles.toml.k2j_x9qa.tmp"]  # hidden folders belong to other tools
    for path in stale + keep:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    atomic_write_text(out / "figures" / "manifest.json", "{}")  # a finished atomic write leaves no temp
    with exclusive_output(out, "sweeper"):
        assert not any(p.exists() for p in stale)
        assert all(p.exists() for p in keep)


def test_a_foreign_folder_is_refused_before_anything_is_created(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    marker_path(out).write_text('{"schema_version": "0"}')
    with pytest.raises(LayoutMismatch):
        with exclusive_output(out, "build"):
            pass
    assert not (out / "_state").exists()


@pytest.mark.slow
def test_cli_build_into_a_busy_folder_exits_with_the_reason(tmp_path, small_input, prefect_api):
    out = tmp_path / "out"
    holder = _holder(out)
    try:
        # A reachable endpoint serving the named models, so preflight passes and the lock is the reason
        with FakeOpenAIServer(models=("fake", "fake-vl")) as server:
            done = run_cli(build_args(small_input, out, server.base_url), cli_env(prefect_api))
        assert not server.chat_calls()  # refused before any model call
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "is being written by test holder" in " ".join((done.stdout + done.stderr).split())
    assert not (out / "figures").exists()  # nothing was ingested into the busy folder

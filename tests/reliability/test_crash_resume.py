"""SIGKILL at several points of a `pmc-instruct build`, resume, and compare with an uninterrupted build.

"Identical" means: the same set of Parquet files under the output folder (every table: articles,
figures, stage outputs, qa/, deleaked/, final/, every rejects/<stage>/), and in each file the same
rows in the same order, every column compared, except the per-run provenance measurements
`latency_s`, `attempts` and `cache_hit` (inside `provenance` and `deleak_provenance`): a resumed run
answers some requests from the response cache, so these legitimately differ. Paths inside the output
folder are compared relative to it (two builds need two folders). The InternVL JSONL exports are
compared the same way. Ids (figure_id, qa_id) must be unique in every table. Left out: the response
cache and the Prefect home (run bookkeeping), and versions/ (dataset version snapshots: hard links
to the same Parquet files, one per finished run, so a chain of killed runs numbers them differently).

Model calls: the fake server records every request body. After each kill we read the request hashes
stored in the response cache; a request whose answer was cached before the kill must never be sent
again. Requests the server answered but whose answer the killed process had not yet stored are the
only ones allowed to repeat, so the whole interrupted chain sends at most (reference calls + answers
lost in flight) requests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from support import (
    body_key,
    build_args,
    cache_hashes,
    cli_env,
    jsonl_exports,
    parquet_tables,
    responder_for,
    settings,
)

from fakes.openai_server import FakeOpenAIServer
from pipeline.build import BuildConfig, run_build
from pipeline.ingest.config import IngestConfig

pytestmark = pytest.mark.slow
ID_COLUMNS = ("qa_id", "figure_id")


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 240) -> bool:
    """SIGKILL the CLI's whole process group once ready() holds; False if it finished first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if ready():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("the build neither reached the kill point nor finished")
        time.sleep(0.005)
    return False


def _unique_ids(tables: dict[str, list[dict]]) -> None:
    for name, rows in tables.items():
        if name.startswith(("rejects/", "articles/")):
            continue
        for col in ID_COLUMNS:
            if rows and col in rows[0]:
                key = [(r[col], r.get("scope"), r.get("panel_label")) for r in rows]
                dupes = [k for k, n in Counter(key).items() if n > 1]
                assert not dupes, f"{name}: duplicate {col} {dupes[:3]}"
                break


def test_sigkill_at_several_points_then_resume_equals_uninterrupted(tmp_path: Path, small_input: Path, prefect_api):
    inputs = small_input
    with FakeOpenAIServer(models=("fake", "fake-vl"), latency_s=0.03) as server:
        server.responder = responder_for(server)

        # Reference: one uninterrupted build (library entry point: same plan and code as the CLI).
        ref = tmp_path / "ref"
        run_build(BuildConfig(input_dir=inputs.resolve(), out_dir=ref.resolve(), engine=settings(server.base_url),
                              ingest=IngestConfig(shard_size=2)))
        reference_calls = len(server.chat_calls())
        assert reference_calls > 30

        # The same build, killed three times at different points, then resumed to the end.
        out = tmp_path / "killed"
        env = cli_env(prefect_api)
        args = build_args(inputs, out, server.base_url, shard_size=2)
        kill_points = [
            ("after 8 model calls", lambda start: len(server.chat_calls()) >= start + 8),
            ("after 20 more model calls", lambda start: len(server.chat_calls()) >= start + 20),
            ("once final/ appears", lambda start: (out / "final").exists()),
        ]
        cwd = Path(__file__).resolve().parents[2]
        killed, lost, kill_checks = [], 0, []
        for label, point in kill_points:
            start = len(server.chat_calls())
            proc = subprocess.Popen(args, env=env, cwd=cwd, start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if not _kill_when(proc, lambda: point(start)):
                continue  # it finished before this point: the final run below still checks the result
            killed.append(label)
            answered = {body_key(c.body) for c in server.chat_calls() if c.fault is None}
            cached = cache_hashes(out)
            lost += len(answered) - len(cached)  # answered by the server, not yet stored by the client
            kill_checks.append((label, len(server.chat_calls()), answered, len(answered) - len(cached)))

        final = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, f"{final.stdout[-3000:]}{final.stderr[-3000:]}"
        assert len(killed) >= 2, f"the build ended before most kill points: killed {killed}"
        print(f"killed {killed}; losses in flight {lost}")

        calls = server.chat_calls()
        for label, at, answered, allowed in kill_checks:
            later = [body_key(c.body) for c in calls[at:]]
            repeated = {b for b in later if b in answered}
            # Only answers the killed process had received but not yet stored may be asked again
            # (a later kill can lose such an answer once more: hence distinct bodies).
            assert len(repeated) <= allowed, f"{len(repeated)} cached calls repeated after the kill {label}"
        chain_calls = len(calls) - reference_calls
        assert chain_calls - reference_calls <= lost, (chain_calls, reference_calls, lost)

    got, want = parquet_tables(out), parquet_tables(ref)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], f"{name} differs from the uninterrupted build"
    assert jsonl_exports(out) == jsonl_exports(ref)
    _unique_ids(got)
    assert any(name.startswith("final/") and rows for name, rows in got.items())
    # A kill in the middle of a write can leave the writer's temp file behind (hidden, never a shard
    # name, so readers skip it); the next writer of the folder sweeps it: none survive the resume.
    assert not list(out.rglob("*.tmp"))
    for table in ("figures", "final/text_qa", "rejects/summary"):
        assert ds.dataset(out / table).count_rows() == sum(len(got[n]) for n in got if n.startswith(table + "/"))

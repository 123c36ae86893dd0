"""The whole build against a fake server that fails ~30 % of calls in mixed ways (500, 429 with
Retry-After, timeouts, truncated and malformed bodies, invalid JSON, schema-invalid JSON): the build
completes and every item of every stage ends exactly once as a row or as a reject with a reason."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from support import responder_for, settings

from fakes.openai_server import FakeOpenAIServer
from pipeline.build.accounting import build_balance
from pipeline.build import BuildConfig, run_build
from pipeline.ingest.config import IngestConfig
from pipeline.io.parquet import read_all
from schemas import Figure, QARow, Reject

pytestmark = pytest.mark.slow
FAULTS = {"500": 0.05, "429": 0.05, "timeout": 0.03, "truncated": 0.04, "malformed": 0.03,
          "bad_json": 0.05, "schema_invalid": 0.05}  # 30 % in all


def test_build_under_mixed_faults_accounts_for_every_item(tmp_path: Path, demo_data: Path):
    with FakeOpenAIServer(models=("fake", "fake-vl"), fault_rates=FAULTS, seed=7, retry_after="0",
                          timeout_sleep_s=1.5) as server:
        server.responder = responder_for(server)
        config = BuildConfig(input_dir=demo_data, out_dir=tmp_path / "out", ingest=IngestConfig(shard_size=4),
                             engine=settings(server.base_url, timeout_s=0.5, max_attempts=2))
        report = run_build(config)
        calls = server.chat_calls()

    faults = Counter(c.fault for c in calls)
    assert sum(n for f, n in faults.items() if f) >= 0.15 * len(calls), faults
    assert {f for f in faults if f} >= {"500", "429", "bad_json", "schema_invalid"}, faults
    assert report.engine.get("retries", 0) > 0

    balances = build_balance(config)
    bad = [b for b in balances if not b.ok]
    assert not bad, bad
    # model-side failures that outlasted the retries are rejects with a model reason, not lost items
    out = config.out_dir
    reasons = Counter(r.reason for d in (out / "rejects").iterdir() for r in read_all(d, Reject))
    assert reasons["model-error"] + reasons["model-unparseable"] > 0, reasons
    for d in (out / "rejects").iterdir():
        for r in read_all(d, Reject):
            assert r.detail and r.item, r

    # the report's per-step numbers agree with the tables
    for step in report.steps:
        if step.kind == "stage":
            got = [b for b in balances if b.stage == step.name]
            assert step.rows == sum(b.rows for b in got) and step.rejects == sum(b.rejects for b in got), step.name

    # nothing duplicated in the final dataset, and it is not empty
    final = [r for d in (out / "final").iterdir() for r in read_all(d, QARow)]
    ids = Counter(r.qa_id for r in final)
    assert final and max(ids.values()) == 1
    # every figure ends in the dataset or, for whatever it did not yield, in rejects with a reason
    rejected = {r.figure_id for d in (out / "rejects").iterdir() for r in read_all(d, Reject)}
    figures = {f.figure_id for f in read_all(out / "figures", Figure)}
    assert figures <= {r.figure_id for r in final} | rejected

    # the balance check itself can fail: drop one summary row, then duplicate one
    from pipeline.build.accounting import stage_balance
    from pipeline.io.parquet import read_rows, write_rows
    from pipeline.stages.summary import SummaryStage
    from schemas import SummaryRow

    shard = out / "summaries" / "part-00000.parquet"
    rows = read_rows(shard, SummaryRow)
    assert rows
    write_rows(shard, rows[1:], SummaryRow)
    lost = stage_balance(SummaryStage(), out, shard.name)
    assert not lost.ok and lost.missing == [rows[0].figure_id]
    write_rows(shard, rows + rows[:1], SummaryRow)
    doubled = stage_balance(SummaryStage(), out, shard.name)
    assert not doubled.ok and doubled.duplicated == [rows[0].figure_id]

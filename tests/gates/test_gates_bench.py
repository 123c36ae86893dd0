"""bench/gates.py: gate scores per part of the labelled set (all, per source build, held-out), and the
judge's agreement with the labels, measured through the engine against the fake OpenAI server with
a judge that agrees with every label, then with one that disagrees with every label."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from fakes.openai_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _bench():
    spec = importlib.util.spec_from_file_location("bench_gates_under_test", ROOT / "bench" / "gates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _bench()


@pytest.fixture()
def labels(tmp_path: Path, bench) -> tuple[Path, list[dict]]:
    """A small labelled file from the real one: model-written rows of both labels with distinct
    question+answer pairs, half of them marked held-out and re-labelled as another source build."""
    records, seen = [], set()
    for line in (ROOT / "bench" / "gate_labels" / "rows.jsonl").read_text().splitlines():
        rec = json.loads(line)
        row = rec["row"]
        key = (row["question"], row["answer"])
        if row["provenance"]["method"] != "text-model" or row.get("answer_letter") or row.get("relation") or key in seen:
            continue
        if sum(1 for r in records if r["label"] == rec["label"]) < 5:
            seen.add(key)
            records.append(rec)
    assert {r["label"] for r in records} == {"keep", "drop"} and len(records) == 10
    for i, rec in enumerate(records):
        if i % 2:
            rec.update(build="other-build", part="held-out")
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path, records


def test_scores_per_part(labels, bench) -> None:
    path, records = labels
    results = bench.run(path)
    assert list(results) == ["all rows", f"build {records[0]['build']}", "build other-build",
                             "held-out (labelled before the gates saw them)"]
    whole = results["all rows"]
    assert whole["rows"] == 10 and whole["labelled_drop"] == 5
    halves = [results["build other-build"], results[f"build {records[0]['build']}"]]
    assert sum(h["rows"] for h in halves) == 10 and sum(h["labelled_drop"] for h in halves) == 5
    for gate, g in whole["gates"].items():  # the parts split the whole set's flags between them
        assert g["flagged"] == sum(h["gates"][gate]["flagged"] for h in halves)
    assert results["held-out (labelled before the gates saw them)"]["rows"] == results["build other-build"]["rows"]


def _judge(records: list[dict], agree: bool):
    drop = {(r["row"]["question"], r["row"]["answer"]): r["label"] == "drop" for r in records}

    def respond(body: dict, record) -> str:
        text = body["messages"][-1]["content"]
        text = text if isinstance(text, str) else " ".join(p.get("text", "") for p in text)
        q = re.search(r"^Question: (.*)$", text, re.M).group(1)
        a = re.search(r"^Answer: (.*)$", text, re.M).group(1)
        low = drop[(q.strip(), a.strip())] == agree
        score = 1 if low else 5
        return json.dumps({"faithfulness": score, "answerability": 5, "reason": "graded by the test"})

    return respond


def test_judge_agreement_through_the_fake_server(labels, bench, capsys) -> None:
    path, records = labels
    with FakeOpenAIServer(models=("judge-model",)) as server:
        server.responder = _judge(records, agree=True)
        bench.main([str(path), "--judge-base-url", server.base_url, "--judge-model", "judge-model"])
        assert {c.template for c in server.chat_calls()} == {"judge_row/1"}
        printed = capsys.readouterr().out
        server.responder = _judge(records, agree=False)
        report = bench.judge_agreement(path, server.base_url, "judge-model")
    assert "== judge judge-model (drops below 3): 10 model-written rows graded, 0 without a verdict ==" in printed
    assert re.search(r"^all rows +n=10 +accuracy 1\.000  kappa 1\.000  confusion 5, 0, 0, 5$", printed, re.M)
    assert re.search(r"^held-out \(labelled before the gates saw them\) +n=5 ", printed, re.M)
    whole = report["all rows"]
    assert whole["accuracy"] == 0.0 and whole["kappa"] == -1.0
    assert whole["confusion"] == {"drop/drop": 0, "drop/keep": 5, "keep/drop": 5, "keep/keep": 0}


def test_agreement_arithmetic(bench) -> None:
    # 10 rows: label drop 5, judge drop 4 of them and 1 keep-labelled row -> po 0.8, pe 0.5, kappa 0.6
    pairs = [(True, True)] * 4 + [(True, False)] + [(False, True)] + [(False, False)] * 4
    a = bench.agreement(pairs)
    assert a["accuracy"] == 0.8 and a["kappa"] == 0.6 and a["confusion"]["keep/drop"] == 1
    assert bench.agreement([])["kappa"] is None
    assert bench.agreement([(False, False)] * 3)["kappa"] == 1.0  # full agreement on one class


def test_judge_options_go_together(bench) -> None:
    with pytest.raises(SystemExit):
        bench.main(["--judge-model", "x"])

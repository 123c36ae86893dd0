"""One `pmc-instruct build` (a subprocess, fake OpenAI server) over a folder that mixes good articles
with the hostile-input corpus of tests/ingest/hostile.py, run with a sentinel API key that the fake
server quotes back in 401 errors:

- every bad input lands in rejects/ingest with its expected reason and a detail naming the file or
  figure, unusual but valid images are converted, and every figure of the good articles reaches
  final/ (with every de-leak call failing, rows with images fall back to redaction, and text-only
  rows keep the context they are answered from);
- the sentinel key appears nowhere: not in any file under the output folder (Parquet read back
  decompressed, the SQLite cache, logs), nor in the Prefect home of the server the build reported to
  (its database with flow runs, task runs, logs and artifacts), nor on stdout or stderr.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hostile import CONVERTED_IMAGES, hostile_corpus
from support import REPO, build_args, cli_env, responder_for, settings
from typer.testing import CliRunner

from fakes.openai_server import FakeOpenAIServer
from pipeline.build.accounting import build_balance
from pipeline.build import BuildConfig
from pipeline.ingest.config import IngestConfig
from pipeline.io.parquet import read_all
from schemas import Figure, PerceptionRow, QARow, Reject

pytestmark = pytest.mark.slow
SENTINEL = "PMCSENTINEL-7f3a9c2e5b1d"
ECHO_TEMPLATES = ("compound_qa", "deleak_context")  # 401 quoting the key on these calls


@pytest.fixture(scope="module")
def hostile_build(tmp_path_factory, small_input: Path, prefect_api):
    root = tmp_path_factory.mktemp("hostile")
    inputs = root / "input"
    shutil.copytree(small_input, inputs / "good")
    cases = hostile_corpus(inputs / "hostile", root / "outside")
    out = root / "out"

    def echo(body, template):
        return "echo_auth" if (template or "").split("/")[0] in ECHO_TEMPLATES else None

    with FakeOpenAIServer(models=("fake", "fake-vl"), fault_for=echo) as server:
        server.responder = responder_for(server)
        env = cli_env(prefect_api, PMC_INSTRUCT_API_KEY=SENTINEL)
        result = subprocess.run(build_args(inputs, out, server.base_url), env=env, cwd=REPO,
                                capture_output=True, text=True, timeout=400)
        echoed = [c for c in server.chat_calls() if c.fault == "echo_auth"]
        sent_key = {c.headers.get("authorization") for c in server.chat_calls()}
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {"out": out, "inputs": inputs, "prefect_home": prefect_api["home"], "cases": cases, "result": result, "echoed": echoed,
            "sent_key": sent_key,
            "good": [f.figure_id for f in read_all(out / "figures", Figure) if f.article_id.startswith("PMC9000")]}


def test_every_bad_input_is_rejected_with_reason_and_the_good_figures_reach_final(hostile_build):
    out = hostile_build["out"]
    rejects = read_all(out / "rejects" / "ingest", Reject)
    for kind, item, reason, text in hostile_build["cases"]:
        # items are paths relative to the input folder; the corpus sits in its hostile/ subfolder
        found = [r for r in rejects if item in (r.item.removeprefix("hostile/"), r.figure_id) and r.reason == reason]
        assert found, f"{kind}: no {reason} reject for {item}; got {[(r.item, r.reason) for r in rejects]}"
        assert any(text in r.detail or text in r.item for r in found), f"{kind}: {found[0].detail!r}"
        assert all(r.detail for r in found)
    assert len(hostile_build["cases"]) >= 15

    figures = {f.figure_id: f for f in read_all(out / "figures", Figure)}
    assert all(figures[fid].has_image for fid in CONVERTED_IMAGES)
    perceived = {r.figure_id for r in read_all(out / "perception", PerceptionRow)}
    assert set(CONVERTED_IMAGES) <= perceived
    final = {r.figure_id for d in (out / "final").iterdir() for r in read_all(d, QARow)}
    good = hostile_build["good"]
    assert good and set(good) <= final, set(good) - final
    # Every de-leak call gets a 401 here. A text-only row is never sent (it has no image to look at,
    # so its context stays whole); the others fall back to redaction and still show their image.
    text_only = [r for r in read_all(out / "final" / "text_qa", QARow) if r.figure_id in good]
    assert text_only and all(r.context and r.context == r.context_original for r in text_only)
    # every stage of the Prefect flow accounted for each of its items (401s on two templates included)
    config = BuildConfig(input_dir=hostile_build["inputs"].resolve(), out_dir=out.resolve(),
                         ingest=IngestConfig(shard_size=4), engine=settings("http://127.0.0.1:1/v1"))
    balances = build_balance(config)
    assert balances and all(b.ok for b in balances), [b for b in balances if not b.ok]
    assert not any("LEAKED-FROM-DTD" in f.caption or "root:" in f.caption for f in figures.values())


def _text_of(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".parquet":  # compressed pages: read the rows and the metadata back
        table = pq.read_table(path)
        data += repr(table.to_pylist()).encode() + repr(table.schema.metadata).encode()
    return data


def test_the_api_key_is_nowhere_in_outputs_logs_or_console(hostile_build):
    assert hostile_build["echoed"], "the fake server never quoted the key: the test would not bite"
    assert f"Bearer {SENTINEL}" in hostile_build["sent_key"]  # the key was really used
    out = hostile_build["out"]
    files = [p for d in (out, hostile_build["prefect_home"]) for p in d.rglob("*") if p.is_file()]
    assert any(p.name == "prefect.db" for p in files) and any(p.suffix == ".sqlite" for p in files)
    leaks = [str(p) for p in files if SENTINEL.encode() in _text_of(p)]
    assert leaks == []
    result = hostile_build["result"]
    assert SENTINEL not in result.stdout and SENTINEL not in result.stderr
    # the failed calls did leave their (redacted) trace: the rejects say what happened
    details = " ".join(r.detail for r in read_all(out / "rejects" / "qa.compound_qa", Reject))
    assert "AuthenticationError" in details or "401" in details


def test_empty_input_folder_is_a_clear_error(tmp_path: Path):
    from flows.cli import app

    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["ingest", "--input", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "no input files" in " ".join(result.output.split())

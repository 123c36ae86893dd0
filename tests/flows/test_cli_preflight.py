"""A build that cannot work is refused before anything starts: each problem is one line on stderr that
names the option to fix, the exit code is non-zero, no Prefect server was started and nothing was
written. `--debug` adds the traceback. `stats` and `report` refuse a folder that is not a build."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes.openai_server import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "flows.cli"]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMC_INSTRUCT_", "PREFECT_"))}
    env.update(PYTHONPATH=str(REPO), PREFECT_HOME=str(tmp_path_factory.mktemp("prefect-home")),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return env


@pytest.fixture(scope="module")
def article(tmp_path_factory, demo_data: Path) -> Path:
    root = tmp_path_factory.mktemp("input")
    shutil.copytree(demo_data / "demo" / "demo-001", root / "demo-001")
    return root


def refused(env: dict[str, str], *args: str) -> tuple[str, float]:
    """Run the CLI; it must exit non-zero with exactly one `error:` line on stderr. Returns the line."""
    start = time.monotonic()
    done = subprocess.run([*CLI, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - start
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0, done.stdout + done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not list(Path(env["PREFECT_HOME"]).glob("server*")), "a Prefect server was started"
    return lines[0], took


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_openai_backend_without_base_url(env, article, tmp_path):
    line, took = refused(env, "build", "--input", str(article), "--out", str(tmp_path / "out"), "--backend", "openai")
    assert "--base-url" in line
    assert not (tmp_path / "out").exists()
    print(f"refused in {took:.1f} s")


def test_out_is_a_file(env, article, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("not a folder")
    line, _ = refused(env, "build", "--input", str(article), "--out", str(target))
    assert line.startswith("error: --out:") and "is a file" in line
    assert target.read_text() == "not a folder"


def test_empty_input_folder(env, tmp_path):
    (tmp_path / "empty").mkdir()
    line, _ = refused(env, "build", "--input", str(tmp_path / "empty"), "--out", str(tmp_path / "out"))
    assert line.startswith("error: --input:") and "no input files" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["inside", "same", "contains"])
def test_out_and_input_must_be_apart(env, article, tmp_path, where):
    inp = tmp_path / "in"
    shutil.copytree(article, inp)
    out = {"inside": inp / "out", "same": inp, "contains": tmp_path}[where]
    line, _ = refused(env, "build", "--input", str(inp), "--out", str(out))
    assert line.startswith("error: --out:") and "input folder" in line
    assert sorted(p.name for p in inp.iterdir()) == ["demo-001"]


def test_unknown_stage_lists_the_names(env, article, tmp_path):
    line, _ = refused(env, "build", "--input", str(article), "--out", str(tmp_path / "out"), "--stages", "summary,sumary")
    assert line.startswith("error: --stages:") and "sumary" in line
    for name in ("ingest", "summary", "knowledge", "perception", "qa", "deleak", "finalize", "report"):
        assert name in line


def test_unreachable_endpoint(env, article, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    line, took = refused(env, "build", "--input", str(article), "--out", str(tmp_path / "out"),
                         "--base-url", url, "--model", "m")
    assert line.startswith(f"error: --base-url {url}:") and "not reachable" in line


def test_model_not_served(env, article, tmp_path):
    with FakeOpenAIServer(models=("served-model",)) as server:
        line, _ = refused(env, "build", "--input", str(article), "--out", str(tmp_path / "out"),
                          "--base-url", server.base_url, "--model", "other-model")
        assert server.chat_calls() == []
    assert line.startswith("error: --model other-model:") and "served-model" in line


def test_debug_shows_the_traceback(env, tmp_path):
    (tmp_path / "empty").mkdir()
    done = subprocess.run([*CLI, "--debug", "build", "--input", str(tmp_path / "empty"), "--out", str(tmp_path / "o")],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "PreflightFailed" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: --input:")


@pytest.mark.parametrize("command", ["stats", "report"])
def test_stats_and_report_refuse_a_folder_that_is_not_a_build(env, tmp_path, command):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("mine")
    line, _ = refused(env, command, str(folder))
    assert "not a pmc-instruct build output" in line
    assert sorted(p.name for p in folder.iterdir()) == ["readme.txt"]


def test_serve_checks_the_same_build_options(env, article, tmp_path):
    line, _ = refused(env, "serve", "--input", str(article))
    assert "--input and --out" in line
    line, _ = refused(env, "serve", "--input", str(article), "--out", str(tmp_path / "o"), "--force", "nope")
    assert line.startswith("error: --force: unknown stage nope")

"""Whole-build benchmark: a synthetic corpus through the real CLI against the fake endpoint.

For each corpus size N (figures) and endpoint latency L it
  1. generates N figures (JATS articles, 4 figures each: composed multi-panel images with panel
     letters, captions with (A)/(B)/(C) parts and citing paragraphs, so every task has input);
  2. starts the fake OpenAI server in its own process (latency L, capacity C, answers drawn from each
     request so every QA task produces rows: tests/fakes/openai_server.py "varied");
  3. runs `python -m flows.cli build ...` as a subprocess (imports, Prefect start-up and all), then
     the same command again with nothing changed.
It prints figures/s, endpoint utilisation (the fake's busy slot-seconds / (C x wall), which for a
fixed L is calls/s / (C/L)), pipeline CPU per figure (the CLI process and its children), peak RSS of
the CLI process, the per-stage wall/CPU/model seconds from the build report, and the unchanged
rerun's wall time over the first run's.

--embed-endpoint points de-leak's leakage scoring at a second fake server's /v1/embeddings (hashed
word vectors, latency --embed-latency, same capacity) instead of the bundled MiniLM on our CPU, as a
build would with `--embed-base-url` at a `vllm serve ... --task embed`; --embed-threads N sets the
local MiniLM's torch threads (PMC_INSTRUCT_EMBED__THREADS) for an A/B of its CPU cost.

Targets (issue 17): L=1 s -> endpoint >= 80 % busy; CPU <= 0.2 s/figure; RSS flat (+-20 %) from
1k to 10k figures; unchanged CLI rerun <= 0.10 of the first run.

    .venv/bin/python bench/build.py [--figures 250,1000] [--latency 1,0.05] [--capacity 64]
                                    [--shard-size 250] [--shard-workers 8] [--keep DIR]
                                    [--embed-endpoint [--embed-latency 0.02]] [--embed-threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import psutil
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "data")]

import make_demo  # noqa: E402  (the demo sample's panel drawings)
from fakes.openai_server import spawn  # noqa: E402

FIGS_PER_ARTICLE = 4
WORDS = ("tracer uptake clearance nuclei spheroid lesion cortex liver kidney marker signal dose baseline "
         "treated control knockout expression density staining section cohort week plateau").split()
PANEL_KINDS = 6


def _panel_pool() -> list[Image.Image]:
    """A few panels drawn once (matplotlib is slow); figures combine and mark them."""
    return [make_demo.microscopy(), make_demo.bars(), make_demo.curve(), make_demo.scan(),
            make_demo.microscopy(dark=False), make_demo.bars(("WT", "KO"))]


def _figure_image(pool: list[Image.Image], rng: np.random.Generator, number: int) -> tuple[Image.Image, int]:
    n = int(rng.integers(2, 5))
    panels = [pool[int(k)].copy() for k in rng.integers(0, PANEL_KINDS, n)]
    for p in panels:  # a mark of its own on every panel: no two figures share an image
        ImageDraw.Draw(p).text((p.width - 70, p.height - 16), f"#{number:06d}", fill=(200, 30, 30))
    return make_demo.compose(panels, cols=2 if n == 4 else n), n


def _sentence(rng: np.random.Generator, n: int) -> str:
    return " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), n))


def make_corpus(root: Path, n_figures: int, seed: int = 17) -> None:
    rng = np.random.default_rng(seed)
    pool = _panel_pool()
    for a in range((n_figures + FIGS_PER_ARTICLE - 1) // FIGS_PER_ARTICLE):
        folder = root / f"bench-{a:05d}"
        folder.mkdir(parents=True)
        figs, paras = [], []
        for k in range(1, min(FIGS_PER_ARTICLE, n_figures - a * FIGS_PER_ARTICLE) + 1):
            img, n = _figure_image(pool, rng, a * FIGS_PER_ARTICLE + k)
            img.save(folder / f"g{k}.jpg", quality=80)
            parts = " ".join(f"({chr(65 + p)}) {_sentence(rng, 8).capitalize()}." for p in range(n))
            caption = f"{_sentence(rng, 6).capitalize()} in synthetic samples. {parts}"
            figs.append(make_demo.fig(f"f{k}", k, caption, [(f"g{k}.jpg", None)]))
            paras.append(f'<p>{_sentence(rng, 12).capitalize()} (<xref ref-type="fig" rid="f{k}">Figure {k}A</xref>), '
                         f'and {_sentence(rng, 10)} (<xref ref-type="fig" rid="f{k}">Figure {k}B</xref>).</p>')
        xml = make_demo.jats(f"bench-{a % 1000:03d}", f"Synthetic study {a}: {_sentence(rng, 5)}",
                             _sentence(rng, 25).capitalize() + ".",
                             ["<sec><title>Results</title>" + "".join(paras) + "</sec>"], figs)
        # make_demo numbers PMC ids from the last 3 digits: give every article its own id
        xml = xml.replace(f'<article-id pub-id-type="pmc">{900000 + a % 1000}</article-id>',
                          f'<article-id pub-id-type="pmc">{7000000 + a}</article-id>')
        (folder / f"bench-{a:05d}.xml").write_text(xml, encoding="utf-8")


def _admin(url: str) -> dict:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/_admin/stats", timeout=10) as resp:
        return json.loads(resp.read())


def run_cli(args: list[str], env: dict[str, str]) -> dict:
    """Run the CLI; wall, CPU and peak RSS of its whole process tree (the flow process, the Prefect
    server, ingest's worker processes and their forkserver) sampled every 0.2 s, and of the main
    process alone. CPU: the last reading of each process ever seen, summed (a process that lived
    less than one sample is missed; none of ours does)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = {"main": 0, "tree": 0}
    cpu: dict[int, float] = {}
    role: dict[int, str] = {}
    ps = psutil.Process(proc.pid)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                tree = [ps, *ps.children(recursive=True)]
            except psutil.Error:
                return
            rss = 0
            for p in tree:
                try:
                    times, mem = p.cpu_times(), p.memory_info().rss
                except psutil.Error:
                    continue
                cpu[p.pid] = times.user + times.system
                if p.pid not in role:
                    role[p.pid] = _role(p, proc.pid)
                rss += mem
                if p.pid == proc.pid:
                    peak["main"] = max(peak["main"], mem)
            peak["tree"] = max(peak["tree"], rss)
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.stdout.read() if proc.stdout else ""
    _, status, _ = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"CLI failed ({proc.returncode}):\n{output[-3000:]}")
    by_role: dict[str, float] = {}
    for pid, seconds in cpu.items():
        by_role[role.get(pid, "other")] = by_role.get(role.get(pid, "other"), 0.0) + seconds
    return {"wall": wall, "cpu": sum(cpu.values()), "processes": len(cpu), "rss_main": peak["main"],
            "rss_tree": peak["tree"], "cpu_by_role": by_role, "output": output}


def _role(p: psutil.Process, main_pid: int) -> str:
    """Which part of the build a process is: the CLI (flow) process, Prefect's server, or a worker."""
    if p.pid == main_pid:
        return "CLI/flow process"
    try:
        cmd = " ".join(p.cmdline())
    except psutil.Error:
        return "other"
    if "uvicorn" in cmd or "prefect" in cmd and "server" in cmd:
        return "Prefect server"
    if "forkserver" in cmd or "multiprocessing" in cmd:
        return "ingest workers"
    return "other"


def bench_one(n_figures: int, latency: float, capacity: int, shard_size: int, shard_workers: int,
              work: Path, embed_latency: float | None = None, embed_threads: int | None = None) -> dict:
    """`embed_latency`: None scores de-leak with the local MiniLM, else on a fake embeddings server
    with that latency."""
    corpus = work / f"corpus-{n_figures}"
    if not corpus.exists():
        t = time.perf_counter()
        make_corpus(corpus, n_figures)
        print(f"  generated {n_figures} figures in {time.perf_counter() - t:.0f} s (not measured)", flush=True)
    out = work / f"out-{n_figures}-L{latency}"
    shutil.rmtree(out, ignore_errors=True)
    proc, url = spawn(latency_s=latency, capacity=capacity, answers="varied", models=("fake-model", "fake-vlm"))
    embed_proc, embed_url = (None, None) if embed_latency is None else spawn(
        latency_s=embed_latency, capacity=capacity, models=("fake-embed",))
    env = {**os.environ, "PREFECT_HOME": str(work / f".prefect-{n_figures}-L{latency}"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "PMC_INSTRUCT_TEXT__CONCURRENCY": str(capacity), "PMC_INSTRUCT_VISION__CONCURRENCY": str(capacity)}
    env.pop("PREFECT_API_URL", None)
    if embed_threads:
        env["PMC_INSTRUCT_EMBED__THREADS"] = str(embed_threads)
    args = ["build", "--input", str(corpus), "--out", str(out), "--base-url", url, "--model", "fake-model",
            "--vision-base-url", url, "--vision-model", "fake-vlm", "--shard-size", str(shard_size),
            "--shard-workers", str(shard_workers)]
    if embed_url:
        args += ["--embed-base-url", embed_url, "--embed-model", "fake-embed"]
    try:
        first = run_cli(args, env)
        stats = _admin(url)
        first["report"] = json.loads((out / "_state" / "build-report.json").read_text())
        rerun = run_cli(args, env)
        stats2 = _admin(url)
        rerun["report"] = json.loads((out / "_state" / "build-report.json").read_text())
        embed_calls = _admin(embed_url)["embedding_calls"] if embed_url else 0
    finally:
        proc.kill()
        if embed_proc is not None:
            embed_proc.kill()
    first["stats"], rerun["calls"] = stats, stats2["calls"] - stats["calls"]
    scoring = (f"endpoint (fake, latency {embed_latency} s, {embed_calls} /embeddings calls over both runs)"
               if embed_url else f"local MiniLM (torch threads: {embed_threads or 'default'})")
    return {"first": first, "rerun": rerun, "figures": n_figures, "latency": latency, "capacity": capacity,
            "scoring": scoring}


def show(r: dict) -> None:
    f, again, n, L, C = r["first"], r["rerun"], r["figures"], r["latency"], r["capacity"]
    rep, st = f["report"], f["stats"]
    busy = st.get("busy_s", st["calls"] * L)
    window = max(1e-9, st.get("last_end", 0) - st.get("first_start", 0))
    print(f"N={n} L={L}s C={C}: wall {f['wall']:.1f} s -> {n / f['wall']:.2f} figures/s; "
          f"{st['calls']} calls ({st['calls'] / n:.1f}/figure), {st['calls'] / f['wall']:.1f} calls/s")
    print(f"  de-leak scoring: {r['scoring']}")
    print(f"  endpoint utilisation: {busy / (C * f['wall']):.1%} over the CLI run, "
          f"{busy / (C * window):.1%} from first to last call ({window:.1f} s); peak in flight {st['max_in_flight']}")
    print(f"  pipeline CPU: {f['cpu'] / n:.3f} s/figure (CLI process tree, {f['processes']} processes, {f['cpu']:.1f} s; "
          f"flow process {rep.get('cpu_seconds', 0):.1f} s = {rep.get('cpu_seconds', 0) / n:.3f} s/figure)")
    roles = ", ".join(f"{name} {sec / n:.3f}" for name, sec in sorted(f["cpu_by_role"].items(), key=lambda kv: -kv[1]))
    print(f"  CPU s/figure by process: {roles}")
    print(f"  peak RSS: CLI process {f['rss_main'] / 2**20:.0f} MB, whole process tree {f['rss_tree'] / 2**20:.0f} MB")
    total = rep["seconds"] or 1
    parts = ", ".join(f"{s['name']} {s['seconds']:.1f}s/{s['seconds'] / total:.0%} (cpu {s.get('cpu_seconds', 0):.1f}s, "
                      f"model {s.get('model_seconds', 0):.1f}s)" for s in rep["steps"] if s["seconds"] >= 0.05 * total)
    print(f"  flow {total:.1f} s; steps >= 5 % of it (wall, share, cpu, model; they overlap): {parts}")
    print(f"  unchanged CLI rerun: {again['wall']:.1f} s, {again['calls']} model calls -> "
          f"rerun/first = {again['wall'] / f['wall']:.3f} (target <= 0.10); inside the flow "
          f"{again['report']['seconds']:.1f} s of {f['report']['seconds']:.1f} s = "
          f"{again['report']['seconds'] / max(1e-9, f['report']['seconds']):.3f}; the rest is start-up "
          f"(imports, Prefect's temporary server)")


def project(rs: list[dict], n: int) -> str:
    """Peak RSS at `n` figures on paper: a straight line through the smallest and largest measured
    corpus (MB per 1k figures), for the CLI process and the whole tree."""
    lo, hi = rs[0], rs[-1]
    parts = []
    for key, name in (("rss_main", "CLI process"), ("rss_tree", "process tree")):
        a, b = lo["first"][key] / 2**20, hi["first"][key] / 2**20
        slope = (b - a) / max(1, hi["figures"] - lo["figures"])
        parts.append(f"{name} {b + slope * (n - hi['figures']):.0f} MB ({slope * 1000:+.1f} MB per 1k figures)")
    return f"projected peak RSS at {n:,} figures (linear from {lo['figures']} to {hi['figures']}): " + "; ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", default="1000", help="comma-separated corpus sizes")
    parser.add_argument("--latency", default="1,0.05", help="comma-separated fake latencies (s)")
    parser.add_argument("--capacity", type=int, default=64)
    parser.add_argument("--shard-size", type=int, default=100)
    parser.add_argument("--shard-workers", type=int, default=8)
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temp one)")
    parser.add_argument("--embed-endpoint", action="store_true",
                        help="score de-leak on a fake /v1/embeddings server instead of the local MiniLM")
    parser.add_argument("--embed-latency", type=float, default=0.02, help="that server's latency per request (s)")
    parser.add_argument("--embed-threads", type=int, default=None, help="torch threads of the local MiniLM")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="pmc-bench-build-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for n in (int(x) for x in args.figures.split(",")):
            for latency in (float(x) for x in args.latency.split(",")):
                print(f"-- {n} figures, latency {latency} s, capacity {args.capacity}, shard size "
                      f"{args.shard_size}, shard workers {args.shard_workers}", flush=True)
                r = bench_one(n, latency, args.capacity, args.shard_size, args.shard_workers, work,
                              args.embed_latency if args.embed_endpoint else None, args.embed_threads)
                show(r)
                results.append(r)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    by_l: dict[float, list[dict]] = {}
    for r in results:
        by_l.setdefault(r["latency"], []).append(r)
    for latency, rs in by_l.items():
        if len(rs) > 1:
            base = rs[0]["first"]["rss_main"]
            curve = ", ".join(f"{r['figures']}: {r['first']['rss_main'] / 2**20:.0f} MB "
                              f"({r['first']['rss_main'] / base - 1:+.0%})" for r in rs)
            print(f"RSS curve at L={latency}s: {curve}")
            print(f"  {project(rs, 100_000)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

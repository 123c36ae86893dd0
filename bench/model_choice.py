"""Compare the two shipped embedded models on our kind of prompt: load time, memory, tokens/s
(batched, grammar-constrained) and sample outputs. Each model runs in its own subprocess so memory
numbers do not mix.

    .venv/bin/python bench/model_choice.py            # both models
    .venv/bin/python bench/model_choice.py --one smollm2-135m
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(REPO / "bench"))
from _samples import CAPTIONS  # noqa: E402


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_one(key: str) -> dict:
    from pipeline.engine import ChatMessage, ChatRequest, ModelRole, Sampling, TemplateRef, build_engine, load_settings
    from pipeline.engine.embedded_model import load_model
    from schemas import CaptionSummaryOutput

    rss0 = _rss_mib()
    t0 = time.perf_counter()
    lm = load_model(key)
    load_s = time.perf_counter() - t0
    rss1 = _rss_mib()
    engine = build_engine(load_settings(text=ModelRole(backend="embedded", model=key)), cache_dir=None)

    def req(i: int, structured: bool = True) -> ChatRequest:
        return ChatRequest(
            key=f"{key}-{i}-{structured}", output_model=CaptionSummaryOutput if structured else None,
            sampling=Sampling(max_tokens=96),
            messages=[ChatMessage(role="system", text="You summarise biomedical figure captions."),
                      ChatMessage(role="user", text=f"Caption: {CAPTIONS[i]}\nSummarise the figure: what it shows, "
                                  "the imaging or plot type, the anatomy and the key finding.")],
            template=TemplateRef(name="model-choice", version="1"))

    engine.run([req(0)])  # grammar compile outside the timing
    t1 = time.perf_counter()
    results = engine.run([req(i) for i in range(len(CAPTIONS))])
    wall = time.perf_counter() - t1
    tokens = sum(r.provenance.tokens_out for r in results)
    free = engine.run([req(1, structured=False)])[0]
    return {
        "model": key, "model_id": lm.model_id, "file_mib": round(lm.size_bytes / 2**20, 1),
        "load_s": round(load_s, 1), "rss_added_mib": round(rss1 - rss0), "tokens": tokens,
        "tok_per_s": round(tokens / wall, 1), "valid": sum(r.ok for r in results), "n": len(results),
        "samples": [r.text for r in results[:3]], "free_text": free.text,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", help="run a single model in this process and print JSON")
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(run_one(args.one)), flush=True)
        return
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    rows = []
    for key in ("smollm2-135m", "gemma3-270m"):
        out = subprocess.run([sys.executable, __file__, "--one", key], capture_output=True, text=True)
        line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            print(f"{key}: failed\n{out.stderr[-2000:]}")
            continue
        rows.append(json.loads(line[7:]))
    for r in rows:
        print(f"\n== {r['model']} ({r['model_id']}): file {r['file_mib']} MiB, load {r['load_s']} s, "
              f"RSS +{r['rss_added_mib']} MiB, {r['tok_per_s']} tok/s batched (8 prompts, {r['tokens']} tokens), "
              f"{r['valid']}/{r['n']} valid")
        for s in r["samples"]:
            print(f"  structured: {s}")
        print(f"  free text:  {r['free_text']!r}")
    if len(rows) == 2:
        a, b = rows
        print(f"\nratios {b['model']}/{a['model']}: load x{b['load_s'] / a['load_s']:.2f}, "
              f"memory x{b['rss_added_mib'] / max(1, a['rss_added_mib']):.2f}, tok/s x{b['tok_per_s'] / a['tok_per_s']:.2f}")


if __name__ == "__main__":
    main()

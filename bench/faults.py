"""A whole build against the fake OpenAI server failing a share of calls in mixed ways (500, 429 with
Retry-After, timeouts, truncated and malformed bodies, invalid JSON, schema-invalid JSON). Prints the
requests the server saw (by fault), the engine's retries and repairs, rows and rejects per stage, and
whether every stage's items balance (items in = rows out + rejects, nothing missing or duplicated).
Exits 1 when they do not.

    .venv/bin/python bench/faults.py [--input data] [--rate 0.3] [--seed 7] [--keep OUT]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]
sys.path += [str(REPO / "tests"), str(REPO / "tests" / "reliability")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from fakes.openai_server import FakeOpenAIServer  # noqa: E402
from support import responder_for, settings  # noqa: E402

from pipeline.build.accounting import build_balance  # noqa: E402
from pipeline.build import BuildConfig, run_build  # noqa: E402
from pipeline.ingest.config import IngestConfig  # noqa: E402

# relative weights of the injected faults; --rate scales them to the share of calls that fail
MIX = {"500": 5, "429": 5, "timeout": 3, "truncated": 4, "malformed": 3, "bad_json": 5, "schema_invalid": 5}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=REPO / "data")
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, default=None, help="output folder to keep (default: a temp folder)")
    args = parser.parse_args()
    total = sum(MIX.values())
    rates = {k: args.rate * v / total for k, v in MIX.items()}
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "out"
        with FakeOpenAIServer(models=("fake", "fake-vl"), fault_rates=rates, seed=args.seed, retry_after="0",
                              timeout_sleep_s=1.5) as server:
            server.responder = responder_for(server)
            config = BuildConfig(input_dir=args.input, out_dir=out, ingest=IngestConfig(shard_size=4),
                                 engine=settings(server.base_url, timeout_s=0.5, max_attempts=3))
            start = time.perf_counter()
            report = run_build(config)
            seconds = time.perf_counter() - start
            calls = server.chat_calls()
        balances = build_balance(config)

    faults = Counter(c.fault or "ok" for c in calls)
    failed = sum(n for k, n in faults.items() if k != "ok")
    print(f"requests made: {len(calls)} ({failed} failed on purpose = {failed / max(1, len(calls)):.0%}; "
          f"{', '.join(f'{k} {n}' for k, n in sorted(faults.items()))})")
    eng = report.engine
    print(f"engine: model calls {eng.get('model_calls', 0)}, retries {eng.get('retries', 0)}, "
          f"repairs {eng.get('repairs', 0)}, errors {eng.get('errors', 0)}, cache hits {eng.get('cache_hits', 0)}")
    print(f"{'stage':28} {'items':>6} {'rows':>6} {'rejects':>8}  balanced")
    by_stage: dict[str, list] = {}
    for b in balances:
        by_stage.setdefault(b.stage, []).append(b)
    for stage, group in by_stage.items():
        items, rows, rejects = (sum(getattr(b, f) for b in group) for f in ("items", "rows", "rejects"))
        ok = all(b.ok for b in group)
        print(f"{stage:28} {items:6d} {rows:6d} {rejects:8d}  {'yes' if ok else 'NO'}")
        for b in group:
            if not b.ok:
                print(f"    {b.shard}: missing {b.missing[:5]} duplicated {b.duplicated[:5]} unexpected {b.unexpected[:5]}")
    finalize = report.step("finalize")
    print(f"final rows: {finalize.rows if finalize else 0}; wall time {seconds:.1f} s")
    balanced = all(b.ok for b in balances)
    print(f"totals balance: {'yes' if balanced else 'NO'}")
    return 0 if balanced else 1


if __name__ == "__main__":
    sys.exit(main())

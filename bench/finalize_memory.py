"""Peak RSS of `run_finalize` alone, on existing build output folders of different sizes (issue 17:
flat within +-20 % from 1k to 10k figures).

Each folder is finalized in its own fresh Python process (so one run's heap cannot hide another's);
the script prints rows, seconds, RSS after imports and peak RSS per folder, then each peak over the
first's. Finalize rewrites final/, rejects/gate.*, export/ and stats.json of the folders it is given:
point it at copies (e.g. folders whose qa/ and deleaked/ shards are symlinks into a real build).

    .venv/bin/python bench/finalize_memory.py OUT_SMALL OUT_LARGE [...]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, time
from pathlib import Path
import psutil
from pipeline.finalize import run_finalize
base = psutil.Process().memory_info().rss
start = time.perf_counter()
result = run_finalize(Path(sys.argv[1]))
print(json.dumps({"rows_in": result.rows_in, "rows_out": sum(result.rows_out.values()),
                  "seconds": round(time.perf_counter() - start, 1), "imports_mb": round(base / 2**20),
                  "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def main(folders: list[str]) -> None:
    results = []
    for folder in folders:
        run = subprocess.run([sys.executable, "-c", CHILD, folder], cwd=REPO, capture_output=True, text=True, check=True)
        results.append(json.loads(run.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{folder}: rows in {r['rows_in']}, out {r['rows_out']}, {r['seconds']} s, "
              f"RSS after imports {r['imports_mb']} MB, peak {r['peak_mb']} MB", flush=True)
    for folder, r in zip(folders[1:], results[1:], strict=True):
        print(f"peak {folder} / {folders[0]}: {r['peak_mb'] / results[0]['peak_mb']:.2f} "
              f"(rows {r['rows_in'] / results[0]['rows_in']:.1f}x)")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])

"""Ingest CPU per figure on the whole-build bench's corpus (issue 17: pipeline CPU <= 0.2 s/figure).

Generates N figures with bench/build.py's generator (composed multi-panel images with printed
panel letters and (A)/(B) captions; cached in --corpus), ingests them in this process (one worker,
so process CPU time is all of ingest's), and prints CPU seconds per figure, the recogniser's crops
per figure and calls, how many panels got a printed letter, and a digest of every panel's letter
and box so two runs (before/after a change) can be compared for identical output.

Run: .venv/bin/python bench/ingest_cpu.py [--figures 300] [--corpus /tmp/ingest_cpu_corpus]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pipeline.ingest.panel_labels as panel_labels  # noqa: E402
from bench.build import make_corpus  # noqa: E402
from pipeline.io.parquet import read_all  # noqa: E402
from pipeline.ingest import IngestConfig, run_ingest  # noqa: E402
from schemas import Figure  # noqa: E402

COUNTS = {"crops": 0, "calls": 0}


def counted(fn):
    def wrapper(rec, crops):
        COUNTS["crops"] += len(crops)
        COUNTS["calls"] += 1
        return fn(rec, crops)
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", type=int, default=300)
    parser.add_argument("--corpus", type=Path, default=Path(tempfile.gettempdir()) / "ingest_cpu_corpus")
    args = parser.parse_args()
    corpus = args.corpus / str(args.figures)
    if not (corpus / ".done").exists():
        shutil.rmtree(corpus, ignore_errors=True)
        make_corpus(corpus, args.figures)
        (corpus / ".done").write_text("")
    panel_labels._recognise = counted(panel_labels._recognise)
    panel_labels.recogniser()  # loaded once, outside the timing
    with tempfile.TemporaryDirectory() as tmp:
        cpu, wall = time.process_time(), time.perf_counter()
        result = run_ingest(corpus, Path(tmp) / "out", IngestConfig(workers=1))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        rows = read_all(Path(tmp) / "out" / "figures", Figure)
    digest = hashlib.sha256()
    printed = panels = lettered = 0
    for row in sorted(rows, key=lambda r: r.figure_id):
        letters = [p.printed_label for p in row.panels if p.printed_label]
        printed += len(letters)
        panels += len(row.panels)
        lettered += bool(letters)
        for p in row.panels:
            b = p.box
            digest.update(f"{row.figure_id}|{p.label}|{p.printed_label}|{b.x0},{b.y0},{b.x1},{b.y1}\n".encode())
    n = result.figures
    print(f"ingested {n} figures ({result.panels} panels) in {wall:.1f}s wall, {cpu:.1f}s CPU: {cpu / n:.3f} CPU s/figure")
    print(f"recogniser: {COUNTS['crops'] / n:.1f} crops/figure in {COUNTS['calls'] / n:.2f} calls/figure")
    print(f"printed letters: {printed}/{panels} panels, {lettered}/{n} figures lettered; "
          f"panel digest {digest.hexdigest()[:16]}")


if __name__ == "__main__":
    main()

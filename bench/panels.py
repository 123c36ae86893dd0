"""Panel grounding benchmark: printed letters and pairing, on hand-labelled real figures and on
synthetic ones, plus CPU time against the XY-cut alone.

Real set: bench/panel_labels/real.json (boxes and letters written by hand from the images in
PMC_INSTRUCT_SHARED_DATA). Synthetic set: bench/panel_synth.py, seeds 0..N-1.
Per set it prints:
- panel count exact-match rate (figures with printed letters: panels found == panels printed);
- label accuracy (printed panels whose letter was read onto a panel lying >= 70 % inside it);
- false letters (figures printing no panel letters where a letter was claimed);
- pairing precision (paired crops lying >= 70 % inside the printed panel of their letter) and
  recall (printed panels with a caption part that got it);
- median CPU seconds per figure: grounding (XY-cut + letters) vs the XY-cut alone, and the added;
  crops sent to the recogniser per figure (letters are read nearest the panels' corners first).

Run: .venv/bin/python bench/panels.py [--synthetic 120]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.panel_synth import make_figure  # noqa: E402
import pipeline.ingest.panel_labels as panel_labels  # noqa: E402
from pipeline.ingest.grounding import ground_panels  # noqa: E402
from pipeline.ingest.panel_labels import recogniser  # noqa: E402
from pipeline.ingest.panels import detect_panels  # noqa: E402
from schemas import Figure, PairOutcome, SourceFormat, SubCaption  # noqa: E402

LABELS = Path(__file__).parent / "panel_labels" / "real.json"
INSIDE = 0.7
CROPS = [0]


def _counted(recognise):
    def wrapper(rec, crops):
        CROPS[0] += len(crops)
        return recognise(rec, crops)
    return wrapper


def inside(crop, box) -> float:
    """Share of `crop` (x0, y0, x1, y1) lying inside `box`."""
    ix = max(0.0, min(crop[2], box[2]) - max(crop[0], box[0]))
    iy = max(0.0, min(crop[3], box[3]) - max(crop[1], box[1]))
    area = max(1e-9, (crop[2] - crop[0]) * (crop[3] - crop[1]))
    return ix * iy / area


def score(img: Image.Image, truth_panels: list[dict], caption_letters: str, acc: dict) -> None:
    t = time.process_time()
    detect_panels(img)
    acc["xy"].append(time.process_time() - t)
    t, crops = time.process_time(), CROPS[0]
    panels = ground_panels(img)
    acc["ground"].append(time.process_time() - t)
    acc["crops"] += CROPS[0] - crops
    fig = Figure(figure_id="bench/f", article_id="bench", caption="-", panels=panels, source_format=SourceFormat.JATS,
                 source_path="-", sub_captions=[SubCaption(label=c, text=f"part {c}") for c in caption_letters])
    truth = {p["label"].upper(): p["box"] for p in truth_panels}
    if truth:
        acc["lettered"] += 1
        acc["count_exact"] += len(panels) == len(truth)
    elif any(p.letter for p in panels):
        acc["false_letters"] += 1
    acc["unlettered"] += not truth
    for label, box in truth.items():
        acc["printed"] += 1
        acc["label_ok"] += any(p.printed_label and p.printed_label.upper() == label
                               and inside([p.box.x0, p.box.y0, p.box.x1, p.box.y1], box) >= INSIDE for p in panels)
        acc["pairable"] += label[0] in caption_letters
    for p in panels:
        pairing = fig.pairing(p.label)
        acc["outcomes"][pairing.outcome.value] = acc["outcomes"].get(pairing.outcome.value, 0) + 1
        if pairing.outcome is not PairOutcome.PAIRED:
            continue
        acc["paired"] += 1
        box = truth.get(p.printed_label.upper())
        ok = box is not None and inside([p.box.x0, p.box.y0, p.box.x1, p.box.y1], box) >= INSIDE
        acc["paired_ok"] += ok
        if not ok:
            acc["wrong"].append(f"{acc['name']}: {p.label}")


def new_acc() -> dict:
    return {"xy": [], "ground": [], "crops": 0, "lettered": 0, "unlettered": 0, "count_exact": 0, "false_letters": 0, "printed": 0,
            "label_ok": 0, "pairable": 0, "paired": 0, "paired_ok": 0, "outcomes": {}, "wrong": [], "name": ""}


def report(name: str, n: int, acc: dict) -> None:
    def pct(a: int, b: int) -> str:
        return f"{100 * a / b:.1f}% ({a}/{b})" if b else "n/a"

    xy, gr = statistics.median(acc["xy"]), statistics.median(acc["ground"])
    added = statistics.median(g - x for g, x in zip(acc["ground"], acc["xy"]))
    print(f"[{name}] figures={n} lettered={acc['lettered']} printed_panels={acc['printed']}")
    print(f"[{name}] panel count exact-match: {pct(acc['count_exact'], acc['lettered'])}")
    print(f"[{name}] label accuracy: {pct(acc['label_ok'], acc['printed'])}")
    print(f"[{name}] false letters on unlettered figures: {pct(acc['false_letters'], acc['unlettered'])}")
    print(f"[{name}] pairing precision: {pct(acc['paired_ok'], acc['paired'])}")
    print(f"[{name}] pairing recall: {pct(acc['paired_ok'], acc['pairable'])}")
    print(f"[{name}] pairing outcomes: {json.dumps(dict(sorted(acc['outcomes'].items())))}")
    print(f"[{name}] CPU s/figure median: xy-cut {xy:.3f}, grounding {gr:.3f}, added {added:.3f}, "
          f"max added {max(g - x for g, x in zip(acc['ground'], acc['xy'])):.3f}")
    print(f"[{name}] recogniser crops/figure: {acc['crops'] / n:.1f}")
    if acc["wrong"]:
        print(f"[{name}] wrong pairings: {', '.join(acc['wrong'][:10])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=120, help="number of synthetic figures")
    args = parser.parse_args()
    recogniser()  # load once, outside the timings
    panel_labels._recognise = _counted(panel_labels._recognise)
    root = Path(os.environ.get("PMC_INSTRUCT_SHARED_DATA", "/work/shared/data"))
    real = json.loads(LABELS.read_text())["figures"]
    acc = new_acc()
    n = 0
    for fig in real:
        path = root / fig["image"]
        if not path.exists():
            print(f"[real] skipped (missing): {path}")
            continue
        with Image.open(path) as opened:
            img = opened.convert("RGB")
        acc["name"] = path.name
        score(img, fig["panels"], fig["caption_letters"], acc)
        n += 1
    if n:
        report("real", n, acc)
    acc = new_acc()
    for seed in range(args.synthetic):
        img, truth = make_figure(seed)
        acc["name"] = f"synthetic-{seed}-{truth.kind}"
        score(img, truth.panels, truth.caption_letters, acc)
    report("synthetic", args.synthetic, acc)


if __name__ == "__main__":
    main()

"""Generate data/formats/: one small sample per supported input format besides the JATS demo in
data/demo, all invented (our own text, images drawn by data/make_demo.py's helpers, CC-BY-4.0).

  nxml/demo-101/       a PMC-style .nxml article (archive DTD) with two compound figures:
                       bold panel letters in one caption, "A, ..." sub-captions in the other
  llava-med/pairs.json LLaVA-Med caption records (JSON list), images in images/
  llava-med/more.jsonl one LLaVA-Med record per line, image in figures/
  m3llm/records.json   M3LLM records ({"records": [...]}) with YOLO sub-figure boxes in labels/ and
                       a sub-figure confidence CSV; the second figure has no boxes (built-in detection)

Every multi-panel figure is a grid with white gutters and a printed panel letter per panel; its
caption names the same letters. `make run` builds data/demo only; the tests build these too.
Run: .venv/bin/python data/make_demo.py   (writes data/demo and data/formats, deterministic)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

import make_demo as demo

OUT = Path(__file__).resolve().parent / "formats"
SEED = 20240715


def grid_boxes(n: int, cols: int) -> list[tuple[float, float, float, float]]:
    """Normalised (cx, cy, w, h) of each panel as demo.compose lays them out (YOLO order)."""
    rows = (n + cols - 1) // cols
    w, h = demo.PANEL
    g = demo.GUTTER
    width, height = cols * w + (cols + 1) * g, rows * h + (rows + 1) * g
    boxes = []
    for i in range(n):
        r, c = divmod(i, cols)
        x, y = g + c * (w + g), g + r * (h + g)
        boxes.append(((x + w / 2) / width, (y + h / 2) / height, w / width, h / height))
    return boxes


def save_plot(img: Image.Image, path: Path) -> None:
    """Charts have few colours: a 64-colour palette PNG keeps the sample small."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def nxml(pmc: int, title: str, abstract: str, paragraphs: list[str], figures: list[str]) -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD Journal Archiving and Interchange DTD v3.0 20080202//EN" "archivearticle3.dtd">
<article xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:mml="http://www.w3.org/1998/Math/MathML" article-type="research-article">
  <front>
    <journal-meta><journal-title-group><journal-title>Demo Journal of Invented Results</journal-title></journal-title-group></journal-meta>
    <article-meta>
      <article-id pub-id-type="pmid">{pmc}</article-id>
      <article-id pub-id-type="pmc">{pmc}</article-id>
      <article-id pub-id-type="doi">10.0000/demo.{pmc}</article-id>
      <title-group><article-title>{title}</article-title></title-group>
      <permissions><license license-type="open-access" xlink:href="{demo.LICENSE}">
        <license-p>Synthetic demo article written for pmc-instruct; CC-BY-4.0.</license-p></license></permissions>
      <abstract><p>{abstract}</p></abstract>
    </article-meta>
  </front>
  <body><sec><title>Results</title>
{body}
{chr(10).join(figures)}
  </sec></body>
</article>
"""


def make_nxml() -> None:
    a = OUT / "nxml" / "demo-101"
    save_plot(demo.compose([demo.bars(("Day 0", "Day 7")), demo.curve(), demo.bars(("Lo", "Mid", "Hi"))], cols=3),
              a / "demo-101-g001.png")
    demo.save(demo.compose([demo.scan(), demo.scan(), demo.scan(), demo.scan()], cols=2), a / "demo-101-g002.jpg")
    figs = [
        '<fig id="F1" position="float"><label>Figure 1</label><caption><title>Simulated wound closure.</title>'
        "<p><bold>A</bold>, mean closure at day 0 and day 7; <bold>B</bold>, closure over 48 hours in two invented "
        "cohorts; <bold>C</bold>, closure by simulated dose.</p></caption>"
        '<graphic xlink:href="demo-101-g001"/></fig>',
        '<fig id="F2" position="float"><label>Figure 2</label><caption><p>Simulated ultrasound frames. '
        "A, Frame at rest. B, Frame under load. C, Frame after recovery. D, Frame of a control limb.</p></caption>"
        '<graphic xlink:href="demo-101-g002"/></fig>',
    ]
    text = nxml(
        900101, "Simulated wound closure measured by invented imaging (demo data, nxml)",
        "An invented study of wound closure in simulated tissue. Every number is made up.",
        ['Closure doubled between day 0 and day 7 (<xref ref-type="fig" rid="F1">Fig. 1A</xref>) and followed '
         'a saturating curve (<xref ref-type="fig" rid="F1">Fig. 1B</xref>).',
         'Higher simulated doses closed wounds faster (<xref ref-type="fig" rid="F1">Fig. 1C</xref>), and the '
         'ultrasound frames changed under load (<xref ref-type="fig" rid="F2">Fig. 2A, B</xref>).',
         'Recovery frames resembled the control limb (<xref ref-type="fig" rid="F2">Figure 2C and D</xref>).'],
        figs,
    )
    (a / "demo-101.nxml").write_text(text, encoding="utf-8")


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def make_llava_med() -> None:
    d = OUT / "llava-med"
    save_plot(demo.compose([demo.curve(), demo.bars(("Sham", "Op"))], cols=2), d / "images" / "900111_F1.png")
    save_plot(demo.bars(("Pre", "Post"), (360, 260)), d / "images" / "900111_F2.png")
    demo.save(demo.compose([demo.microscopy(dark=False, cells=25), demo.microscopy(cells=25)], cols=2),
              d / "figures" / "900112_F3.jpg")
    _write_json(d / "pairs.json", [
        {"pair_id": "900111_F1", "image": "900111_F1.png", "pmid": "900111", "fig_label": "F1",
         "title": "Invented recovery curves after a simulated operation (demo data, LLaVA-Med)",
         "license": demo.LICENSE,
         "fig_caption": "Recovery after a simulated operation. (a) Grip strength over 48 hours. "
                        "(b) Final strength in sham and operated groups.",
         "in_text_mention": [{"tokens": "Grip strength recovered within two days (Fig. 1a)."},
                             {"tokens": "Operated animals ended weaker than sham animals (Fig. 1b)."}]},
        {"pair_id": "900111_F2", "image": "900111_F2.png", "pmid": "900111", "fig_label": "F2",
         "license": demo.LICENSE,
         "fig_caption": "Simulated pain scores before and after the operation.",
         "in_text_mention": ["Pain scores fell after the operation (Fig. 2)."]},
    ])
    record = {"pair_id": "900112_F3", "image": "900112_F3.jpg", "pmid": "900112", "fig_label": "F3",
              "title": "Invented stains of a simulated biopsy (demo data, LLaVA-Med JSONL)", "license": demo.LICENSE,
              "fig_caption": "Simulated biopsy sections. a) Light-field stain. b) Fluorescent stain of the same block.",
              "in_text_mention": [{"tokens": "Both stains showed the same invented nodules (Fig. 3a, b)."}]}
    (d / "more.jsonl").write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")


def make_m3llm() -> None:
    d = OUT / "m3llm"
    panels = [demo.curve(), demo.bars(), demo.curve(), demo.bars(("A1", "A2"))]
    save_plot(demo.compose(panels, cols=2), d / "images" / "PMC900121_F1.png")
    save_plot(demo.compose([demo.bars(("Ctl", "Tx")), demo.curve()], cols=2), d / "images" / "PMC900121_F2.png")
    boxes = grid_boxes(4, cols=2)
    # A fifth, spurious box (around the letter of panel A) that the confidence CSV rules out.
    boxes.append((boxes[0][0] - boxes[0][2] / 2 + 0.02, boxes[0][1] - boxes[0][3] / 2 + 0.02, 0.04, 0.05))
    lines = [f"0 {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}" for cx, cy, w, h in boxes]
    (d / "labels").mkdir(parents=True, exist_ok=True)
    (d / "labels" / "PMC900121_F1.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    probs = [0.97, 0.95, 0.93, 0.91, 0.22]
    # M3LLM's classifier CSV: sub-figure i of PMC900121_F1.png is the row PMC900121_F1.png_<i>.jpg.
    csv = "filename,prob\n" + "".join(f"PMC900121_F1.png_{i}.jpg,{p}\n" for i, p in enumerate(probs))
    (d / "subfig_confidence.csv").write_text(csv, encoding="utf-8")
    _write_json(d / "records.json", {"records": [
        {"image": "images/PMC900121_F1.png", "pmcid": "PMC900121", "fig_label": "Figure 1",
         "title": "Invented growth curves of a simulated cell line (demo data, M3LLM)", "license": demo.LICENSE,
         "caption": "Growth of a simulated cell line. (A) Cell count over 48 hours. (B) Counts per dose. "
                    "(C) Repeat of the growth curve. (D) Counts in two invented subclones.",
         "inline_context": ["The simulated line doubled within a day (Figure 1A).",
                            "Counts fell with dose and the subclones differed (Figure 1B-D)."]},
        {"image": "images/PMC900121_F2.png", "pmcid": "PMC900121", "fig_label": "Figure 2", "license": demo.LICENSE,
         "caption": "(A) Counts in control and treated wells. (B) Uptake of an invented marker over time.",
         "inline_context": "Treated wells held fewer cells (Figure 2A) while marker uptake kept rising (Figure 2B)."},
    ]})


def main() -> None:
    demo.rng = np.random.default_rng(SEED)  # independent of data/demo's random stream
    make_nxml()
    make_llava_med()
    make_m3llm()


if __name__ == "__main__":
    main()

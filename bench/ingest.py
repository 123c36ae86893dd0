"""Ingest benchmark: generate synthetic JATS articles with images (>= 1,000 figures) in a temp
folder, ingest them once, and print figures/s, the share of wall time spent parsing XML versus
loading images and detecting panels, and panel detection cost in ms per megapixel. Then pack the
same articles as PMC OA packages (one PMCxxx.tar.gz per article, a PMCxxx/ folder inside) and print
figures/s ingesting the archives directly against the extracted folders.

Run: .venv/bin/python bench/ingest.py [--figures 1000]
"""

from __future__ import annotations

import argparse
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import pipeline.ingest.figures as figures_mod
import pipeline.ingest.jats as jats_mod
from pipeline.ingest import IngestConfig, run_ingest
from pipeline.ingest.panels import detect_panels

FIGS_PER_ARTICLE = 4
TIMERS = {"xml": 0.0, "image_load": 0.0, "panels": 0.0, "rendition": 0.0}
MEGAPIXELS = {"panels": 0.0}


def timed(name, fn, megapixels=None):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMERS[name] += time.perf_counter() - t
            if megapixels:
                MEGAPIXELS[name] += megapixels(*args)
    return wrapper


def make_image(rng: np.random.Generator, path: Path, panels: int) -> None:
    """A 1x`panels` strip of textured panels with white gutters (about 0.3 MP)."""
    w, h, gutter = 260, 300, 16
    canvas = np.full((h + 2 * gutter, panels * (w + gutter) + gutter, 3), 255, np.uint8)
    for k in range(panels):
        x = gutter + k * (w + gutter)
        tile = rng.integers(0, 180, (h // 10, w // 10, 3), dtype=np.uint8).repeat(10, 0).repeat(10, 1)
        canvas[gutter:gutter + h, x:x + w] = tile
    Image.fromarray(canvas).save(path, quality=85)


def make_corpus(root: Path, n_figures: int) -> None:
    rng = np.random.default_rng(7)
    for a in range(0, (n_figures + FIGS_PER_ARTICLE - 1) // FIGS_PER_ARTICLE):
        folder = root / f"a{a:05d}"
        folder.mkdir(parents=True)
        figs, paras = [], []
        for k in range(1, FIGS_PER_ARTICLE + 1):
            make_image(rng, folder / f"g{k}.jpg", panels=1 + (a + k) % 3)
            figs.append(f'<fig id="f{k}"><label>Figure {k}</label><caption><p>Synthetic figure {k}. '
                        f'(A) First panel text. (B) Second panel text.</p></caption><graphic xlink:href="g{k}"/></fig>')
            paras.append(f'<p>Paragraph citing <xref ref-type="fig" rid="f{k}">Figure {k}</xref> with some words.</p>')
        (folder / "article.xml").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n<article xmlns:xlink="http://www.w3.org/1999/xlink"><front><article-meta>'
            f'<article-id pub-id-type="pmc">{500000 + a}</article-id><title-group><article-title>Synthetic {a}'
            '</article-title></title-group><abstract><p>Abstract text.</p></abstract></article-meta></front><body><sec>'
            + "".join(paras) + "".join(figs) + "</sec></body></article>", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", type=int, default=1000)
    args = parser.parse_args()

    jats_mod.parse_xml = timed("xml", jats_mod.parse_xml)
    jats_mod.read_size = timed("rendition", jats_mod.read_size)
    figures_mod.load_image = timed("image_load", figures_mod.load_image)
    figures_mod.ground_panels = timed("panels", figures_mod.ground_panels,
                                      megapixels=lambda img: img.size[0] * img.size[1] / 1e6)

    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in", Path(tmp) / "out"
        t = time.perf_counter()
        make_corpus(src, args.figures)
        gen_s = time.perf_counter() - t
        t = time.perf_counter()
        result = run_ingest(src, out, IngestConfig())
        wall = time.perf_counter() - t
        first_timers, first_mp = dict(TIMERS), dict(MEGAPIXELS)  # the shares below are of this first run
        t = time.perf_counter()
        again = run_ingest(src, out, IngestConfig())
        rerun = time.perf_counter() - t
        packed = Path(tmp) / "packages"
        packed.mkdir()
        for folder in sorted(src.iterdir()):  # PMC's package layout: PMCxxx.tar.gz holding PMCxxx/...
            with tarfile.open(packed / f"{folder.name}.tar.gz", "w:gz") as tar:
                tar.add(folder, arcname=folder.name)
        # Extracted and archived runs alternate twice (fresh output each time); the best of each is
        # compared, so warm-up and other load on the machine hit both sides alike.
        extracted_wall = archive_wall = float("inf")
        for rep in range(2):
            t = time.perf_counter()
            run_ingest(src, Path(tmp) / f"out_extracted{rep}", IngestConfig())
            extracted_wall = min(extracted_wall, time.perf_counter() - t)
            t = time.perf_counter()
            from_archives = run_ingest(packed, Path(tmp) / f"out_archives{rep}", IngestConfig())
            archive_wall = min(archive_wall, time.perf_counter() - t)
        t = time.perf_counter()
        archive_again = run_ingest(packed, Path(tmp) / "out_archives1", IngestConfig())
        archive_rerun = time.perf_counter() - t

    # 12 MP: two noise panels on white with margins and a 100 px gutter (detected after downscaling)
    big = Image.new("RGB", (4000, 3000), "white")
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 255, (2800, 1850, 3), dtype=np.uint8))
    big.paste(noise, (100, 100))
    big.paste(noise, (2050, 100))
    t = time.perf_counter()
    n_big = len(detect_panels(big))
    big_ms_per_mp = (time.perf_counter() - t) * 1000 / 12.0

    TIMERS.update(first_timers)
    MEGAPIXELS.update(first_mp)
    image_s = TIMERS["image_load"] + TIMERS["panels"] + TIMERS["rendition"]
    print(f"generated {args.figures} figures in {gen_s:.1f}s (not part of the measurement)")
    print(f"ingested {result.figures} figures ({result.panels} panels, {result.rejects} rejects) in {wall:.2f}s: "
          f"{result.figures / wall:.1f} figures/s")
    print(f"share of ingest wall time: XML parsing {TIMERS['xml'] / wall:.1%}, image work {image_s / wall:.1%} "
          f"(load+hash {TIMERS['image_load'] / wall:.1%}, panel detection {TIMERS['panels'] / wall:.1%}, "
          f"rendition sizing {TIMERS['rendition'] / wall:.1%}), other (captions, mentions, Parquet) "
          f"{1 - (TIMERS['xml'] + image_s) / wall:.1%}")
    print(f"panels (XY-cut + printed letters): {TIMERS['panels'] * 1000 / MEGAPIXELS['panels']:.1f} ms per megapixel over "
          f"{MEGAPIXELS['panels']:.0f} MP; 12 MP image, XY-cut alone: {big_ms_per_mp:.1f} ms/MP (budget 50), {n_big} panels")
    print(f"rerun with nothing changed: {again.files_skipped} files skipped in {rerun:.2f}s "
          f"({wall / max(rerun, 1e-9):.0f}x faster than the first run)")
    print(f"from PMC OA packages: {from_archives.figures} figures ({from_archives.figures_with_image} with image, "
          f"{from_archives.rejects} rejects) from {from_archives.files_seen} .tar.gz in {archive_wall:.2f}s: "
          f"{from_archives.figures / archive_wall:.1f} figures/s against {result.figures / extracted_wall:.1f} figures/s "
          f"extracted (best of 2 alternating runs each: {extracted_wall / archive_wall:.2f}x); "
          f"rerun skipped {archive_again.files_skipped} archives in {archive_rerun:.2f}s")


if __name__ == "__main__":
    main()

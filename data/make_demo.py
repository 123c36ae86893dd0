"""Generate the demo sample in data/demo/: four short, clearly synthetic JATS articles (our own
invented text, CC-BY-4.0) with figure images drawn here with numpy, Pillow and matplotlib.

Run: .venv/bin/python data/make_demo.py   (deterministic: same bytes on every run; also writes
data/formats/ through data/make_formats.py)
Layout: data/demo/<article>/<article>.xml plus its images. Article demo-004 ships no images on
purpose (a caption-only article). Multi-panel figures are composed with clear white gutters and
panel letters drawn in, so the built-in panel detection can be checked against known counts.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

OUT = Path(__file__).resolve().parent / "demo"
LICENSE = "https://creativecommons.org/licenses/by/4.0/"
PANEL = (300, 240)
GUTTER = 24
rng = np.random.default_rng(20240601)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def microscopy(size=PANEL, cells=40, dark=True) -> Image.Image:
    """Fluorescence-like blobs on a dark field (or stained nuclei on a light field)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w), float)
    for _ in range(cells):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(5, 14)
        img += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    img = np.clip(img / img.max() + rng.normal(0, 0.04, img.shape), 0, 1)
    if dark:
        rgb = np.stack([img * 60, img * 230, img * 90], axis=2) + 8
    else:
        rgb = 245 - np.stack([img * 90, img * 160, img * 60], axis=2)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def scan(size=PANEL) -> Image.Image:
    """Grayscale radiograph-like gradient with an oval structure and noise."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = 40 + 120 * np.exp(-(((xx - w / 2) / (0.35 * w)) ** 2 + ((yy - h / 2) / (0.4 * h)) ** 2))
    base += 30 * np.sin(yy / 9.0) * np.exp(-((xx - w / 2) / (0.2 * w)) ** 2)
    base += rng.normal(0, 6, base.shape)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).convert("RGB")


def _plot(draw, size=PANEL) -> Image.Image:
    fig = plt.figure(figsize=(size[0] / 100, size[1] / 100), dpi=100)
    ax = fig.add_axes([0.2, 0.2, 0.75, 0.72])
    draw(ax)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    plt.close(fig)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def bars(groups=("Ctrl", "Low", "High"), size=PANEL) -> Image.Image:
    means = rng.uniform(2, 9, len(groups))
    def draw(ax):
        ax.bar(groups, means, yerr=means * 0.15, color=["#555555", "#3a7bd5", "#d5533a"][: len(groups)], capsize=3)
        ax.set_ylabel("Signal (a.u.)", fontsize=8)
        ax.tick_params(labelsize=7)
    return _plot(draw, size)


def curve(size=PANEL) -> Image.Image:
    t = np.linspace(0, 48, 13)
    def draw(ax):
        for k, c in ((0.05, "#3a7bd5"), (0.09, "#d5533a")):
            ax.plot(t, 100 * (1 - np.exp(-k * t)) + rng.normal(0, 2, t.size), "o-", color=c, ms=3)
        ax.set_xlabel("Time (h)", fontsize=8)
        ax.set_ylabel("Uptake (%)", fontsize=8)
        ax.tick_params(labelsize=7)
    return _plot(draw, size)


def compose(panels: list[Image.Image], cols: int, letters: bool = True) -> Image.Image:
    """Grid of panels on white with GUTTER-pixel gutters and a letter drawn in each panel's corner."""
    rows = (len(panels) + cols - 1) // cols
    w, h = PANEL
    canvas = Image.new("RGB", (cols * w + (cols + 1) * GUTTER, rows * h + (rows + 1) * GUTTER), "white")
    draw = ImageDraw.Draw(canvas)
    for i, panel in enumerate(panels):
        r, c = divmod(i, cols)
        x, y = GUTTER + c * (w + GUTTER), GUTTER + r * (h + GUTTER)
        canvas.paste(panel.resize(PANEL), (x, y))
        if letters:  # on a plain tag, as journals print them, so the letter stands clear of the image
            dark = np.asarray(panel.convert("L")).mean() < 128
            draw.rectangle((x, y, x + 30, y + 30), fill="black" if dark else "white")
            draw.text((x + 8, y + 5), chr(65 + i), fill="white" if dark else "black", font=_font(18))
    return canvas


def jats(article_id: str, title: str, abstract: str, sections: list[str], figures: list[str]) -> str:
    body = "\n".join(sections)
    figs = "\n".join(figures)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Publishing DTD v1.2 20190208//EN" "JATS-journalpublishing1.dtd">
<article xmlns:xlink="http://www.w3.org/1999/xlink" article-type="research-article">
  <front>
    <article-meta>
      <article-id pub-id-type="publisher-id">{article_id}</article-id>
      <article-id pub-id-type="pmc">{900000 + int(article_id[-3:])}</article-id>
      <title-group><article-title>{title}</article-title></title-group>
      <permissions>
        <license license-type="open-access" xlink:href="{LICENSE}">
          <license-p>Synthetic demo article written for pmc-instruct; CC-BY-4.0.</license-p>
        </license>
      </permissions>
      <abstract><p>{abstract}</p></abstract>
    </article-meta>
  </front>
  <body>
{body}
{figs}
  </body>
</article>
"""


def fig(fid: str, number: int, caption: str, graphics: list[tuple[str, str | None]]) -> str:
    inner = "".join(f'<graphic xlink:href="{href}"' + (f' specific-use="{use}"' if use else "") + "/>" for href, use in graphics)
    if len(graphics) > 1:
        inner = f"<alternatives>{inner}</alternatives>"
    return f'<fig id="{fid}"><label>Figure {number}</label><caption><p>{caption}</p></caption>{inner}</fig>'


def save(img: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        img.save(path, quality=80, optimize=True)
    else:
        img.save(path, optimize=True)


def main() -> None:
    # demo-001: three-panel compound figure (with a thumbnail rendition) + single-panel curve.
    a = OUT / "demo-001"
    g1 = compose([microscopy(), bars(), curve()], cols=3)
    save(g1, a / "demo-001-g1.png")
    save(g1.resize((g1.width // 4, g1.height // 4)), a / "demo-001-g1-thumb.png")
    save(curve((480, 320)), a / "demo-001-g2.png")
    (a / "demo-001.xml").write_text(jats(
        "demo-001", "Synthetic spheroid uptake of a fluorescent tracer (demo data)",
        "This invented study describes tracer uptake in synthetic hepatocyte spheroids. All data are simulated.",
        ['<sec><title>Results</title><p>Spheroids took up the tracer within hours '
         '(<xref ref-type="fig" rid="f1">Figure 1A</xref>), and uptake rose with dose (<xref ref-type="fig" rid="f1">Figure 1B</xref>).</p>',
         '<p>Uptake kinetics were similar across runs (<xref ref-type="fig" rid="f1">Figures 1</xref>–<xref ref-type="fig" rid="f2">2</xref>).</p>',
         '<p>The second run reached a plateau after one day (<xref ref-type="fig" rid="f2">Figure 2</xref>).</p></sec>'],
        [fig("f1", 1, "Tracer uptake in synthetic spheroids. (A) Simulated fluorescence image of a spheroid section. "
             "(B) Mean signal per dose group; error bars show simulated spread. (C) Uptake over 48 hours for two dose levels.",
             [("demo-001-g1.png", None), ("demo-001-g1-thumb.png", "thumb")]),
         fig("f2", 2, "Uptake kinetics of the second simulated run over 48 hours.", [("demo-001-g2", None)])],
    ), encoding="utf-8")

    # demo-002: two-panel scan figure + 2x2 microscopy grid; a multi-rid xref.
    b = OUT / "demo-002"
    save(compose([scan(), scan()], cols=2), b / "demo-002-g1.jpg")
    save(compose([microscopy(dark=False), microscopy(dark=False), microscopy(), microscopy()], cols=2), b / "demo-002-g2.jpg")
    (b / "demo-002.xml").write_text(jats(
        "demo-002", "Simulated radiograph texture and matching histology in a mouse model (demo data)",
        "An invented comparison of simulated radiograph texture with simulated stained sections.",
        ['<sec><title>Results</title><p>Texture and histology agreed in all simulated animals '
         '(<xref ref-type="fig" rid="f1 f2">Figures 1 and 2</xref>).</p>',
         '<p>Stained sections showed denser nuclei after treatment (<xref ref-type="fig" rid="f2">Figure 2C</xref>).</p></sec>'],
        [fig("f1", 1, "Simulated radiographs. (A) Baseline scan. (B) Scan after four weeks.", [("demo-002-g1.jpg", None)]),
         fig("f2", 2, "Simulated histology. (A and B) Light-field stained sections before treatment. "
             "(C) Fluorescent section after treatment. (D) Fluorescent section of a control animal.", [("demo-002-g2.jpg", None)])],
    ), encoding="utf-8")

    # demo-003: single bar chart, a 1x3 compound with a (A-C) range caption, a single microscopy image.
    c = OUT / "demo-003"
    save(bars(("WT", "KO"), (420, 300)), c / "demo-003-g1.png")
    save(compose([curve(), curve(), curve()], cols=3), c / "demo-003-g2.png")
    save(microscopy((420, 300), cells=60), c / "demo-003-g3.jpg")
    (c / "demo-003.xml").write_text(jats(
        "demo-003", "Knockout of a synthetic transporter slows tracer clearance (demo data)",
        "An invented knockout study with simulated clearance curves.",
        ['<sec><title>Results</title><p>Knockout animals retained more tracer (<xref ref-type="fig" rid="f1">Figure 1</xref>) '
         'and cleared it more slowly in every tissue (<xref ref-type="fig" rid="f2">Figs 2</xref>).</p>',
         '<p>A representative knockout section is shown in <xref ref-type="fig" rid="f3">Figure 3</xref>; '
         'see also <xref ref-type="fig" rid="f1">Figs 1-3</xref>.</p></sec>'],
        [fig("f1", 1, "Retained tracer in wild-type (WT) and knockout (KO) animals (simulated).", [("demo-003-g1.png", None)]),
         fig("f2", 2, "(A–C) Simulated clearance curves in liver, kidney and spleen, each for two dose levels.", [("demo-003-g2.png", None)]),
         fig("f3", 3, "Simulated fluorescence section of a knockout liver.", [("demo-003-g3.jpg", None)])],
    ), encoding="utf-8")

    # demo-004: an article that ships no image files (caption-only figure).
    d = OUT / "demo-004"
    d.mkdir(parents=True, exist_ok=True)
    (d / "demo-004.xml").write_text(jats(
        "demo-004", "A simulated survey of imaging protocols (demo data, no images shipped)",
        "An invented survey; its figure image is intentionally not included.",
        ['<sec><title>Results</title><p>Most simulated sites used two imaging protocols (<xref ref-type="fig" rid="f1">Figure 1</xref>).</p></sec>'],
        [fig("f1", 1, "Protocols reported by simulated imaging sites. (A) Protocol counts. (B) Share of sites by region.",
             [("demo-004-g1", None)])],
    ), encoding="utf-8")


if __name__ == "__main__":
    main()
    import make_formats  # data/formats: one sample per other input format (separate file, own seed)

    make_formats.main()

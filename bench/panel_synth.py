"""Synthetic compound figures with known printed panel letters, drawn with Pillow.

`make_figure(seed)` returns (image, truth) where truth lists the printed panels (label, box) and
the caption letters. Variety, all seeded: 1-3 x 1-3 grids, with or without gutters, white or black
paper, DejaVu fonts (sans, serif, mono, bold, oblique), letter sizes 13-40 px, upper or lower case,
styles A / (A) / A) / A., letters outside the panel corner or inside it (white on dark images),
sub-panels b1-b4, and the bad cases: numbers instead of letters, no letters, Greek/Cyrillic
letters, letters centred below the panels, and the bad cases of the caption (letters the figure lacks).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ["DejaVuSans-Bold.ttf", "DejaVuSans.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif.ttf",
         "DejaVuSansMono-Bold.ttf", "DejaVuSans-BoldOblique.ttf", "DejaVuSansCondensed-Bold.ttf"]
KINDS = ["plain", "plain", "plain", "plain", "inside", "subpanels", "numbers", "none", "nonlatin", "below", "dark"]


@dataclass
class Truth:
    kind: str
    panels: list[dict] = field(default_factory=list)  # {"label": "b1", "box": [x0, y0, x1, y1]}
    caption_letters: str = ""


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    path = FONT_DIR / name
    return ImageFont.truetype(str(path), size) if path.exists() else ImageFont.load_default(size)


def _content(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], rng: random.Random, ink: str,
             img: Image.Image, dark_image: bool) -> None:
    """A plot-like or micrograph-like panel body."""
    x0, y0, x1, y1 = box
    if dark_image:
        noise = np.random.default_rng(rng.randrange(1 << 30)).integers(0, 70, (y1 - y0, x1 - x0), dtype=np.uint8)
        img.paste(Image.fromarray(noise).convert("RGB"), (x0, y0))
        for _ in range(rng.randint(3, 8)):
            cx, cy, r = rng.randint(x0, x1), rng.randint(y0, y1), rng.randint(5, 25)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(200, 200, 200))
        return
    kind = rng.choice(["bars", "line", "dots", "blot"])
    draw.line((x0 + 10, y0 + 5, x0 + 10, y1 - 10, x1 - 5, y1 - 10), fill=ink, width=2)
    w, h = x1 - x0 - 20, y1 - y0 - 20
    if kind == "bars":
        n = rng.randint(2, 6)
        for i in range(n):
            bh = rng.randint(h // 5, h - 5)
            bx = x0 + 15 + i * w // n
            draw.rectangle((bx, y1 - 10 - bh, bx + max(3, w // n - 6), y1 - 10),
                           fill=rng.choice(["#c33", "#36c", "#999", "#2a2"]))
    elif kind == "line":
        pts = [(x0 + 12 + i * w / 12, y0 + 10 + rng.random() * (h - 10)) for i in range(13)]
        draw.line(pts, fill=rng.choice(["#c33", "#36c", ink]), width=2)
    elif kind == "dots":
        for _ in range(40):
            cx, cy = x0 + 12 + rng.random() * w, y0 + 8 + rng.random() * (h - 10)
            draw.ellipse((cx - 3, cy - 3, cx + 3, cy + 3), fill=rng.choice(["#c33", "#36c"]))
    else:
        for i in range(rng.randint(2, 5)):
            by = y0 + 15 + i * h // 5
            draw.rectangle((x0 + 20, by, x1 - 10, by + max(3, h // 12)), fill="#555")


def _text(rng: random.Random, kind: str, index: int, upper: bool, style: str, sub: int = 0) -> tuple[str, str]:
    """(drawn text, printed label) for panel `index`."""
    if kind == "numbers":
        return str(index + 1), ""
    if kind == "nonlatin":
        return "αβγδεζηθικλμ"[index] if rng.random() < 0.5 else "БГДЖИЛПФЦЧШЩ"[index], ""
    letter = chr((65 if upper else 97) + index)
    label = f"{letter}{sub or ''}"
    return style.format(label), label


def make_figure(seed: int, kind: str | None = None) -> tuple[Image.Image, Truth]:
    rng = random.Random(seed)
    kind = kind or KINDS[seed % len(KINDS)]
    rows, cols = rng.choice([(1, 2), (1, 3), (2, 2), (2, 3), (3, 2), (2, 1), (3, 3)])
    if kind == "subpanels":
        rows, cols = rng.choice([(1, 3), (2, 2)])
    black = kind == "dark"
    paper, ink = ("black", "white") if black else ("white", "black")
    pw, ph = rng.randint(160, 320), rng.randint(130, 260)
    gutter = rng.choice([0, 0, 8, 20, 35])
    size = rng.randint(13, 40)
    margin = 10
    width, height = cols * (pw + gutter) + margin + 10, rows * (ph + gutter) + margin + (size + 12 if kind == "below" else 10)
    img = Image.new("RGB", (width, height), paper)
    draw = ImageDraw.Draw(img)
    fnt = font(rng.choice(FONTS), size)
    upper = rng.random() < 0.6
    style = rng.choice(["{}", "{}", "({})", "{})", "{}."])  # one style per figure, as journals do
    truth = Truth(kind)
    letters = ""
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        x0, y0 = margin + c * (pw + gutter), margin + r * (ph + gutter)
        box = (x0, y0, x0 + pw, y0 + ph)
        inside = kind == "inside"
        if kind == "subpanels" and i == 1:  # panel b split into b1-b4, each lettered
            hw, hh = (pw - 6) // 2, (ph - 6) // 2
            small = font(rng.choice(FONTS), max(12, size * 3 // 4))
            for k in range(4):
                sx, sy = x0 + (k % 2) * (hw + 6), y0 + (k // 2) * (hh + 6)
                sub_box = (sx + size * 3 // 4 + 4, sy + size * 3 // 4 + 4, sx + hw, sy + hh)
                _content(draw, sub_box, rng, ink, img, False)
                text, label = _text(rng, "plain", 1, upper, style, k + 1)
                draw.text((sx, sy), text, font=small, fill=ink)
                truth.panels.append({"label": label, "box": [sx, sy, sx + hw, sy + hh]})
            letters += "B" if upper else "b"
            continue
        # the letter owns the cell's top-left corner; the panel body starts beside/below it
        body = box if inside else (x0 + size + 2, y0 + size + 4, x0 + pw, y0 + ph)
        _content(draw, body, rng, ink, img, inside)
        text, label = _text(rng, kind, i, upper, style)
        if kind == "none":
            text, label = "", ""
        tw = draw.textlength(text, font=fnt) if text else 0
        if kind == "below":
            pos = (x0 + pw / 2 - tw / 2, y0 + ph + 2)
        elif inside:
            pos = (x0 + 6, y0 + 4)
        else:
            pos = (x0, y0)
        if text:
            draw.text(pos, text, font=fnt, fill="white" if inside else ink)
        if label and kind != "below":
            truth.panels.append({"label": label, "box": list(box)})
        letters += chr(65 + i)
    # the caption letters: every panel's letter, even where the figure prints none (a bad input)
    truth.caption_letters = letters.upper()
    if kind == "below":
        truth.panels = []  # letters under the panels: not where panel letters go; nothing may pair wrongly
    return img, truth

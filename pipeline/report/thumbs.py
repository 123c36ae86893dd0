"""Gallery thumbnails: the figure downscaled to a JPEG data URI, panel boxes drawn on it and the
panels a question is about highlighted in a second colour."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from pipeline.ingest.images import to_rgb
from schemas import Box

PANEL_COLOUR = (40, 110, 220)  # every detected/supplied panel
HIGHLIGHT_COLOUR = (235, 20, 140)  # the panels (boxes) the question is about
MAX_SIDE = 420
INPUT_SIDE = 220  # panel crops and other extra model inputs, shown small
JPEG_QUALITY = 70


class ThumbError(Exception):
    """The image cannot be shown; the message says why (missing, unreadable)."""


def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
    except FileNotFoundError as exc:
        raise ThumbError(f"image {path} does not exist") from exc
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ThumbError(f"image {path} cannot be decoded: {exc}") from exc
    return to_rgb(img)  # 16-bit scaled, alpha on white: the same pixels ingest and the exports see


def norm_box(box: Box, width: int, height: int) -> Box:
    """Boxes are stored normalised (0-1) or in pixels; pixel boxes are recognised by values above 1."""
    if max(box.x0, box.y0, box.x1, box.y1) <= 1.0:
        return box
    return Box(x0=box.x0 / width, y0=box.y0 / height, x1=box.x1 / width, y1=box.y1 / height)


def _draw_box(draw: ImageDraw.ImageDraw, box: Box, size: tuple[int, int], colour, width: int,
              label: str | None) -> None:
    w, h = size
    xy = (box.x0 * w, box.y0 * h, max(box.x1 * w, box.x0 * w + 1), max(box.y1 * h, box.y0 * h + 1))
    draw.rectangle(xy, outline=colour, width=width)
    if label:
        tx, ty = xy[0] + width + 1, xy[1] + width + 1
        font = ImageFont.load_default(size=13)
        bbox = draw.textbbox((tx, ty), label, font=font)
        draw.rectangle((bbox[0] - 3, bbox[1] - 2, bbox[2] + 3, bbox[3] + 2), fill=colour)
        draw.text((tx, ty), label, fill="white", font=font)


def thumbnail(
    path: Path,
    panels: Sequence[tuple[str, Box]] = (),
    highlights: Sequence[tuple[str, Box]] = (),
    max_side: int = MAX_SIDE,
) -> str:
    """JPEG data URI of `path`; `panels` and `highlights` are (label, normalised box) pairs."""
    img = _open(Path(path))
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(img)
    # Boxes are drawn after downscaling so their lines stay crisp at thumbnail size.
    for label, box in panels:
        _draw_box(draw, box, img.size, PANEL_COLOUR, 2, label)
    for label, box in highlights:
        _draw_box(draw, box, img.size, HIGHLIGHT_COLOUR, 4, label)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")

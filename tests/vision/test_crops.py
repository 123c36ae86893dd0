"""Panel crops: lossless PNG of exactly the boxed pixels (JPEG at quality 95 for a JPEG figure),
the same bytes (and so the same content-addressed name) for the same pixels, written once."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.vision.crops import CropError, crop, png_bytes, save_content_addressed
from schemas import Box


def _colour_image(width: int = 61, height: int = 47, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "CMYK"])
def test_png_round_trips_the_rgb_pixels_exactly(mode: str):
    img = _colour_image().convert(mode)
    decoded = Image.open(io.BytesIO(png_bytes(img)))
    assert decoded.format == "PNG" and decoded.mode == "RGB" and decoded.size == img.size
    # the red and blue channels stay where they were (OpenCV encodes BGR arrays)
    assert np.array_equal(np.asarray(decoded), np.asarray(img.convert("RGB")))


def test_same_pixels_same_bytes_and_one_file(tmp_path: Path):
    img = _colour_image()
    piece = crop(img, Box(x0=10, y0=5, x1=40, y1=30))
    assert piece.size == (30, 25)
    first = save_content_addressed(piece, tmp_path)
    again = save_content_addressed(crop(img.copy(), Box(x0=10, y0=5, x1=40, y1=30)), tmp_path)
    other = save_content_addressed(crop(img, Box(x0=11, y0=5, x1=40, y1=30)), tmp_path)
    assert first == again != other
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({first.name, other.name})
    assert np.array_equal(np.asarray(Image.open(first)), np.asarray(img)[5:30, 10:40])


def test_a_box_outside_the_image_is_refused():
    with pytest.raises(CropError, match="leaves no region"):
        crop(_colour_image(), Box(x0=100, y0=100, x1=120, y1=130))


def _photo(width: int = 96, height: int = 72) -> Image.Image:
    """A smooth photograph-like image (JPEG's kind of content), not noise."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def test_a_jpeg_figure_gives_jpeg_crops_without_chroma_subsampling(tmp_path: Path):
    from PIL import JpegImagePlugin

    img = _photo()
    box = Box(x0=8, y0=4, x1=72, y1=60)
    path = save_content_addressed(crop(img, box), tmp_path, jpeg=True)
    again = save_content_addressed(crop(img.copy(), box), tmp_path, jpeg=True)
    assert path == again and path.suffix == ".jpg" and len(list(tmp_path.iterdir())) == 1
    with Image.open(path) as decoded:
        assert decoded.format == "JPEG" and decoded.size == (64, 56)
        assert JpegImagePlugin.get_sampling(decoded) == 0  # 4:4:4
        error = np.abs(np.asarray(decoded, dtype=int) - np.asarray(img, dtype=int)[4:60, 8:72])
    assert error.mean() < 2.0  # quality 95: close to the figure's pixels, colours not swapped
    # the same pixels as PNG are another file
    assert save_content_addressed(crop(img, box), tmp_path).suffix == ".png"

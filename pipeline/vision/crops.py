"""Panel crops stored by content: <out>/crops/<sha256 of the bytes>.<png|jpg>, written once, atomically.

A crop keeps its figure's kind of coding: lossless PNG from a PNG (or GIF, TIFF...) figure, JPEG
from a JPEG figure, as PMC ships most figures. Re-coding a photograph's pixels as PNG stored them
1.7-3x larger than as JPEG at quality 95 without chroma subsampling (bench figures and the real JATS
figures in ../shared) and took about twice the CPU; the model is sent these bytes as they are.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.io.atomic import atomic_write_bytes
from schemas import Box


class CropError(ValueError):
    """The box does not select a usable region of the image."""


def pixel_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer box clamped to the image; refuses boxes smaller than 2x2 pixels after clamping."""
    x0, y0 = max(0, int(round(box.x0))), max(0, int(round(box.y0)))
    x1, y1 = min(width, int(round(box.x1))), min(height, int(round(box.y1)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise CropError(f"box ({box.x0}, {box.y0}, {box.x1}, {box.y1}) leaves no region in a {width}x{height} image")
    return x0, y0, x1, y1


def crop(img: Image.Image, box: Box) -> Image.Image:
    return img.crop(pixel_box(box, img.width, img.height))


def png_bytes(img: Image.Image) -> bytes:
    """The crop as PNG: no metadata and fixed settings, so the same pixels always give the same
    bytes (and name). Encoded by OpenCV's libpng with one fixed row filter ("up") and zlib level 1:
    Pillow tries every filter on every row, the largest cost of perception's planning. Measured on
    the whole-build bench's crops and on real PMC figures: about 2x less CPU than Pillow at level 1
    for 0-15 % (typically ~3 %) more bytes; perception's planning went from 25-27 to 21 ms of CPU
    per bench figure."""
    import cv2  # installed with rapidocr (ingest's letter reader, which also loads it)

    return _encode(img, ".png", [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP])


JPEG_QUALITY = 95  # with 4:4:4 sampling: thin lines and coloured labels keep their colour edges


def jpeg_bytes(img: Image.Image) -> bytes:
    """The crop as baseline JPEG, quality JPEG_QUALITY, no chroma subsampling, no metadata: fixed
    settings, so the same pixels always give the same bytes (and name)."""
    import cv2

    return _encode(img, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY,
                                 cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])


def _encode(img: Image.Image, ext: str, params: list[int]) -> bytes:
    import cv2

    rgb = np.asarray(img if img.mode == "RGB" else img.convert("RGB"))
    ok, encoded = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)  # OpenCV takes BGR
    if not ok:
        raise CropError(f"OpenCV could not encode a {img.width}x{img.height} crop as {ext[1:].upper()}")
    return encoded.tobytes()


def save_content_addressed(img: Image.Image, crops_dir: Path, jpeg: bool = False) -> Path:
    """Write the image as <crops_dir>/<sha256>.png (or .jpg with `jpeg`, for a crop of a JPEG
    figure) unless that file already exists."""
    data, ext = (jpeg_bytes(img), "jpg") if jpeg else (png_bytes(img), "png")
    path = Path(crops_dir) / f"{hashlib.sha256(data).hexdigest()}.{ext}"
    if not path.exists():
        atomic_write_bytes(path, data)
    return path

"""Measured image facts: numbers computed from pixels, the only honest description of an image
when no vision model is available. Every value is reproducible from the file alone."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from pipeline.vision.layout import describe_layout
from schemas import Box, ImageFacts

# Downscale before measuring: facts describe the whole image, and 512 px keeps them fast and
# comparable between large and small images.
_MEASURE_SIDE = 512
_GRAY_CHROMA = 18  # max-min channel spread (0-255) below which a pixel counts as gray
_GRAY_SHARE = 0.02  # an image is grayscale when fewer than 2% of pixels are chromatic
_EDGE_THRESHOLD = 0.25  # gradient magnitude (0-1 luminance per pixel) of a strong edge

# A small named palette (RGB); dominant clusters are reported by their nearest name.
PALETTE: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "dark gray": (70, 70, 70),
    "gray": (128, 128, 128),
    "light gray": (200, 200, 200),
    "white": (255, 255, 255),
    "red": (210, 40, 40),
    "dark red": (128, 20, 20),
    "pink": (240, 150, 180),
    "orange": (240, 140, 30),
    "brown": (130, 80, 40),
    "yellow": (235, 220, 50),
    "olive": (128, 128, 30),
    "green": (50, 170, 60),
    "dark green": (20, 90, 30),
    "cyan": (40, 200, 210),
    "light blue": (140, 180, 235),
    "blue": (40, 80, 210),
    "dark blue": (20, 30, 110),
    "purple": (130, 50, 160),
    "magenta": (220, 50, 200),
}
_NAMES = list(PALETTE)
_RGB = np.array([PALETTE[n] for n in _NAMES], dtype=np.float32)
_HUES = [i for i, n in enumerate(_NAMES) if n not in ("black", "dark gray", "gray", "light gray", "white")]


def _rgb_array(img: Image.Image) -> np.ndarray:
    img = img.convert("RGB")
    scale = _MEASURE_SIDE / max(img.size)
    if scale < 1:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR)
    return np.asarray(img, dtype=np.float32)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255.0


def _chroma(rgb: np.ndarray) -> np.ndarray:
    """max - min over the three channels; element-wise, because numpy's reduction over a last
    axis of length 3 is several times slower than two maximum/minimum passes (same values)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)


def is_grayscale(rgb: np.ndarray) -> bool:
    chroma = _chroma(rgb)
    return float((chroma > _GRAY_CHROMA).mean()) < _GRAY_SHARE


def _nearest_direct(pixels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Index of the nearest palette colour per pixel (squared RGB distance, first on a tie)."""
    return ((pixels[:, None, :] - palette[None, :, :]) ** 2).sum(-1).argmin(axis=1)


def _nearest(pixels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Same answer as `_nearest_direct`, ~10x cheaper: each distinct colour is looked up once
    (figures hold few), and |p-c|^2 is ranked as |c|^2 - 2 p.c with one matrix product. Pixels
    and palette are whole numbers 0-255, so every term is an integer below 2**24, exact in float32,
    and the ranking, ties included, is the direct one's."""
    if len(pixels) == 0 or not np.array_equal(pixels, np.floor(pixels)):
        return _nearest_direct(pixels, palette)
    ints = pixels.astype(np.int64)
    codes = (ints[:, 0] << 16) | (ints[:, 1] << 8) | ints[:, 2]
    distinct, inverse = np.unique(codes, return_inverse=True)
    colours = np.stack([distinct >> 16, (distinct >> 8) & 255, distinct & 255], axis=1).astype(np.float32)
    pal = palette.astype(np.float32)
    ranks = (pal * pal).sum(axis=1)[None, :] - 2.0 * (colours @ pal.T)
    return ranks.argmin(axis=1)[inverse.reshape(-1)]


def dominant_colours(rgb: np.ndarray, k: int = 3, min_share: float = 0.05, min_hue_share: float = 0.01) -> list[str]:
    """Palette names covering the most pixels (each >= `min_share`), then the main hues among
    chromatic pixels (each >= `min_hue_share` of the image): figures are mostly white background,
    and the hues are what tells a stained slide from a line plot."""
    step = max(1, max(rgb.shape[:2]) // 128)  # colours need far fewer pixels than edges
    pixels = rgb[::step, ::step].reshape(-1, 3)
    total = max(1, len(pixels))
    counts = np.bincount(_nearest(pixels, _RGB), minlength=len(_NAMES)) / total
    order = np.argsort(-counts, kind="stable")
    names = [_NAMES[i] for i in order[:k] if counts[i] >= min_share] or [_NAMES[int(order[0])]]
    chroma = _chroma(pixels)
    chromatic = pixels[chroma > _GRAY_CHROMA]
    if len(chromatic):
        hue_counts = np.bincount(_nearest(chromatic, _RGB[_HUES]), minlength=len(_HUES)) / total
        for i in np.argsort(-hue_counts, kind="stable")[:k]:
            name = _NAMES[_HUES[i]]
            if hue_counts[i] >= min_hue_share and name not in names:
                names.append(name)
    return names


def _gradient(lum: np.ndarray) -> np.ndarray:
    gx = np.zeros_like(lum)
    gy = np.zeros_like(lum)
    gx[:, 1:-1] = (lum[:, 2:] - lum[:, :-2]) / 2
    gy[1:-1, :] = (lum[2:, :] - lum[:-2, :]) / 2
    return np.hypot(gx, gy)


def edge_density(lum: np.ndarray) -> float:
    return float((_gradient(lum) > _EDGE_THRESHOLD / 2).mean())


def text_likeness(lum: np.ndarray, block: int = 8) -> float:
    """Share of 8x8 blocks that look like printed marks: a few dark strokes on a light ground
    with sharp contrast (typical of labels, axis ticks and numbers), scaled so 25% of blocks -> 1."""
    h, w = (lum.shape[0] // block) * block, (lum.shape[1] // block) * block
    if h == 0 or w == 0:
        return 0.0
    tiles = lum[:h, :w].reshape(h // block, block, w // block, block).swapaxes(1, 2).reshape(-1, block * block)
    lo, hi = tiles.min(axis=1), tiles.max(axis=1)
    ink = (tiles < (lo + hi)[:, None] / 2).mean(axis=1)
    textlike = (hi - lo > 0.5) & (ink > 0.05) & (ink < 0.45)
    return float(min(1.0, textlike.mean() / 0.25))


def measure(img: Image.Image, panels: Sequence[Box] = ()) -> ImageFacts:
    """Facts of one image; `panels` are pixel boxes inside it (empty or one box: single panel)."""
    rgb = _rgb_array(img)
    lum = _luminance(rgb)
    width, height = img.size
    return ImageFacts(
        width=width,
        height=height,
        aspect_ratio=round(width / height, 3) if height else 0.0,
        is_grayscale=is_grayscale(rgb),
        dominant_colours=dominant_colours(rgb),
        edge_density=round(edge_density(lum), 4),
        text_likeness=round(text_likeness(lum), 4),
        brightness=round(float(lum.mean()), 4),
        n_panels=max(1, len(panels)),
        layout=describe_layout(panels),
    )


def _level(value: float, cuts: tuple[float, float], words: tuple[str, str, str]) -> str:
    return words[0] if value < cuts[0] else words[1] if value < cuts[1] else words[2]


def fact_lines(facts: ImageFacts) -> list[str]:
    """The facts as short sentences for a text model's prompt (numbers kept, words added)."""
    shape = _level(facts.aspect_ratio, (0.8, 1.25), ("portrait", "about square", "landscape"))
    return [
        f"size {facts.width}x{facts.height} pixels, {shape} (aspect ratio {facts.aspect_ratio})",
        "grayscale image" if facts.is_grayscale else "colour image",
        f"dominant colours: {', '.join(facts.dominant_colours)}",
        f"brightness {facts.brightness:.2f} ({_level(facts.brightness, (0.35, 0.7), ('dark', 'medium', 'light'))})",
        f"edge density {facts.edge_density:.2f} "
        f"({_level(facts.edge_density, (0.03, 0.12), ('smooth', 'moderate detail', 'busy, fine detail'))})",
        f"text-like marks {facts.text_likeness:.2f} "
        f"({_level(facts.text_likeness, (0.15, 0.5), ('few or none', 'some labels', 'many labels or text'))})",
        f"panels: {facts.layout}" + ("" if facts.n_panels == 1 else f" ({facts.n_panels} panels)"),
    ]

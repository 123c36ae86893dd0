"""Images for model calls: content hashes (for cache keys) and downscaled base64 data URLs."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from functools import lru_cache
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from pipeline.ingest.images import to_rgb


class ImageError(Exception):
    """An image named by a request cannot be read; `kind` is an ErrorKind value."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def _stat_key(path: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise ImageError("image-missing", f"image {path} does not exist") from exc
    except OSError as exc:
        raise ImageError("image-missing", f"image {path} cannot be read: {exc}") from exc
    return path, st.st_mtime_ns, st.st_size


@lru_cache(maxsize=8192)
def _sha256(path: str, _mtime: int, _size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def image_sha256(path: str | Path) -> str:
    """Content hash of the file (cache keys use content, never paths); memoised per (path, mtime, size)."""
    return _sha256(*_stat_key(str(path)))


@lru_cache(maxsize=512)
def _data_url(path: str, _mtime: int, _size: int, max_side: int) -> str:
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in ("RGB", "L"):
                img = to_rgb(img)  # 16-bit scaled, alpha on white (plain convert clips and blackens)
            if max(img.size) > max_side:
                img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            img.save(buf, format="PNG", optimize=False)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError("image-corrupt", f"image {path} cannot be decoded: {exc}") from exc
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_data_url(path: str | Path, max_side: int) -> str:
    """PNG data URL, longest side at most max_side (aspect kept); memoised for repeated images."""
    return _data_url(*_stat_key(str(path)), max_side)

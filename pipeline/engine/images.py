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


# Small on purpose: an encoded image is up to a few MB, and requests carry paths so that only the calls
# in flight (one endpoint slot each) hold one; the cache only saves re-encoding an image that several
# requests of the same shard send close together (a figure's QA tasks, the panels of one figure).
@lru_cache(maxsize=32)
def _data_url(path: str, _mtime: int, _size: int, max_side: int) -> str:
    try:
        with Image.open(path) as img:
            kind = SENT_AS_IS.get(img.format or "")
            if kind and img.mode in ("RGB", "L") and max(img.size) <= max_side:
                # already what we would send (these pixels in a format every server decodes): check
                # it decodes, skip re-encoding (most figures and their crops are JPEGs)
                if img.format == "PNG":
                    img.verify()
                else:  # every byte is still decoded (a truncated file fails), at 1/8 scale: 2.7x less CPU
                    img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))
                    img.load()
                return f"data:image/{kind};base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
            fmt = img.format
            img.load()
            if img.mode not in ("RGB", "L"):
                img = to_rgb(img)  # 16-bit scaled, alpha on white (plain convert clips and blackens)
            if max(img.size) > max_side:
                img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            if fmt == "JPEG":  # a photo stays a JPEG: as a PNG it is several times larger and slower
                img.save(buf, format="JPEG", quality=90)
                kind = "jpeg"
            else:  # lossless; level 1 compresses ~5x faster than the default for a few % more bytes
                img.save(buf, format="PNG", compress_level=1)
                kind = "png"
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        # (Pillow's verify() reports a bad chunk checksum as SyntaxError)
        raise ImageError("image-corrupt", f"image {path} cannot be decoded: {exc}") from exc
    return f"data:image/{kind};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


SENT_AS_IS = {"PNG": "png", "JPEG": "jpeg"}  # Pillow format -> data URL subtype


def image_data_url(path: str | Path, max_side: int) -> str:
    """Data URL of the image, longest side at most max_side (aspect kept): a PNG or JPEG that needs no
    change is sent as its own bytes, others are re-encoded (JPEG stays JPEG, the rest become PNG);
    memoised for repeated images."""
    return _data_url(*_stat_key(str(path)), max_side)

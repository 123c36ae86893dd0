"""Safe image loading: size cap before decoding, verify(), then a real decode to RGB.

CMYK, 16-bit, palette, alpha and animated images are normal inputs, not errors: they are
converted to RGB (first frame for animations) and `ImageInfo.converted_from` records the mode.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from pipeline.ingest.errors import IngestError
from schemas.reject import RejectReason

DEFAULT_MAX_PIXELS = 90_000_000


@dataclass
class ImageInfo:
    path: Path
    sha256: str
    width: int
    height: int
    mode: str
    converted_from: str | None  # original mode when it was not RGB already
    frames: int
    image: Image.Image | None  # decoded RGB pixels (None when only the header was read)


def read_size(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int] | None:
    """Header-only size, used to pick the largest rendition of a figure; None if unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                return im.size
    except Exception:  # noqa: BLE001 - any unreadable file simply cannot be the best rendition
        return None


def _open(data: bytes, name: str, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise IngestError(RejectReason.IMAGE_TOO_LARGE, f"{name}: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise IngestError(RejectReason.IMAGE_CORRUPT, f"{name}: not a recognisable image ({exc})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # header truncated or inconsistent
        raise IngestError(RejectReason.IMAGE_CORRUPT, f"{name}: unreadable image header ({exc})") from exc
    w, h = im.size
    if w <= 0 or h <= 0:
        raise IngestError(RejectReason.IMAGE_CORRUPT, f"{name}: image declares size {w}x{h}")
    if w * h > max_pixels:
        raise IngestError(
            RejectReason.IMAGE_TOO_LARGE,
            f"{name}: {w}x{h} = {w * h} pixels exceeds the limit of {max_pixels}",
        )
    return im


def load_image(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, decode: bool = True) -> ImageInfo:
    """Hash, check and decode one image file; raise IngestError with the reject reason on failure."""
    name = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise IngestError(RejectReason.IMAGE_MISSING, f"{name}: file not found") from exc
    except OSError as exc:
        raise IngestError(RejectReason.INPUT_UNREADABLE, f"{name}: cannot read ({exc.strerror or exc})") from exc
    if not data:
        raise IngestError(RejectReason.IMAGE_EMPTY, f"{name}: file is empty (0 bytes)")
    sha = hashlib.sha256(data).hexdigest()
    im = _open(data, name, max_pixels)
    try:
        im.verify()  # structural check (checksums, truncation for PNG) without decoding pixels
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for broken files
        raise IngestError(RejectReason.IMAGE_CORRUPT, f"{name}: failed verification ({exc})") from exc
    im = _open(data, name, max_pixels)  # verify() leaves the object unusable; reopen for the real load
    frames = getattr(im, "n_frames", 1)
    mode = im.mode
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.seek(0)
            im.load()  # a truncated JPEG only fails here
            rgb = im.convert("RGB") if decode else None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise IngestError(RejectReason.IMAGE_TOO_LARGE, f"{name}: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise IngestError(RejectReason.IMAGE_CORRUPT, f"{name}: cannot decode ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - unknown decoder failures are still per-item rejects
        raise IngestError(RejectReason.IMAGE_UNSUPPORTED, f"{name}: cannot convert mode {mode} ({exc})") from exc
    return ImageInfo(
        path=path,
        sha256=sha,
        width=im.size[0],
        height=im.size[1],
        mode=mode,
        converted_from=None if mode == "RGB" else mode,
        frames=frames,
        image=rgb,
    )

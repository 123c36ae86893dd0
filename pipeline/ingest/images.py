"""Safe image loading: size cap before decoding, verify(), then a real decode to RGB.

CMYK, 16-bit, palette, alpha and animated images are normal inputs, not errors: they are
converted to 8-bit RGB by `to_rgb` (first frame for animations) and `ImageInfo.converted_from`
records the mode. `to_rgb` is the one conversion every consumer should use: Pillow's plain
`convert("RGB")` clips 16-bit samples at 255 (a 16-bit grayscale scan turns almost all white) and
turns transparent pixels black.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from pipeline.ingest.errors import IngestError
from schemas.reject import RejectReason

DEFAULT_MAX_PIXELS = 90_000_000
WEB_SAFE = {("JPEG", "RGB"), ("JPEG", "L"), ("PNG", "RGB"), ("PNG", "L")}  # formats/modes every loader reads right
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_BACKGROUND = (255, 255, 255)  # transparent areas of a figure sit on a white page


def _wide_to_l(im: Image.Image) -> Image.Image:
    """16/32-bit or float grayscale -> 8-bit, scaled by the sample range (never clipped)."""
    arr = np.asarray(im, dtype=np.float64)
    if im.mode.startswith("I;16"):
        low, high = 0.0, 65535.0
    elif im.mode == "F" and arr.size and arr.min() >= 0.0 and arr.max() <= 1.0:
        low, high = 0.0, 1.0
    elif im.mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        low, high = 0.0, 65535.0 if arr.max() > 255 else 255.0
    else:  # signed or unknown range: stretch what is there
        low, high = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
    scale = 255.0 / (high - low) if high > low else 0.0
    return Image.fromarray(np.clip(np.rint((arr - low) * scale), 0, 255).astype(np.uint8), "L")


def _flatten(im: Image.Image) -> Image.Image:
    """Composite an image with alpha onto white."""
    rgba = im.convert("RGBA")
    base = Image.new("RGB", rgba.size, _BACKGROUND)
    base.paste(rgba, mask=rgba.getchannel("A"))
    return base


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow image -> 8-bit RGB: wide grayscale scaled, alpha and palette transparency
    composited on white, CMYK through its embedded ICC profile when it has one."""
    mode = im.mode
    if mode == "RGB":
        im.load()  # the result must outlive the file it was opened from, like convert()'s copy
        return im
    if mode in _WIDE_MODES:
        return _wide_to_l(im).convert("RGB")
    if mode in ("RGBA", "LA", "La", "RGBa", "PA") or (mode == "P" and "transparency" in im.info):
        return _flatten(im)
    if mode == "CMYK" and im.info.get("icc_profile"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
            return ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: fall back to the plain conversion below
    return im.convert("RGB")


def web_image_bytes(path: Path) -> tuple[bytes, str, int, int]:
    """(bytes, extension, width, height) of an image every tool decodes the same: the file itself when
    it is 8-bit RGB/grayscale JPEG or PNG, else its `to_rgb` conversion as PNG."""
    data = Path(path).read_bytes()
    with Image.open(io.BytesIO(data)) as im:
        if (im.format, im.mode) in WEB_SAFE and getattr(im, "n_frames", 1) == 1:
            return data, "jpg" if im.format == "JPEG" else "png", im.size[0], im.size[1]
        im.seek(0)
        im.load()
        rgb = to_rgb(im)
    buf = io.BytesIO()
    rgb.save(buf, format="PNG")
    return buf.getvalue(), "png", rgb.size[0], rgb.size[1]


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
            rgb = to_rgb(im) if decode else None
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

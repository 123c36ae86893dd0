"""Image data URLs: a PNG or JPEG that needs no change is sent as its own bytes; others are re-encoded."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from pipeline.engine.images import ImageError, image_data_url


def _payload(url: str, kind: str = "png") -> bytes:
    assert url.startswith(f"data:image/{kind};base64,")
    return base64.b64decode(url.split(",", 1)[1])


def test_small_png_and_jpeg_are_sent_as_is_and_others_are_reencoded(tmp_path):
    small, photo = tmp_path / "crop.png", tmp_path / "fig.jpg"
    Image.new("RGB", (120, 80), (10, 200, 30)).save(small)
    Image.new("RGB", (100, 100), "blue").save(photo)
    assert _payload(image_data_url(small, 256)) == small.read_bytes()
    assert _payload(image_data_url(photo, 256), "jpeg") == photo.read_bytes()

    big, big_photo, rgba, tiff = (tmp_path / n for n in ("big.png", "big.jpg", "alpha.png", "scan.tif"))
    Image.new("RGB", (600, 300), "red").save(big)
    Image.new("RGB", (300, 600), "red").save(big_photo)
    Image.new("RGBA", (50, 50), (1, 2, 3, 128)).save(rgba)
    Image.new("RGB", (40, 30), "green").save(tiff)
    for path, size, kind in ((big, (256, 128), "png"), (big_photo, (128, 256), "jpeg"), (rgba, (50, 50), "png"),
                             (tiff, (40, 30), "png")):
        decoded = Image.open(io.BytesIO(_payload(image_data_url(path, 256), kind)))
        assert decoded.size == size and decoded.mode == "RGB" and decoded.format == kind.upper()


def test_a_truncated_jpeg_is_an_image_error(tmp_path):
    photo = tmp_path / "cut.jpg"
    Image.effect_noise((64, 64), 40).convert("RGB").save(photo)
    photo.write_bytes(photo.read_bytes()[:300])
    with pytest.raises(ImageError) as info:
        image_data_url(photo, 256)
    assert info.value.kind == "image-corrupt"


def test_a_broken_png_is_still_an_image_error(tmp_path):
    good = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(good, format="PNG")
    broken = tmp_path / "broken.png"
    data = bytearray(good.getvalue())
    data[60] ^= 0xFF  # inside the image data: the chunk checksum no longer matches
    broken.write_bytes(bytes(data))
    with pytest.raises(ImageError) as info:
        image_data_url(broken, 256)
    assert info.value.kind == "image-corrupt"

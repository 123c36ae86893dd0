"""Image data URLs: a PNG that needs no change is sent as its own bytes; others are re-encoded."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from pipeline.engine.images import ImageError, image_data_url


def _payload(url: str) -> bytes:
    assert url.startswith("data:image/png;base64,")
    return base64.b64decode(url.split(",", 1)[1])


def test_small_png_is_sent_as_is_and_others_are_reencoded(tmp_path):
    small = tmp_path / "crop.png"
    Image.new("RGB", (120, 80), (10, 200, 30)).save(small)
    assert _payload(image_data_url(small, 256)) == small.read_bytes()

    big, jpeg, rgba = tmp_path / "big.png", tmp_path / "fig.jpg", tmp_path / "alpha.png"
    Image.new("RGB", (600, 300), "red").save(big)
    Image.new("RGB", (100, 100), "blue").save(jpeg)
    Image.new("RGBA", (50, 50), (1, 2, 3, 128)).save(rgba)
    for path, size, mode in ((big, (256, 128), "RGB"), (jpeg, (100, 100), "RGB"), (rgba, (50, 50), "RGB")):
        decoded = Image.open(io.BytesIO(_payload(image_data_url(path, 256))))
        assert decoded.size == size and decoded.mode == mode and decoded.format == "PNG"


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

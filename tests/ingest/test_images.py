"""Image normalisation: every odd mode becomes correct 8-bit RGB (scaled, not clipped), in ingest and
in the InternVL export. Images are generated here in each real file format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.exports.internvl import ImageStore
from pipeline.ingest.images import load_image, to_rgb, web_image_bytes


def gradient16(path: Path) -> Path:
    """A 16-bit grayscale TIFF whose samples run 0..65535 left to right (mean about 32768)."""
    arr = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (64, 1))
    Image.fromarray(arr).save(path)  # uint16 -> mode I;16
    return path


def test_16bit_tiff_is_scaled_not_clipped(tmp_path: Path):
    path = gradient16(tmp_path / "scan.tif")
    with Image.open(path) as im:
        assert im.mode.startswith("I;16")
    info = load_image(path)
    arr = np.asarray(info.image)
    assert info.converted_from.startswith("I;16")
    white = (arr == 255).all(axis=2).mean()
    assert white < 0.02, f"{white:.1%} white: samples were clipped"
    assert 120 < arr.mean() < 135  # mid-grey on average, like the 16-bit data
    assert arr[:, 0].max() == 0 and arr[:, -1].min() == 255


def test_16bit_png_and_float(tmp_path: Path):
    arr = np.full((10, 10), 40000, np.uint16)
    Image.fromarray(arr).save(tmp_path / "a.png")  # Pillow opens 16-bit PNG as I or I;16
    with Image.open(tmp_path / "a.png") as im:
        assert np.asarray(to_rgb(im))[0, 0, 0] == round(40000 * 255 / 65535)
    f = Image.fromarray(np.full((4, 4), 0.5, np.float32), "F")
    assert np.asarray(to_rgb(f))[0, 0, 0] == 128


def test_palette_with_transparency_becomes_white(tmp_path: Path):
    im = Image.new("P", (8, 8), 0)
    im.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    im.paste(1, (0, 0, 4, 8))
    im.info["transparency"] = 0
    im.save(tmp_path / "p.gif", transparency=0)
    info = load_image(tmp_path / "p.gif")
    arr = np.asarray(info.image)
    assert tuple(arr[0, 0]) == (200, 30, 30)
    assert tuple(arr[0, 7]) == (255, 255, 255)  # transparent index -> page white, not black


def test_alpha_composited_on_white(tmp_path: Path):
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[:, :3] = (10, 200, 10, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    arr = np.asarray(load_image(tmp_path / "a.png").image)
    assert tuple(arr[0, 0]) == (10, 200, 10) and tuple(arr[0, 5]) == (255, 255, 255)
    la = Image.fromarray(np.dstack([np.full((4, 4), 50, np.uint8), np.zeros((4, 4), np.uint8)]), "LA")
    assert tuple(np.asarray(to_rgb(la))[0, 0]) == (255, 255, 255)


def test_cmyk_jpeg(tmp_path: Path):
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in ink
    cmyk.save(tmp_path / "c.jpg", quality=95)
    arr = np.asarray(load_image(tmp_path / "c.jpg").image).astype(int)
    r, g, b = arr[8, 8]
    assert r > 200 and g < 60 and b < 60


@pytest.mark.parametrize("name,make", [
    ("scan.tif", gradient16),
    ("ok.jpg", lambda p: Image.new("RGB", (5, 5), (1, 2, 3)).save(p) or p),
])
def test_export_store_writes_8bit_rgb(tmp_path: Path, name, make):
    src = make(tmp_path / name)
    store = ImageStore(tmp_path / "export")
    rel, w, h = store.add(str(src))
    with Image.open(tmp_path / "export" / rel) as out:
        assert out.mode in ("RGB", "L") and out.format in ("PNG", "JPEG")
        assert (w, h) == out.size
        if name.endswith(".tif"):
            assert rel.endswith(".png") and (np.asarray(out.convert("RGB")) == 255).all(axis=2).mean() < 0.02
        else:  # already web-safe: copied byte for byte
            assert (tmp_path / "export" / rel).read_bytes() == src.read_bytes()


def test_web_image_bytes_keeps_first_frame_of_animation(tmp_path: Path):
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    data, ext, w, h = web_image_bytes(tmp_path / "anim.gif")
    assert ext == "png" and (w, h) == (4, 4)


def test_model_input_and_crop_source_use_the_same_conversion(tmp_path: Path):
    """The engine's data URL (what a vision model sees) of a 16-bit TIFF is grey, not white."""
    import base64
    import io

    from pipeline.engine.images import image_data_url

    path = gradient16(tmp_path / "scan.tif")
    url = image_data_url(path, 512)
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as im:
        arr = np.asarray(im.convert("RGB"))
    assert (arr == 255).all(axis=2).mean() < 0.02 and 120 < arr.mean() < 135


def test_rgb_result_outlives_its_file(tmp_path: Path):
    Image.new("RGB", (6, 6), (9, 8, 7)).save(tmp_path / "a.png")
    with Image.open(tmp_path / "a.png") as opened:
        img = to_rgb(opened)
    assert img.getpixel((0, 0)) == (9, 8, 7)


def test_report_thumbs_and_training_see_scaled_16bit(tmp_path: Path):
    """The report's thumbnails and the trainer's image loader use the same conversion as ingest."""
    from pipeline.report.thumbs import _open
    from pipeline.train.collate import open_images
    from pipeline.train.data import Sample

    path = gradient16(tmp_path / "scan.tif")
    thumb = np.asarray(_open(path))
    assert 120 < thumb.mean() < 135, "report thumbnail clipped the 16-bit samples"
    sample = Sample(id="s1", task="text_qa", images=[path], turns=[("human", "<image>\nWhat?"), ("gpt", "A scan.")])
    trained = np.asarray(open_images(sample)[0])
    assert 120 < trained.mean() < 135, "training loader clipped the 16-bit samples"
